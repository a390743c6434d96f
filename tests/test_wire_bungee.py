"""The BungeeCord channel's codec against bytes Java's DataOutput writes."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import bungee
from mcproxy.wire.types import WireError


class ModifiedUtf8Tests(SynchronousTestCase):
    def test_java_writeutf_bytes(self) -> None:
        """NUL as two bytes, a supplementary character as two three-byte surrogates (as Java writes them)."""
        self.assertEqual(bungee.encode_utf("A"), b"\x00\x01A")
        self.assertEqual(bungee.encode_utf("\x00"), b"\x00\x02\xc0\x80")
        self.assertEqual(bungee.encode_utf("é"), b"\x00\x02\xc3\xa9")
        self.assertEqual(bungee.encode_utf("€"), b"\x00\x03\xe2\x82\xac")
        self.assertEqual(bungee.encode_utf("😀"), b"\x00\x06\xed\xa0\xbd\xed\xb8\x80")
        self.assertEqual(bungee.decode_modified_utf8(b"\xed\xa0\xbd\xed\xb8\x80\xc0\x80"), "😀\x00")

    def test_refusals(self) -> None:
        """What Java's readUTF refuses, and unpaired surrogates, are BAD_UTF; 64 KiB is the ceiling."""
        for raw in (b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98\x80", b"\xc3\x29", b"\xed\xa0\xbd"):
            with self.assertRaises(WireError) as caught:
                bungee.decode_modified_utf8(raw)
            self.assertEqual(caught.exception.reason, "BAD_UTF", raw)
        with self.assertRaises(WireError) as caught:
            bungee.encode_utf("€" * 21846)
        self.assertEqual(caught.exception.reason, "UTF_TOO_LONG")
        self.assertEqual(len(bungee.encode_utf("€" * 21845)), 2 + 65535)


class RequestTests(SynchronousTestCase):
    def test_shapes(self) -> None:
        """Each sub-channel's fields, Forward's short-length data, trailing bytes ignored as BungeeCord does."""
        utf = bungee.encode_utf
        self.assertEqual(bungee.parse_request(utf("IP")), bungee.Request("IP", ()))
        self.assertEqual(bungee.parse_request(utf("ConnectOther") + utf("Alex") + utf("pvp") + b"junk"),
                         bungee.Request("ConnectOther", ("Alex", "pvp")))
        self.assertEqual(bungee.parse_request(utf("Forward") + utf("ALL") + utf("Chan") + b"\x00\x03abcXYZ"),
                         bungee.Request("Forward", ("ALL", "Chan"), b"abc"))

    def test_malformed(self) -> None:
        utf = bungee.encode_utf
        cases = {
            b"": "TRUNCATED",
            b"\x00\x05IP": "TRUNCATED",
            utf("Nope"): "UNKNOWN_SUBCHANNEL",
            utf("Connect"): "TRUNCATED",
            utf("Forward") + utf("ALL") + utf("Chan") + b"\x00\x09abc": "TRUNCATED",
            utf("UUIDOther") + b"\x00\x01\xff": "BAD_UTF",
        }
        for payload, reason in cases.items():
            with self.assertRaises(WireError) as caught:
                bungee.parse_request(payload)
            self.assertEqual(caught.exception.reason, reason, payload)

    def test_answers(self) -> None:
        """Strings by writeUTF, ints as four big-endian bytes, shorts as two; the channel by version."""
        self.assertEqual(bungee.encode_answer("IP", "1.2.3.4", 54321),
                         b"\x00\x02IP\x00\x071.2.3.4\x00\x00\xd4\x31")
        self.assertEqual(bungee.encode_short(25565), b"\x63\xdd")
        self.assertEqual(bungee.encode_data(b"xy"), b"\x00\x02xy")
        self.assertEqual((bungee.channel_for(393), bungee.channel_for(340)), ("bungeecord:main", "BungeeCord"))
