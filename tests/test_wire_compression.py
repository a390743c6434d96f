"""Tests for mcproxy.wire.compression: the compressed frame body format."""

from __future__ import annotations

import zlib

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.compression import compress_packet, decompress_packet, frame_packet, peek_packet_id
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.types import WireError, encode_varint

BOUNDED = settings(max_examples=200, deadline=None)
PAYLOADS = st.binary(min_size=1, max_size=2000)
THRESHOLDS = st.sampled_from([0, 1, 64, 256, 1024])


def body(declared: int, data: bytes) -> bytes:
    return encode_varint(declared) + data


class CompressionTests(SynchronousTestCase):
    @BOUNDED
    @given(PAYLOADS, THRESHOLDS, st.integers(-1, 9))
    def test_round_trip(self, payload: bytes, threshold: int, level: int) -> None:
        """Any packet survives compression at any threshold and level."""
        framed = compress_packet(payload, threshold, level)
        self.assertEqual(decompress_packet(framed, threshold), payload)

    def test_buffer_types(self) -> None:
        """Bodies may be bytes, bytearray or memoryview slices of a read buffer."""
        framed = compress_packet(b"\x07" + b"y" * 500, 256)
        for view in (bytearray(framed), memoryview(b"pad" + framed)[3:]):
            self.assertEqual(decompress_packet(view, 256), b"\x07" + b"y" * 500)
            self.assertEqual(peek_packet_id(view, True), 7)

    def test_empty_payload(self) -> None:
        """An empty payload round-trips even at threshold 0, where data length 0 is plain."""
        self.assertEqual(decompress_packet(compress_packet(b"", 0), 0), b"")

    def test_below_threshold_sent_plain(self) -> None:
        """Packets under the threshold go uncompressed with data length 0."""
        self.assertEqual(compress_packet(b"\x01abc", 256), b"\x00\x01abc")

    def test_declared_size_checked_before_inflating(self) -> None:
        """A declared size over max_size is refused without touching the zlib data."""
        e = self.assertRaises(WireError, decompress_packet, body(9 * 1024 * 1024, b"junk"), 256)
        self.assertEqual(e.reason, "DECOMPRESSED_TOO_LARGE")

    def test_bomb_is_capped(self) -> None:
        """A stream inflating past its declared size is refused as SIZE_MISMATCH."""
        bomb = zlib.compress(b"\0" * (4 * 1024 * 1024))
        e = self.assertRaises(WireError, decompress_packet, body(1000, bomb), 256)
        self.assertEqual(e.reason, "SIZE_MISMATCH")

    def test_below_threshold_refused(self) -> None:
        """A compressed packet declared smaller than the threshold is BELOW_THRESHOLD."""
        e = self.assertRaises(WireError, decompress_packet,
                              body(10, zlib.compress(b"x" * 10)), 256)
        self.assertEqual(e.reason, "BELOW_THRESHOLD")

    def test_short_stream(self) -> None:
        """A stream inflating to less than declared is SIZE_MISMATCH."""
        e = self.assertRaises(WireError, decompress_packet, body(300, zlib.compress(b"x" * 299)),
                              256)
        self.assertEqual(e.reason, "SIZE_MISMATCH")

    def test_corrupt_zlib(self) -> None:
        """Bytes that are not zlib are BAD_ZLIB."""
        e = self.assertRaises(WireError, decompress_packet, body(300, b"not zlib at all"), 256)
        self.assertEqual(e.reason, "BAD_ZLIB")

    def test_trailing_bytes(self) -> None:
        """Bytes after the end of the zlib stream are TRAILING_BYTES."""
        data = zlib.compress(b"x" * 300) + b"extra"
        e = self.assertRaises(WireError, decompress_packet, body(300, data), 256)
        self.assertEqual(e.reason, "TRAILING_BYTES")

    @BOUNDED
    @given(PAYLOADS.filter(lambda p: len(p) >= 64), st.data())
    def test_truncated(self, payload: bytes, data: st.DataObject) -> None:
        """A compressed body cut anywhere is refused with a reason, never another error."""
        framed = compress_packet(payload, 64)
        cut = data.draw(st.integers(0, len(framed) - 1))
        e = self.assertRaises(WireError, decompress_packet, framed[:cut], 64)
        self.assertIn(e.reason, {"TRUNCATED", "BAD_ZLIB", "SIZE_MISMATCH"})

    @BOUNDED
    @given(st.binary(max_size=200), THRESHOLDS)
    def test_random_input(self, raw: bytes, threshold: int) -> None:
        """Random bodies decode or are refused with a WireError reason."""
        try:
            decompress_packet(raw, threshold, max_size=4096)
        except WireError as e:
            self.assertIn(e.reason, {"TRUNCATED", "NEGATIVE_LENGTH", "VARINT_TOO_LONG",
                                     "DECOMPRESSED_TOO_LARGE", "BELOW_THRESHOLD", "BAD_ZLIB",
                                     "SIZE_MISMATCH", "TRAILING_BYTES"})


class PeekPacketIdTests(SynchronousTestCase):
    @BOUNDED
    @given(st.integers(0, (1 << 31) - 1), st.binary(max_size=2000), THRESHOLDS)
    def test_peek_matches_payload(self, packet_id: int, fields: bytes, threshold: int) -> None:
        """The peeked id is the payload's first VarInt, compressed or not."""
        payload = encode_varint(packet_id) + fields
        self.assertEqual(peek_packet_id(compress_packet(payload, threshold), True), packet_id)
        self.assertEqual(peek_packet_id(payload, False), packet_id)

    def test_peek_does_not_inflate_everything(self) -> None:
        """Peeking a huge declared packet inflates only its first bytes."""
        framed = body(1 << 30, zlib.compress(b"\x05" + b"\0" * (1 << 22)))
        self.assertEqual(peek_packet_id(framed, True), 5)

    @BOUNDED
    @given(st.binary(max_size=100), st.booleans())
    def test_random_input(self, raw: bytes, compressed: bool) -> None:
        """Random bodies give an id or a WireError reason."""
        try:
            peek_packet_id(raw, compressed)
        except WireError as e:
            self.assertIn(e.reason, {"TRUNCATED", "NEGATIVE_LENGTH", "VARINT_TOO_LONG",
                                     "BAD_ZLIB"})


class FramePacketTests(SynchronousTestCase):
    def test_frame_packet_in_both_modes(self) -> None:
        """frame_packet writes a plain frame with compression off and the compressed
        format with it on; both decode back to the payload."""
        payload = b"\x07" + b"z" * 300
        self.assertEqual(frame_packet(payload, -1), encode_frame(payload))
        for threshold in (0, 64, 1024):
            body = FrameDecoder().frames(frame_packet(payload, threshold))[0]
            self.assertEqual(decompress_packet(body, threshold), payload)
