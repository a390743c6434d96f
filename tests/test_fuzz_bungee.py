"""Property tests of the BungeeCord channel's codec: round trips, and refusals only by WireError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import bungee
from mcproxy.wire.types import WireError
from tests.fuzzing import fuzz

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


def java_write_utf(text: str) -> bytes:
    """DataOutputStream.writeUTF, unit by UTF-16 unit, as the oracle for the codec's fast paths."""
    units = text.encode("utf-16-be")
    out = bytearray()
    for i in range(0, len(units), 2):
        c = int.from_bytes(units[i:i + 2], "big")
        if 1 <= c <= 0x7F:
            out.append(c)
        elif c <= 0x7FF:
            out += bytes((0xC0 | c >> 6, 0x80 | c & 0x3F))
        else:
            out += bytes((0xE0 | c >> 12, 0x80 | c >> 6 & 0x3F, 0x80 | c & 0x3F))
    return len(out).to_bytes(2, "big") + bytes(out)


class BungeeCodecFuzzTests(SynchronousTestCase):
    @fuzz()
    @given(_TEXT)
    def test_utf_round_trip(self, text: str) -> None:
        raw = bungee.encode_utf(text)
        self.assertEqual(raw, java_write_utf(text))
        self.assertEqual(int.from_bytes(raw[:2], "big"), len(raw) - 2)
        self.assertNotIn(b"\x00", raw[2:])
        self.assertEqual(bungee.decode_modified_utf8(raw[2:]), text)

    @fuzz()
    @given(st.sampled_from(sorted(bungee.SUBCHANNELS)), st.lists(_TEXT, min_size=3, max_size=3), st.binary(max_size=300))
    def test_request_round_trip(self, subchannel: str, texts: list, data: bytes) -> None:
        shape = bungee.SUBCHANNELS[subchannel]
        strings = texts[:shape.count("utf")]
        payload = bungee.encode_utf(subchannel) + b"".join(bungee.encode_utf(t) for t in strings)
        if "data" in shape:
            payload += bungee.encode_data(data)
        request = bungee.parse_request(payload)
        self.assertEqual((request.subchannel, request.args), (subchannel, tuple(strings)))
        self.assertEqual(request.data, data if "data" in shape else b"")

    @fuzz()
    @given(st.binary(max_size=400), st.sampled_from(sorted(bungee.SUBCHANNELS)))
    def test_any_bytes_parse_or_refuse(self, tail: bytes, subchannel: str) -> None:
        for payload in (tail, bungee.encode_utf(subchannel) + tail):
            try:
                request = bungee.parse_request(payload)
            except WireError as error:
                self.assertIn(error.reason, ("TRUNCATED", "BAD_UTF", "UNKNOWN_SUBCHANNEL"))
            else:
                self.assertIn(request.subchannel, bungee.SUBCHANNELS)
