"""``/health`` of real twistd processes as their surroundings fail and recover.

The proxy probes its backends every ``[admin] probe_interval`` seconds (0.5 here), so each
transition shows within a second or two; every wait is bounded, with room for a loaded machine
(a cold twistd start can take half a minute there).
"""

from __future__ import annotations

import socket

from twisted.internet import defer, reactor
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.deployment import mcproxyctl, wait_until
from tests.integration.harness import NodePeer, free_port, node_missing, sleep, temp_dir
from tests.integration.operations import Network
from tests.integration.test_deployment import CuttableForwarder


class HealthTransitionTests(TestCase):
    timeout = 180

    @defer.inlineCallbacks
    def test_backend_stopped_and_restarted(self):
        """READY -> DEGRADED (backend:<name> FAILED, still HTTP 200) when the twistd mcbackend
        stops, and READY again once it is started anew."""
        net = Network(temp_dir(self), probe_interval=0.5)
        net.start(self)
        yield net.wait_health(net.proxy_admin, "READY")

        yield net.backend.stop()
        # A probe already in the stopping backend's backlog reads "connection reset" first.
        body = yield net.wait_health(net.proxy_admin, "DEGRADED", 20,
                                     check=lambda b: b["checks"]["backend:lobby"]["detail"] == "connection refused")
        self.assertEqual(body["checks"]["backend:lobby"]["state"], "FAILED")
        self.assertEqual(body["checks"]["listener"]["state"], "OK")
        code, _ = yield net.proxy_health()
        self.assertEqual(code, 200)
        code, out = yield mcproxyctl("-c", str(net.proxy_config), "health")
        self.assertEqual(code, 0, out)
        self.assertIn("status: DEGRADED", out)

        net.backend.start()
        body = yield net.wait_health(net.proxy_admin, "READY", 60)
        self.assertEqual({name: check["state"] for name, check in body["checks"].items()},
                         {"listener": "OK", "backend:lobby": "OK", "messaging": "OK"})

    @defer.inlineCallbacks
    def test_messaging_link_cut_and_restored(self):
        """A cut control link makes both processes DEGRADED on "messaging" only (the backend is
        still reachable), and both READY again once the link reconnects and resyncs."""
        net = Network(temp_dir(self), probe_interval=0.5)
        forwarder = CuttableForwarder("127.0.0.1", net.messaging_port)
        listening = reactor.listenTCP(0, forwarder, interface="127.0.0.1")
        relay_port = listening.getHost().port
        text = net.backend_config.read_text()
        net.backend_config.write_text(text.replace(f"port={net.messaging_port}", f"port={relay_port}"))
        net.start(self)
        yield net.wait_health(net.proxy_admin, "READY")
        yield net.wait_health(net.backend_admin, "READY")

        yield listening.stopListening()
        forwarder.cut()
        body = yield net.wait_health(net.proxy_admin, "DEGRADED", 20,
                                     check=lambda b: b["checks"]["messaging"]["state"] != "OK")
        self.assertEqual(body["checks"]["messaging"]["detail"], "control link from lobby is down")
        self.assertEqual(body["checks"]["backend:lobby"]["state"], "OK")
        body = yield net.wait_health(net.backend_admin, "DEGRADED", 20)
        self.assertEqual(body["checks"]["listener"]["state"], "OK")
        self.assertNotEqual(body["checks"]["messaging"]["state"], "OK")

        listening = reactor.listenTCP(relay_port, forwarder, interface="127.0.0.1")
        self.addCleanup(forwarder.cut)
        self.addCleanup(listening.stopListening)
        yield net.wait_health(net.proxy_admin, "READY", 30)
        yield net.wait_health(net.backend_admin, "READY", 30)

    @defer.inlineCallbacks
    def test_not_ready_while_game_port_taken(self):
        """A game bind port held by another program leaves the proxy NOT_READY (HTTP 503) with the
        bind error in the listener check, and mcproxyctl health exits 1."""
        net = Network(temp_dir(self), probe_interval=0.5)
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", net.proxy_port))
        squatter.listen(1)
        self.addCleanup(squatter.close)
        net.start(self)

        @defer.inlineCallbacks
        def answered():
            code, body = yield net.proxy_health()
            return (code, body) if isinstance(body, dict) else None
        code, body = yield wait_until(answered, 90, what="the proxy's admin listener")
        self.assertEqual((code, body["status"]), (503, "NOT_READY"))
        self.assertEqual(body["checks"]["listener"]["state"], "FAILED")
        self.assertIn("Address already in use", body["checks"]["listener"]["detail"])
        code, out = yield mcproxyctl("-c", str(net.proxy_config), "health")
        self.assertEqual(code, 1, out)
        self.assertIn("status: NOT_READY", out)


class EventDrivenHealthTests(TestCase):
    """With probes an hour apart, only events can move ``/health``: the control link
    coming up, and players reaching the backend."""

    timeout = 240

    def setUp(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)

    def player(self, net: Network, name: str):
        peer = NodePeer("chat_client.js", "127.0.0.1", net.proxy_port, "1.21.4", name, "hello",
                        env={"LINGER_MS": "2000", "CLIENT_TIMEOUT_MS": "40000"})
        self.addCleanup(peer.stop)
        return peer

    @defer.inlineCallbacks
    def test_ready_within_a_second_of_linking_in_runbook_order(self):
        """Runbook order, proxy first: DEGRADED with the backend refusing; once the backend
        starts, READY follows its control link synchronizing within 1 s (not at the next
        probe, an hour away), and stays READY with backend:lobby OK as a player joins."""
        net = Network(temp_dir(self), probe_interval=3600)
        net.start(self, backend=False)
        body = yield net.wait_health(net.proxy_admin, "DEGRADED",
                                     check=lambda b: b["checks"]["backend:lobby"]["state"] == "FAILED")
        self.assertEqual(body["checks"]["backend:lobby"]["detail"], "connection refused")
        net.backend.start()
        self.addCleanup(net.backend.stop)
        synced_at = ready_at = None
        deadline = reactor.seconds() + 90
        while ready_at is None and reactor.seconds() < deadline:
            code, body = yield net.proxy_health()
            now = reactor.seconds()
            if synced_at is None and body["checks"]["messaging"]["state"] == "OK":
                synced_at = now
            if body["status"] == "READY":
                ready_at = now
            yield sleep(0.05)
        self.assertIsNotNone(synced_at, body)
        self.assertIsNotNone(ready_at, body)
        self.assertLessEqual(ready_at - synced_at, 1.0)
        peer = self.player(net, "Runbook")
        yield peer.wait_for("play", timeout=40)
        code, body = yield net.proxy_health()
        self.assertEqual((code, body["status"]), (200, "READY"))
        self.assertEqual(body["checks"]["backend:lobby"]["state"], "OK")
        yield peer.finished(40)

    @defer.inlineCallbacks
    def test_player_reaching_backend_clears_refused_at_once(self):
        """With no control link to tell it (the backend's messaging points nowhere), a
        backend last probed as refusing is OK in /health as soon as a player reached it."""
        net = Network(temp_dir(self), probe_interval=3600)
        text = net.backend_config.read_text()
        net.backend_config.write_text(text.replace(f"port={net.messaging_port}", f"port={free_port()}"))
        net.start(self, backend=False)
        yield net.wait_health(net.proxy_admin, "DEGRADED",
                              check=lambda b: b["checks"]["backend:lobby"]["state"] == "FAILED")
        net.backend.start()
        self.addCleanup(net.backend.stop)
        yield wait_until(lambda: net.backend_health().addCallback(lambda r: r[0] in (200, 503)), 90,
                         what="backend admin listening")
        peer = self.player(net, "First")
        yield peer.wait_for("play", timeout=40)
        code, body = yield net.proxy_health()
        self.assertEqual(body["checks"]["backend:lobby"],
                         {"state": "OK", "detail": "a player connected"})
        yield peer.finished(40)
