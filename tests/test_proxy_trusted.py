"""Tests for :mod:`mcproxy.proxy.trusted`: the PROXY-protocol source check at the listener."""

from __future__ import annotations

import ipaddress

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.trusted import TrustedSources, loopback_only, parse_networks, player_endpoint


class TrustedSourcesTests(SynchronousTestCase):
    def test_membership(self):
        """IPv4, IPv6 and IPv4-mapped IPv6 peers are matched against the networks; a
        host that is not an address (a UNIX peer's) is not trusted."""
        trusted = TrustedSources(parse_networks(["10.0.0.0/8", "2001:db8::/32"]))
        self.assertIn("10.1.2.3", trusted)
        self.assertIn("::ffff:10.1.2.3", trusted)
        self.assertIn("2001:db8::5", trusted)
        self.assertNotIn("11.0.0.1", trusted)
        self.assertNotIn("", trusted)

    def test_parse_refuses_host_bits(self):
        """``10.0.0.1/8`` is a typo for a network or an address: refused, named."""
        error = self.assertRaises(ValueError, parse_networks, ["10.0.0.1/8"])
        self.assertIn("'10.0.0.1/8'", str(error))


class PlayerEndpointTests(SynchronousTestCase):
    def listen(self, description, networks):
        reactor = MemoryReactor()
        refused = []
        factory = Factory.forProtocol(Protocol)
        player_endpoint(reactor, description, parse_networks(networks), refused.append).listen(factory)
        (port, listening, _, interface) = reactor.tcpServers[0]
        return listening, refused, factory

    def test_untrusted_peer_gets_no_protocol(self):
        """On a haproxy: listener a peer outside the list gets no protocol at all (the
        port closes the socket unread) and is reported by its own address; a trusted
        peer gets the PROXY header parser."""
        listening, refused, _ = self.listen("haproxy:tcp:25565", ["10.0.0.0/8"])
        self.assertIsNone(listening.buildProtocol(IPv4Address("TCP", "203.0.113.9", 5000)))
        self.assertEqual(refused, ["203.0.113.9"])
        protocol = listening.buildProtocol(IPv4Address("TCP", "10.0.0.7", 5000))
        self.assertIsInstance(protocol, HAProxyProtocolWrapper)
        self.assertIsNone(listening.buildProtocol(IPv6Address("TCP", "::1", 5000)))
        self.assertEqual(refused, ["203.0.113.9", "::1"])

    def test_plain_listener_untouched(self):
        """A plain tcp: listener, or a haproxy: one with no list, is what Twisted builds."""
        listening, refused, factory = self.listen("tcp:25565", ["10.0.0.0/8"])
        self.assertIs(listening, factory)
        listening, _, _ = self.listen("haproxy:tcp:25565:interface=127.0.0.1", [])
        self.assertIsInstance(listening.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)), HAProxyProtocolWrapper)
        self.assertEqual(refused, [])

    def test_loopback_only(self):
        """Loopback interfaces (IPv4, escaped IPv6) and UNIX sockets count as local."""
        self.assertTrue(loopback_only("haproxy:tcp:25565:interface=127.0.0.1"))
        self.assertTrue(loopback_only("haproxy:tcp6:25565:interface=\\:\\:1"))
        self.assertTrue(loopback_only("haproxy:unix:/run/mc.sock"))
        self.assertFalse(loopback_only("haproxy:tcp:25565"))
        self.assertFalse(loopback_only("haproxy:tcp:25565:interface=0.0.0.0"))
        self.assertFalse(loopback_only("haproxy:tcp:25565:interface=nonsense"))
        self.assertIsInstance(parse_networks(["::1"])[0], ipaddress.IPv6Network)
