"""Per-server forwarding and PROXY headers, seen by backends written from the formats.

One proxy forwards to "classic" with legacy forwarding behind a PROXY v2 header and to
"modern" with Velocity's modern forwarding. The classic backend listens through
Twisted's own HAProxy parser, which refuses a connection without a header; the player
connects from 127.0.0.7, so the address the header carries is checked against the
player's real source, not the loopback default.
"""

from __future__ import annotations

import json

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import serverFromString
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.harness import TEST_SECRET, NodePeer, node_missing, temp_dir, write_proxy_config
from tests.integration.proxy_harness import game_port, run_proxy
from tests.integration.test_forwarding import DocumentedBackend

PLAYER_ADDRESS = "127.0.0.7"


class AddressRecordingBackend(DocumentedBackend):
    def dataReceived(self, data):
        # Behind Twisted's HAProxy wrapper the peer is known once the header is read,
        # which is before the first byte reaches the protocol.
        self.factory.record.setdefault("peer", self.transport.getPeer().host)
        super().dataReceived(data)


def backend_factory(mode: str) -> protocol.Factory:
    factory = protocol.Factory.forProtocol(AddressRecordingBackend)
    factory.record = {}
    factory.mode = mode
    factory.secret = TEST_SECRET.encode()
    return factory


class PerServerSettingsTests(TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def test_legacy_behind_proxy_v2_and_modern_in_one_proxy(self):
        """Each server gets its own forwarding; the PROXY v2 header carries the player's real address."""
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        classic = backend_factory("legacy")
        classic_port = yield serverFromString(reactor, "haproxy:tcp:0:interface=127.0.0.1").listen(classic)
        self.addCleanup(classic_port.stopListening)
        modern = backend_factory("modern")
        modern_port = reactor.listenTCP(0, modern, interface="127.0.0.1")
        self.addCleanup(modern_port.stopListening)
        path = write_proxy_config(
            temp_dir(self), 0, {"modern": modern_port.getHost().port}, forwarding="modern",
            try_order=["classic", "modern"],
            extra=(f'[servers.classic]\naddress = "127.0.0.1:{classic_port.getHost().port}"\n'
                   'forwarding = "legacy"\nproxy_protocol = "v2"\n'))
        proxy = yield run_proxy(self, path)
        client = NodePeer("chat_client.js", "127.0.0.1", game_port(proxy), "1.21.4", "Forwarded", "hi",
                          env={"LOCAL_ADDRESS": PLAYER_ADDRESS})
        self.addCleanup(client.stop)
        yield client.finished(30)

        self.assertEqual(classic.record["peer"], PLAYER_ADDRESS)
        fields = classic.record["host_field"].split("\x00")
        self.assertEqual(fields[1:3], [PLAYER_ADDRESS, classic.record["login_uuid"].hex])
        self.assertEqual(len(fields), 3, "legacy forwarding only: no bungeeguard token for this server")

        self.assertEqual(modern.record["peer"], "127.0.0.1", "no PROXY header to the modern server")
        self.assertEqual(modern.record["host_field"], "127.0.0.1")
        self.assertTrue(modern.record["signature_ok"])
        self.assertEqual(modern.record["address"], PLAYER_ADDRESS)
        reasons = [e.get("reason") for e in client.events if e["event"] in ("disconnected", "kicked")]
        self.assertEqual(reasons, ["checked"])


class ForgeMarkerTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def host_field_seen(self, mode: str, fake_host: str) -> str:
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        backend = backend_factory(mode)
        backend_port = reactor.listenTCP(0, backend, interface="127.0.0.1")
        self.addCleanup(backend_port.stopListening)
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend_port.getHost().port}, forwarding=mode)
        proxy = yield run_proxy(self, path)
        client = NodePeer("chat_client.js", "127.0.0.1", game_port(proxy), "1.21.4", "Forger", "hi",
                          env={"FAKE_HOST": json.dumps(fake_host)})
        self.addCleanup(client.stop)
        yield client.finished(30)
        return backend.record["host_field"]

    @defer.inlineCallbacks
    def test_marker_kept_without_forwarding(self):
        """With forwarding none the backend sees the Forge client's FML3 marker after the host."""
        host = yield self.host_field_seen("none", "Play.Example.com\x00FML3\x00")
        self.assertEqual(host, "play.example.com\x00FML3\x00")

    @defer.inlineCallbacks
    def test_marker_kept_with_modern_forwarding(self):
        """Modern forwarding leaves the host alone, so the marker goes through too."""
        host = yield self.host_field_seen("modern", "play.example.com\x00FML2\x00")
        self.assertEqual(host, "play.example.com\x00FML2\x00")

    @defer.inlineCallbacks
    def test_other_suffixes_never_reach_the_backend(self):
        """A client posing as legacy forwarding in its host field gets only the host through."""
        host = yield self.host_field_seen("none", "play.example.com\x00203.0.113.9\x00" + "0" * 32)
        self.assertEqual(host, "play.example.com")
