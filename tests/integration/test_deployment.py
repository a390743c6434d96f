"""The shipped processes together: twistd mcproxy, two twistd mcbackend, real clients, mcproxyctl.

These follow the runbook: start the proxy and the backends, check that the registry syncs,
validate the control plane with a controlled transfer, and survive the messaging link
going away and coming back.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.protocols.portforward import ProxyFactory
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.deployment import Deployment, mcproxyctl, wait_until
from tests.integration.harness import NodePeer, node_missing, temp_dir


class CuttableForwarder(ProxyFactory):
    """A TCP forwarder that remembers its connections, so a test can cut a link."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.connections: list = []

    def buildProtocol(self, addr):
        connection = super().buildProtocol(addr)
        self.connections.append(connection)
        return connection

    def cut(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.abortConnection()
        self.connections.clear()


class DeploymentCase(TestCase):
    timeout = 180

    def setUp(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)

    def client(self, deployment: Deployment, version: str, name: str, *lines: str, port=None, linger=0):
        peer = NodePeer("chat_client.js", "127.0.0.1", port or deployment.proxy_port, version, name, *lines,
                        env={"LINGER_MS": str(linger), "CLIENT_TIMEOUT_MS": str(linger + 30000)})
        self.addCleanup(peer.stop)
        return peer


class JoinTests(DeploymentCase):
    @defer.inlineCallbacks
    def test_clients_of_three_versions_and_a_bot_join_and_stay(self):
        """1.20.5, 1.21.4 and 26.1 clients and a mineflayer bot join through the proxy and stay,
        and the proxy's /status and /metrics count them by protocol version."""
        deployment = Deployment(temp_dir(self))
        yield deployment.start(self)
        # Online until the test ends, so all three are counted together even when, on a loaded
        # machine, their joins are many seconds apart.
        clients = [self.client(deployment, version, f"Player{i}", "hello", linger=150000)
                   for i, version in enumerate(("1.20.5", "1.21.4", "26.1"))]
        bot = NodePeer("bot.js", "127.0.0.1", deployment.proxy_port, "1.21.4", "Bot")
        self.addCleanup(bot.stop)
        yield bot.wait_for("spawn", timeout=40)
        for client in clients:
            yield client.wait_for("done", timeout=40)

        # The bot quits right after spawning; the three clients stay a while after "done".
        @defer.inlineCallbacks
        def counted_by_version():
            code, body = yield deployment.admin(deployment.proxy_admin, "/status")
            return body["players"]["by_protocol"] == {"766": 1, "769": 1, "775": 1}
        yield wait_until(counted_by_version, 10, what="players counted by protocol in /status")
        _, metrics = yield deployment.admin(deployment.proxy_admin, "/metrics")
        players = {(sample.labels["protocol"], sample.labels["version"]): sample.value
                   for family in text_string_to_metric_families(metrics)
                   if family.name == "mcproxy_players" for sample in family.samples}
        self.assertEqual(players, {("766", "1.20.5-1.20.6"): 1.0, ("769", "1.21.4"): 1.0,
                                   ("775", "26.1-26.1.2"): 1.0})

        @defer.inlineCallbacks
        def all_online():
            code, body = yield deployment.admin(deployment.backend_admin["lobby"], "/status")
            return len(body["backend"]["players"]) >= 3
        yield wait_until(all_online, 10, what="three players on the lobby backend")
        # They stayed: each client still runs, and none was kicked or lost its connection.
        self.assertEqual([c.protocol.ended.called for c in clients], [False, False, False],
                         [c.events for c in clients])
        self.assertFalse([e for c in clients for e in c.events if e["event"] in ("kicked", "disconnected", "end")])

    @defer.inlineCallbacks
    def test_direct_connection_to_backend_is_refused(self):
        """A client that bypasses the proxy is refused by the backend with a clear reason."""
        deployment = Deployment(temp_dir(self), backends=("lobby",))
        yield deployment.start(self)
        client = self.client(deployment, "1.21.4", "Sneaky", "hi", port=deployment.backend_ports["lobby"])
        yield client.finished(30)
        reasons = [e["reason"] for e in client.events if e["event"] == "disconnected"]
        self.assertEqual(reasons, ["This server only accepts connections through its proxy. (NOT_VIA_PROXY)"])

    @defer.inlineCallbacks
    def test_offline_proxy_refused_when_authenticated_mode_required(self):
        """With require_authenticated_mode, players an offline-mode proxy let in are refused."""
        deployment = Deployment(temp_dir(self), backends=("lobby",), require_authenticated_mode=True)
        yield deployment.start(self)
        client = self.client(deployment, "1.21.4", "Offline", "hi")
        yield client.finished(30)
        reasons = [e.get("reason", "") for e in client.events if e["event"] in ("disconnected", "kicked")]
        self.assertTrue(reasons and "UNAUTHENTICATED_PLAYER" in reasons[0], client.events)


class RunbookTests(DeploymentCase):
    @defer.inlineCallbacks
    def test_startup_sync_procedure(self):
        """Runbook startup: health, config check, registry synced, then a controlled transfer."""
        deployment = Deployment(temp_dir(self))
        yield deployment.start(self)
        code, out = yield mcproxyctl("-c", str(deployment.proxy_config), "health")
        self.assertEqual(code, 0, out)
        self.assertIn("status: READY", out)
        for config in deployment.backend_configs.values():
            code, out = yield mcproxyctl("check-config", str(config))
            self.assertEqual(code, 0, out)
            code, out = yield mcproxyctl("-c", str(config), "sync-state")
            self.assertEqual(code, 0, out)
            self.assertIn("synchronized: yes", out)
        player = self.client(deployment, "1.21.4", "Traveller", "hello", linger=90000)
        yield player.wait_for("done", timeout=60)
        code, out = yield mcproxyctl("-c", str(deployment.backend_configs["lobby"]), "transfer", "Traveller", "game")
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))
        yield player.wait_for("system_chat", text="Welcome to game, Traveller. Type /help for commands.", timeout=20)

        @defer.inlineCallbacks
        def on_game():
            _, body = yield deployment.admin(deployment.backend_admin["game"], "/status")
            return "Traveller" in body["backend"]["players"]
        yield wait_until(on_game, 10, what="Traveller on the game backend")
        _, metrics = yield deployment.admin(deployment.proxy_admin, "/metrics")
        rejects = {sample.labels["reason"]: sample.value
                   for family in text_string_to_metric_families(metrics)
                   if family.name == "mcproxy_control_rejects" for sample in family.samples
                   if sample.name == "mcproxy_control_rejects_total"}
        for reason in ("VERSION_MISMATCH", "UNEXPECTED_SENDER", "INVALID_TIMESTAMP", "REPLAYED_NONCE",
                       "REPLAYED_SNAPSHOT"):
            self.assertEqual(rejects[reason], 0.0)

    @defer.inlineCallbacks
    def test_control_link_over_tls(self):
        """Over ssl: endpoints the backends verify the proxy's certificate name and sync."""
        deployment = Deployment(temp_dir(self), tls=True)
        yield deployment.start(self)
        for config in deployment.backend_configs.values():
            code, out = yield mcproxyctl("-c", str(config), "sync-state")
            self.assertEqual(code, 0, out)
            self.assertIn("synchronized: yes", out)
        player = self.client(deployment, "1.21.4", "Secure", "hello", linger=90000)
        yield player.wait_for("done", timeout=60)
        code, out = yield mcproxyctl("-c", str(deployment.backend_configs["lobby"]), "transfer", "Secure", "game")
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))

    @defer.inlineCallbacks
    def test_messaging_unavailable_and_restored(self):
        """Messaging cut: the backend keeps serving, transfers are refused; restored: resync, work again."""
        deployment = Deployment(temp_dir(self))
        # The backends reach the proxy's messaging port through a forwarder the test can cut.
        forwarder = CuttableForwarder("127.0.0.1", deployment.messaging_port)
        relay_port = reactor.listenTCP(0, forwarder, interface="127.0.0.1")
        cut_port = relay_port.getHost().port
        for path in deployment.backend_configs.values():
            text = path.read_text().replace(f"port={deployment.messaging_port}", f"port={cut_port}")
            path.write_text(text)
        yield deployment.start(self)
        lobby = str(deployment.backend_configs["lobby"])
        player = self.client(deployment, "1.21.4", "Steady", "hello", linger=150000)
        yield player.wait_for("done", timeout=60)

        yield relay_port.stopListening()
        forwarder.cut()

        @defer.inlineCallbacks
        def unsynchronized():
            code, out = yield mcproxyctl("-c", lobby, "sync-state")
            return code == 1 and "link_up: no" in out
        yield wait_until(unsynchronized, 20, what="lobby link down")
        code, out = yield mcproxyctl("-c", lobby, "transfer", "Steady", "game")
        self.assertEqual(code, 1)
        self.assertIn("UNSYNCHRONIZED_REGISTRY", out)
        code, out = yield mcproxyctl("-c", lobby, "health")
        self.assertEqual(code, 0, out)
        self.assertIn("status: DEGRADED", out)
        self.assertFalse([e for e in player.events if e["event"] in ("kicked", "disconnected", "end")])

        relay_port = reactor.listenTCP(cut_port, forwarder, interface="127.0.0.1")

        @defer.inlineCallbacks
        def synchronized():
            code, out = yield mcproxyctl("-c", lobby, "sync-state")
            return code == 0 and "synchronized: yes" in out
        yield wait_until(synchronized, 30, what="lobby resynchronized")
        code, out = yield mcproxyctl("-c", lobby, "transfer", "Steady", "game")
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))
        yield relay_port.stopListening()
        forwarder.cut()
