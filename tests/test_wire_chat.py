"""Tests for mcproxy.wire.nbt and mcproxy.wire.chat."""

from __future__ import annotations

import struct

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.chat import (
    component_to_json, component_to_nbt, json_to_component, nbt_to_component, plain_text,
    text_to_json, text_to_nbt,
)
from mcproxy.wire.nbt import (
    decode_mutf8, decode_network_nbt, encode_mutf8, encode_network_nbt,
)
from mcproxy.wire.types import WireError

BOUNDED = settings(max_examples=200, deadline=None)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALARS = (TEXT | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1)
           | st.floats(allow_nan=False) | st.binary(max_size=20))


def _uniform(items: list) -> bool:
    kinds = {bool if isinstance(i, bool) else int if isinstance(i, int) and -(1 << 31) <= i
             < (1 << 31) else "long" if isinstance(i, int) else type(i) for i in items}
    return len(kinds) <= 1


NBT_VALUES = st.recursive(
    SCALARS,
    lambda children: (st.lists(children, max_size=4).filter(_uniform)
                      | st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=20,
)
NBT_ERRORS = {"TRUNCATED", "NBT_TOO_LARGE", "NBT_TOO_DEEP", "BAD_NBT_TAG", "BAD_MUTF8",
              "NEGATIVE_LENGTH"}


class MutfTests(SynchronousTestCase):
    @BOUNDED
    @given(TEXT)
    def test_round_trip(self, text: str) -> None:
        """Any text survives modified UTF-8."""
        self.assertEqual(decode_mutf8(encode_mutf8(text)), text)

    def test_java_specifics(self) -> None:
        """NUL is C0 80 and characters past U+FFFF are two 3-byte surrogates, as in Java."""
        self.assertEqual(encode_mutf8("\0"), b"\xc0\x80")
        self.assertEqual(encode_mutf8("\U0001F600"), b"\xed\xa0\xbd\xed\xb8\x80")

    def test_plain_utf8_accepted(self) -> None:
        """Four-byte UTF-8, as prismarine-nbt writes it, decodes to the same character."""
        self.assertEqual(decode_mutf8("\U0001F600".encode("utf-8")), "\U0001F600")


class NbtTests(SynchronousTestCase):
    @BOUNDED
    @given(NBT_VALUES)
    def test_round_trip(self, value: object) -> None:
        """Every encodable value decodes back equal (booleans come back as 0 or 1)."""
        raw = encode_network_nbt(value)
        self.assertEqual(decode_network_nbt(raw), (value, len(raw)))

    def test_known_bytes(self) -> None:
        """A nameless root compound: type byte, no name, entries, end tag."""
        self.assertEqual(encode_network_nbt({"text": "hi"}).hex(),
                         "0a" "08" "0004" "74657874" "0002" "6869" "00")
        self.assertEqual(encode_network_nbt("hi").hex(), "08" "0002" "6869")

    def test_end_root_is_none(self) -> None:
        """A root TAG_End means no NBT."""
        self.assertEqual(decode_network_nbt(b"\x00"), (None, 1))

    def test_depth_limit(self) -> None:
        """Nesting past max_depth is NBT_TOO_DEEP, checked before recursing further."""
        raw = b"\x09" + (b"\x09\x00\x00\x00\x01") * 600 + b"\x00\x00\x00\x00\x00"
        e = self.assertRaises(WireError, decode_network_nbt, raw)
        self.assertEqual(e.reason, "NBT_TOO_DEEP")
        deep = b"\x0a" + b"\x0a\x00\x00" * 20 + b"\x00" * 21
        e = self.assertRaises(WireError, decode_network_nbt, deep, 0, 10)
        self.assertEqual(e.reason, "NBT_TOO_DEEP")

    def test_huge_list_not_allocated(self) -> None:
        """A list claiming two billion ints fails on length, not by allocating."""
        raw = b"\x09\x03" + struct.pack(">i", 0x7FFFFFFF)
        e = self.assertRaises(WireError, decode_network_nbt, raw)
        self.assertEqual(e.reason, "TRUNCATED")
        raw = b"\x0b" + struct.pack(">i", 0x7FFFFFFF)
        e = self.assertRaises(WireError, decode_network_nbt, raw)
        self.assertEqual(e.reason, "TRUNCATED")

    def test_size_limit(self) -> None:
        """NBT longer than max_size is NBT_TOO_LARGE."""
        raw = encode_network_nbt("x" * 100)
        e = self.assertRaises(WireError, decode_network_nbt, raw, 0, 512, 50)
        self.assertEqual(e.reason, "NBT_TOO_LARGE")

    def test_list_of_end_tags(self) -> None:
        """A non-empty list of TAG_End is malformed."""
        e = self.assertRaises(WireError, decode_network_nbt, b"\x09\x00\x00\x00\x00\x05")
        self.assertEqual(e.reason, "BAD_NBT_TAG")

    @BOUNDED
    @given(NBT_VALUES, st.data())
    def test_truncated(self, value: object, data: st.DataObject) -> None:
        """NBT cut anywhere is refused with a reason."""
        raw = encode_network_nbt(value)
        cut = data.draw(st.integers(0, len(raw) - 1))
        e = self.assertRaises(WireError, decode_network_nbt, raw[:cut])
        self.assertIn(e.reason, NBT_ERRORS)

    @BOUNDED
    @given(st.binary(max_size=200))
    def test_random_input(self, raw: bytes) -> None:
        """Random bytes decode or are refused with a WireError reason."""
        try:
            decode_network_nbt(raw, 0, 16, 150)
        except WireError as e:
            self.assertIn(e.reason, NBT_ERRORS)


COMPONENTS = st.recursive(
    st.builds(lambda t: {"text": t}, TEXT),
    lambda children: st.builds(
        lambda t, bold, extra: {"text": t, "bold": bold, "extra": extra},
        TEXT, st.booleans(), st.lists(children, min_size=1, max_size=3)),
    max_leaves=8,
)


class ChatTests(SynchronousTestCase):
    @BOUNDED
    @given(TEXT)
    def test_text_round_trip(self, text: str) -> None:
        """Plain text reads back from both the JSON and the NBT form."""
        self.assertEqual(json_to_component(text_to_json(text)), {"text": text})
        raw = text_to_nbt(text)
        self.assertEqual(nbt_to_component(raw), ({"text": text}, len(raw)))

    @BOUNDED
    @given(COMPONENTS)
    def test_component_round_trip(self, component: dict) -> None:
        """Nested components survive both encodings, keeping their plain text."""
        self.assertEqual(json_to_component(component_to_json(component)), component)
        decoded, _ = nbt_to_component(component_to_nbt(component))
        self.assertEqual(decoded, component)
        self.assertEqual(plain_text(decoded), plain_text(component))

    def test_mixed_list_wrapped(self) -> None:
        """Plain strings beside compounds in a list become text compounds, as in vanilla."""
        raw = component_to_nbt({"text": "a", "extra": ["b", {"text": "c"}]})
        decoded, _ = nbt_to_component(raw)
        self.assertEqual(decoded["extra"], [{"text": "b"}, {"text": "c"}])
        self.assertEqual(plain_text(decoded), "abc")

    def test_bad_json(self) -> None:
        """JSON that is not a component is BAD_CHAT."""
        for text in ["{", "42", "null", "[]"]:
            e = self.assertRaises(WireError, json_to_component, text)
            self.assertEqual(e.reason, "BAD_CHAT")

    @BOUNDED
    @given(st.text(max_size=60))
    def test_random_json(self, text: str) -> None:
        """Any string parses to a component or is refused with a WireError reason."""
        try:
            component = json_to_component(text)
        except WireError as e:
            self.assertEqual(e.reason, "BAD_CHAT")
            return
        self.assertIsInstance(plain_text(component), str)

    def test_json_array(self) -> None:
        """A top-level JSON array is the first component with the rest as extra."""
        component = json_to_component('["a", {"text": "b"}]')
        self.assertEqual(plain_text(component), "ab")
        component = json_to_component('[{"text": "a", "extra": 5}, "b"]')
        self.assertEqual(plain_text(component), "ab")

    def test_nbt_not_component(self) -> None:
        """NBT that is neither compound nor string is BAD_CHAT."""
        e = self.assertRaises(WireError, nbt_to_component, encode_network_nbt(5))
        self.assertEqual(e.reason, "BAD_CHAT")
