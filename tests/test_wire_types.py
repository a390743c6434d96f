"""Tests for mcproxy.wire.types: VarInt, VarLong, strings, UUIDs and the Reader."""

from __future__ import annotations

import uuid

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.types import (
    Incomplete, Reader, WireError, decode_varint, decode_varlong, encode_string, encode_uuid,
    encode_varint, encode_varlong, varint_size,
)

BOUNDED = settings(max_examples=200, deadline=None)
INT32 = st.integers(-(1 << 31), (1 << 31) - 1)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


class VarIntTests(SynchronousTestCase):
    @BOUNDED
    @given(INT32)
    def test_round_trip(self, value: int) -> None:
        """Every 32-bit integer decodes back from its encoding, consuming all of it."""
        raw = encode_varint(value)
        self.assertEqual(len(raw), varint_size(value))
        self.assertEqual(decode_varint(raw), (value, len(raw)))

    def test_known_encodings(self) -> None:
        """Encodings match the protocol documentation's examples."""
        for value, raw in [(0, "00"), (127, "7f"), (128, "8001"), (25565, "ddc701"),
                           (2147483647, "ffffffff07"), (-1, "ffffffff0f"),
                           (-2147483648, "8080808008")]:
            self.assertEqual(encode_varint(value).hex(), raw)
            self.assertEqual(decode_varint(bytes.fromhex(raw))[0], value)

    @BOUNDED
    @given(INT32, st.data())
    def test_truncated_is_incomplete(self, value: int, data: st.DataObject) -> None:
        """A VarInt cut anywhere asks for more bytes rather than failing."""
        raw = encode_varint(value)
        cut = data.draw(st.integers(0, len(raw) - 1))
        self.assertRaises(Incomplete, decode_varint, raw[:cut])

    def test_too_long(self) -> None:
        """Six continuation bytes, or bits past 32, are refused with VARINT_TOO_LONG."""
        for raw in ["808080808000", "ffffffff1f"]:
            e = self.assertRaises(WireError, decode_varint, bytes.fromhex(raw))
            self.assertEqual(e.reason, "VARINT_TOO_LONG")

    def test_out_of_range_encode(self) -> None:
        """Encoding a value past 32 bits is refused with VARINT_RANGE."""
        e = self.assertRaises(WireError, encode_varint, 1 << 31)
        self.assertEqual(e.reason, "VARINT_RANGE")

    @BOUNDED
    @given(st.binary(max_size=12))
    def test_random_input(self, raw: bytes) -> None:
        """Arbitrary bytes decode, ask for more, or are refused with a reason."""
        try:
            value, end = decode_varint(raw)
        except Incomplete:
            return
        except WireError as e:
            self.assertEqual(e.reason, "VARINT_TOO_LONG")
            return
        self.assertTrue(-(1 << 31) <= value < (1 << 31))
        self.assertLessEqual(end, 5)


class VarLongTests(SynchronousTestCase):
    @BOUNDED
    @given(INT64)
    def test_round_trip(self, value: int) -> None:
        """Every 64-bit integer decodes back from its encoding."""
        raw = encode_varlong(value)
        self.assertEqual(decode_varlong(raw), (value, len(raw)))

    @BOUNDED
    @given(st.binary(max_size=14))
    def test_random_input(self, raw: bytes) -> None:
        """Arbitrary bytes decode, ask for more, or are refused with VARLONG_TOO_LONG."""
        try:
            value, end = decode_varlong(raw)
        except Incomplete:
            return
        except WireError as e:
            self.assertEqual(e.reason, "VARLONG_TOO_LONG")
            return
        self.assertTrue(-(1 << 63) <= value < (1 << 63))
        self.assertLessEqual(end, 10)


class StringTests(SynchronousTestCase):
    @BOUNDED
    @given(st.text(max_size=300))
    def test_round_trip(self, text: str) -> None:
        """Any text within the limit reads back unchanged."""
        reader = Reader(encode_string(text))
        self.assertEqual(reader.string(), text)
        reader.expect_end()

    def test_limit_counts_utf16_units(self) -> None:
        """Characters past U+FFFF count as two units, as in Java, on both sides.

        Two emoji are 4 UTF-16 units in 8 bytes: within 3 bytes per unit for a limit of 3,
        so only the unit count can refuse them.
        """
        raw = encode_string("\U0001F600\U0001F600", max_chars=4)
        e = self.assertRaises(WireError, Reader(raw).string, 3)
        self.assertEqual(e.reason, "STRING_TOO_LONG")
        e = self.assertRaises(WireError, encode_string, "\U0001F600\U0001F600", 3)
        self.assertEqual(e.reason, "STRING_TOO_LONG")

    def test_lone_surrogate_encode(self) -> None:
        """A string that cannot be UTF-8 is refused with BAD_UTF8, not UnicodeEncodeError."""
        e = self.assertRaises(WireError, encode_string, "\ud800")
        self.assertEqual(e.reason, "BAD_UTF8")

    def test_oversized_declared_length(self) -> None:
        """A declared byte length over 3 bytes per allowed unit is refused before reading."""
        e = self.assertRaises(WireError, Reader(encode_varint(100) + b"a" * 100).string, 16)
        self.assertEqual(e.reason, "STRING_TOO_LONG")

    @BOUNDED
    @given(st.text(max_size=50), st.data())
    def test_truncated(self, text: str, data: st.DataObject) -> None:
        """A string cut short inside a packet is TRUNCATED."""
        raw = encode_string(text)
        cut = data.draw(st.integers(0, len(raw) - 1))
        e = self.assertRaises(WireError, Reader(raw[:cut]).string)
        self.assertEqual(e.reason, "TRUNCATED")

    @BOUNDED
    @given(st.binary(max_size=64))
    def test_random_input(self, raw: bytes) -> None:
        """Arbitrary bytes read as a string or are refused with a WireError reason."""
        try:
            Reader(raw).string(20)
        except WireError as e:
            self.assertIn(e.reason, {"TRUNCATED", "STRING_TOO_LONG", "BAD_UTF8",
                                     "VARINT_TOO_LONG"})


class ReaderTests(SynchronousTestCase):
    @BOUNDED
    @given(st.uuids(), INT64, st.booleans(), st.binary(max_size=40))
    def test_fields_round_trip(self, value: uuid.UUID, number: int, flag: bool,
                               blob: bytes) -> None:
        """A sequence of fields reads back in order, and the reader ends exactly at the end."""
        raw = (encode_uuid(value) + encode_varlong(number) + (b"\x01" if flag else b"\x00")
               + encode_varint(len(blob)) + blob)
        reader = Reader(raw)
        self.assertEqual(reader.uuid(), value)
        self.assertEqual(reader.varlong(), number)
        self.assertEqual(reader.bool(), flag)
        self.assertEqual(reader.byte_array(64), blob)
        reader.expect_end()

    def test_trailing_bytes(self) -> None:
        """Bytes left after the last field are TRAILING_BYTES."""
        reader = Reader(b"\x01\x02")
        reader.ubyte()
        e = self.assertRaises(WireError, reader.expect_end)
        self.assertEqual(e.reason, "TRAILING_BYTES")

    def test_bad_boolean(self) -> None:
        """A boolean byte other than 0 or 1 is BAD_BOOLEAN."""
        e = self.assertRaises(WireError, Reader(b"\x02").bool)
        self.assertEqual(e.reason, "BAD_BOOLEAN")

    def test_array_limit(self) -> None:
        """A byte array declared longer than its limit is refused before it is read."""
        e = self.assertRaises(WireError, Reader(encode_varint(1000)).byte_array, 10)
        self.assertEqual(e.reason, "ARRAY_TOO_LONG")
