"""Forge's handshake markers: kept for the backend when forwarding leaves the host alone."""

from __future__ import annotations

import uuid

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.backend import BackendFactory, BackendLogin
from mcproxy.wire.handshake import parse_handshake
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.types import Reader, encode_string, encode_varint


def handshake(host: str):
    return parse_handshake(b"\x00" + encode_varint(767) + encode_string(host) + b"\x63\xdd\x02")


class MarkerParseTests(SynchronousTestCase):
    def test_markers(self) -> None:
        """Each Forge generation's marker is kept apart from the normalized host."""
        for marker in ("\x00FML\x00", "\x00FML2\x00", "\x00FML3\x00"):
            parsed = handshake("Play.Example.com." + marker)
            self.assertEqual((parsed.host, parsed.fml_marker), ("play.example.com", marker))

    def test_anything_else_is_dropped(self) -> None:
        """Other text after a NUL, forged forwarding data included, is not a marker."""
        for host in ("h", "h\x00", "h\x00FML4\x00", "h\x00fml3\x00", "h\x00FML3\x00x",
                     "h\x00203.0.113.9\x00" + "0" * 32):
            self.assertEqual(handshake(host).fml_marker, "")


class MarkerToBackendTests(SynchronousTestCase):
    def host_sent(self, mode: str, marker: str) -> str:
        login = BackendLogin(profile=GameProfile(uuid.UUID(int=1), "Steve", ()), protocol=767,
                             host="play.example.com", port=25565, address="203.0.113.9", mode=mode,
                             secret=b"s" * 32, fml_marker=marker)
        protocol = BackendFactory(login, packet_ids(767), 2097151).buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        reader = Reader(transport.value())
        reader.varint()
        reader.varint()
        reader.varint()
        return reader.string(32767)

    def test_kept_when_the_host_is_left_alone(self) -> None:
        """Forwarding none and modern pass the marker on after the host."""
        self.assertEqual(self.host_sent("none", "\x00FML2\x00"), "play.example.com\x00FML2\x00")
        self.assertEqual(self.host_sent("modern", "\x00FML3\x00"), "play.example.com\x00FML3\x00")
        self.assertEqual(self.host_sent("none", ""), "play.example.com")

    def test_legacy_host_field_is_the_forwarding(self) -> None:
        """Legacy forwarding owns the host field: host, address, UUID, no marker."""
        self.assertEqual(self.host_sent("legacy", "\x00FML3\x00").split("\x00"),
                         ["play.example.com", "203.0.113.9", uuid.UUID(int=1).hex])
