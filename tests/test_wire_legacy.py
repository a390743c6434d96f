"""Tests for mcproxy.wire.legacy: the pre-1.7 server list ping."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.framing import encode_frame
from mcproxy.wire.legacy import (
    KICK_MAX_CHARS, LegacyPing, LegacyPingKind, LegacyStatus, decode_legacy_reply,
    encode_legacy_ping, encode_legacy_reply, parse_legacy_ping, sniff_legacy_ping,
)
from mcproxy.wire.types import Incomplete, WireError, encode_string, encode_varint
from tests.fuzzing import fuzz

BOUNDED = settings(max_examples=200, deadline=None)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0§"),
               max_size=60)
HOSTS = st.text(st.characters(blacklist_categories=("Cs",), max_codepoint=0xFFFF), max_size=80)


class ParseLegacyPingTests(SynchronousTestCase):
    @BOUNDED
    @given(st.integers(0, 255), HOSTS, st.integers(-(1 << 31), (1 << 31) - 1))
    def test_ping_host_round_trip(self, protocol: int, host: str, port: int) -> None:
        """A 1.6 ping decodes to what was encoded, and every prefix asks for more."""
        raw = encode_legacy_ping(LegacyPingKind.V1_6, protocol, host, port)
        self.assertEqual(parse_legacy_ping(raw),
                         LegacyPing(LegacyPingKind.V1_6, len(raw), protocol, host, port))
        for cut in range(3, len(raw)):
            self.assertRaises(Incomplete, parse_legacy_ping, raw[:cut], True)
        for cut in range(1, 3):
            self.assertRaises(Incomplete, parse_legacy_ping, raw[:cut])

    def test_short_forms_when_final(self) -> None:
        """FE alone is a beta ping and FE 01 a 1.4 ping once no more bytes are coming."""
        self.assertEqual(parse_legacy_ping(b"\xfe", final=True).kind, LegacyPingKind.BETA)
        self.assertEqual(parse_legacy_ping(b"\xfe\x01", final=True).kind, LegacyPingKind.V1_4)
        self.assertRaises(Incomplete, parse_legacy_ping, b"")

    def test_modern_handshake_is_not_legacy(self) -> None:
        """A modern handshake frame, even one 254 bytes long (FE 01 00 …), is not legacy."""
        fields = encode_varint(766) + encode_string("h" * 246) + b"\x63\xdd\x01"
        frame = encode_frame(b"\x00" + fields)
        self.assertEqual(frame[:3], b"\xfe\x01\x00")
        self.assertIsNone(parse_legacy_ping(frame))
        self.assertIsNone(parse_legacy_ping(encode_frame(b"\x00" + encode_varint(766))))
        self.assertIsNone(parse_legacy_ping(b"\xfe\x02"))

    def test_wrong_channel(self) -> None:
        """A 1.6-style plugin message on another channel is BAD_LEGACY_PING."""
        raw = bytearray(encode_legacy_ping(LegacyPingKind.V1_6, 78, "h", 1))
        raw[6] = ord("X")
        e = self.assertRaises(WireError, parse_legacy_ping, bytes(raw))
        self.assertEqual(e.reason, "BAD_LEGACY_PING")

    def test_inconsistent_lengths(self) -> None:
        """A payload length that does not match the host length is BAD_LEGACY_PING."""
        raw = bytearray(encode_legacy_ping(LegacyPingKind.V1_6, 78, "host", 1))
        raw[28] += 1
        e = self.assertRaises(WireError, parse_legacy_ping, bytes(raw) + b"\0")
        self.assertEqual(e.reason, "BAD_LEGACY_PING")

    @BOUNDED
    @given(st.binary(max_size=80), st.booleans())
    def test_random_input(self, raw: bytes, final: bool) -> None:
        """Random bytes after FE 01 FA give a ping, Incomplete or a WireError reason."""
        try:
            result = parse_legacy_ping(b"\xfe\x01\xfa" + raw, final)
        except Incomplete:
            return
        except WireError as e:
            self.assertIn(e.reason, {"BAD_LEGACY_PING", "BAD_UTF16"})
            return
        self.assertEqual(result.kind, LegacyPingKind.V1_6)


class SniffLegacyPingTests(SynchronousTestCase):
    def test_first_read_decides(self) -> None:
        """FE alone is beta, FE 01 alone 1.4, and FE 01 FA a 1.6 ping with or without its
        tail; the caller never has to buffer."""
        raw = encode_legacy_ping(LegacyPingKind.V1_6, 78, "play.example.com", 25565)
        self.assertEqual(sniff_legacy_ping(b"\xfe"), LegacyPing(LegacyPingKind.BETA, 1))
        self.assertEqual(sniff_legacy_ping(b"\xfe\x01"), LegacyPing(LegacyPingKind.V1_4, 2))
        self.assertEqual(sniff_legacy_ping(b"\xfe\x01\xfa"), LegacyPing(LegacyPingKind.V1_6, 3))
        for cut in range(3, len(raw)):
            self.assertEqual(sniff_legacy_ping(raw[:cut]).kind, LegacyPingKind.V1_6)
        self.assertEqual(sniff_legacy_ping(raw),
                         LegacyPing(LegacyPingKind.V1_6, len(raw), 78, "play.example.com", 25565))

    def test_frames_are_not_pings(self) -> None:
        """Nothing, a frame, FE then anything but 01, FE 01 then anything but FA: not a ping."""
        for data in (b"", b"\x10\x00", b"\xfe\x02", b"\xfe\x01\x00", b"\xfe\x01\x00\xfa"):
            self.assertIsNone(sniff_legacy_ping(data), data)

    @fuzz()
    @given(st.binary(max_size=600))
    def test_any_first_read(self, raw: bytes) -> None:
        """Any first read is a ping starting FE, not a ping, or refused by a named reason;
        nothing is left undecided."""
        try:
            ping = sniff_legacy_ping(raw)
        except WireError as e:
            self.assertIn(e.reason, {"BAD_LEGACY_PING", "BAD_UTF16"})
            self.assertTrue(raw.startswith(b"\xfe\x01\xfa"))
            return
        if ping is None:
            self.assertFalse(raw in (b"\xfe", b"\xfe\x01") or raw.startswith(b"\xfe\x01\xfa"))
        else:
            self.assertEqual(raw[:1], b"\xfe")
            self.assertLessEqual(ping.size, len(raw))

    @fuzz()
    @given(st.binary(max_size=40), st.integers(0, 255), HOSTS, st.integers(0, 65535))
    def test_prefixed_first_read(self, tail: bytes, protocol: int, host: str, port: int) -> None:
        """Bytes after FE 01 FA, a real ping's or garbage, never leave a 1.6 ping undecided."""
        raw = encode_legacy_ping(LegacyPingKind.V1_6, protocol, host, port)
        for data in (raw[:3] + tail, raw + tail, raw[:3 + len(tail)]):
            try:
                self.assertEqual(sniff_legacy_ping(data).kind, LegacyPingKind.V1_6)
            except WireError as e:
                self.assertIn(e.reason, {"BAD_LEGACY_PING", "BAD_UTF16"})


class LegacyReplyTests(SynchronousTestCase):
    @BOUNDED
    @given(TEXT, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 1000),
           st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                   max_size=20))
    def test_round_trip(self, motd: str, online: int, max_players: int, protocol: int,
                        version: str) -> None:
        """Both reply forms decode back to the status they were built from."""
        status = LegacyStatus(motd, online, max_players, protocol, version)
        self.assertEqual(decode_legacy_reply(encode_legacy_reply(LegacyPingKind.V1_6, status)),
                         status)
        self.assertEqual(decode_legacy_reply(encode_legacy_reply(LegacyPingKind.BETA, status)),
                         LegacyStatus(motd, online, max_players))

    def test_known_bytes(self) -> None:
        """The 1.4+ reply is FF, a UTF-16 length and the §1-prefixed fields in UTF-16BE."""
        raw = encode_legacy_reply(LegacyPingKind.V1_4, LegacyStatus("M", 1, 2, 127, "v"))
        text = "\u00a71\x00127\x00v\x00M\x001\x002"
        self.assertEqual(raw, b"\xff" + len(text).to_bytes(2, "big") + text.encode("utf-16-be"))

    def test_beta_strips_separator(self) -> None:
        """Section signs in the MOTD are removed from the beta form, where they separate."""
        raw = encode_legacy_reply(LegacyPingKind.BETA, LegacyStatus("\u00a7cRed", 1, 2))
        self.assertEqual(decode_legacy_reply(raw).motd, "cRed")

    def test_long_motd_cut(self) -> None:
        """A long MOTD is shortened so the reply stays within what old clients read."""
        for kind in (LegacyPingKind.BETA, LegacyPingKind.V1_6):
            raw = encode_legacy_reply(kind, LegacyStatus("\U0001F600" * 300, 1, 2, 78, "1.6"))
            self.assertLessEqual(int.from_bytes(raw[1:3], "big"), KICK_MAX_CHARS)
            decode_legacy_reply(raw)

    @BOUNDED
    @given(st.binary(max_size=80))
    def test_random_reply(self, raw: bytes) -> None:
        """Random replies decode, ask for more, or are refused with a reason."""
        try:
            decode_legacy_reply(b"\xff" + raw)
        except Incomplete:
            return
        except WireError as e:
            self.assertIn(e.reason, {"BAD_LEGACY_REPLY", "BAD_UTF16", "TRAILING_BYTES"})
