"""The PROXY protocol header encoder, checked against the specification's layouts and
against Twisted's own independent parser."""

from __future__ import annotations

from ipaddress import ip_address

from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.proxy_protocol import V2_SIGNATURE, encode_header, encode_v1, encode_v2


class ProxyHeaderTests(SynchronousTestCase):
    def test_v1_ipv4(self) -> None:
        """Version 1 is one text line with family, addresses and ports."""
        self.assertEqual(encode_v1(("127.0.0.7", 50000), ("127.0.0.1", 25565)),
                         b"PROXY TCP4 127.0.0.7 127.0.0.1 50000 25565\r\n")

    def test_v1_ipv6_and_mixed(self) -> None:
        """IPv6 is TCP6; an IPv4 source to an IPv6 listener is written as a mapped address."""
        self.assertEqual(encode_v1(("2001:db8::1", 1), ("::1", 2)), b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n")
        self.assertEqual(encode_v1(("198.51.100.4", 1), ("::1", 2)),
                         b"PROXY TCP6 ::ffff:c633:6404 ::1 1 2\r\n")
        self.assertEqual(encode_v1(("::ffff:198.51.100.4", 1), ("10.0.0.1", 2)),
                         b"PROXY TCP4 198.51.100.4 10.0.0.1 1 2\r\n")

    def test_v1_unknown(self) -> None:
        """Without a usable address (a UNIX socket) version 1 says UNKNOWN."""
        self.assertEqual(encode_v1(None, ("127.0.0.1", 1)), b"PROXY UNKNOWN\r\n")
        self.assertEqual(encode_v1(("", 0), ("127.0.0.1", 1)), b"PROXY UNKNOWN\r\n")

    def test_v2_ipv4_bytes(self) -> None:
        """Version 2: signature, PROXY command, TCP over IPv4, 12 bytes of addresses and ports."""
        self.assertEqual(
            encode_v2(("127.0.0.7", 50000), ("127.0.0.1", 25565)),
            V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([127, 0, 0, 7, 127, 0, 0, 1]) + b"\xc3\x50\x63\xdd")

    def test_v2_local(self) -> None:
        """Version 2 without addresses is the LOCAL command with no address block."""
        self.assertEqual(encode_v2(None, None), V2_SIGNATURE + b"\x20\x00\x00\x00")

    def test_twisted_parses_them(self) -> None:
        """Twisted's HAProxy parsers, written from the same specification, read back the source."""
        for version, parser, source, destination in (
                ("v1", V1Parser, ("127.0.0.7", 50000), ("127.0.0.1", 25565)),
                ("v2", V2Parser, ("127.0.0.7", 50000), ("127.0.0.1", 25565)),
                ("v2", V2Parser, ("2001:db8::7", 1234), ("2001:db8::1", 25565))):
            info, rest = parser().feed(encode_header(version, source, destination) + b"after")
            for got, want in ((info.source, source), (info.destination, destination)):
                self.assertEqual((ip_address(got.host), got.port), (ip_address(want[0]), want[1]))
            self.assertEqual(rest, b"after")

    def test_unknown_version(self) -> None:
        """Only the two versions the config allows are encoded."""
        with self.assertRaises(ValueError):
            encode_header("v3", None, None)
