"""Several proxies, one network: real redis-server, real proxies, minecraft-protocol players."""

from __future__ import annotations

from mcstatus import JavaServer
from twisted.internet import defer, threads
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.cluster_harness import HEARTBEAT, ClusterProxy, RedisServer, redis_missing
from tests.integration.deployment import http_json, wait_until
from tests.integration.harness import NodePeer, free_port, node_missing, sleep, temp_dir

VERSION = "1.21.4"


def texts(peer: NodePeer) -> list[str]:
    return [e["text"] for e in peer.events if e["event"] == "system_chat"]


def counter(process, name: str, **labels) -> float:
    return sum(sample.value for family in process.registry.collect() for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


class ClusterCase(TestCase):
    """Mixin: a redis-server, echo backends ``lobby`` and ``games``, proxies added per test."""

    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        reason = node_missing() or redis_missing()
        if reason:
            raise SkipTest(reason)
        self.folder = temp_dir(self)
        self.redis = RedisServer(password=self.redis_password())
        yield self.redis.start()
        self.addCleanup(self.redis.stop)
        self.backends = {}
        self.ports = {}
        for name in ("lobby", "games"):
            port = free_port()
            peer = NodePeer("echo_server.js", port, VERSION)
            self.addCleanup(peer.stop)
            yield peer.wait_for("listening")
            self.backends[name] = peer
            self.ports[name] = port

    def redis_password(self) -> str | None:
        return None

    @defer.inlineCallbacks
    def proxy(self, proxy_id: str, twistd: bool = False, proxy_keys: str = ""):
        proxy = ClusterProxy(self, self.folder, self.ports, self.redis, proxy_id, proxy_keys)
        yield (proxy.start_twistd() if twistd else proxy.start())
        return proxy

    def player(self, proxy: ClusterProxy, name: str, *lines: str, linger: float = 60.0) -> NodePeer:
        peer = NodePeer("chat_client.js", "127.0.0.1", proxy.port, VERSION, name, *lines,
                        env={"LINGER_MS": str(int(linger * 1000)), "CLIENT_TIMEOUT_MS": "90000"})
        self.addCleanup(peer.stop)
        return peer

    @defer.inlineCallbacks
    def online(self, proxy: ClusterProxy, name: str):
        peer = self.player(proxy, name)
        yield peer.wait_for("done", 30)
        return peer

    def network_names(self, proxy: ClusterProxy) -> list[str]:
        return [e.name for e in proxy.process.core.network.entries()]


class NetworkViewTests(ClusterCase):

    @defer.inlineCallbacks
    def test_glist_find_and_status_count_across_proxies(self):
        """/glist, /find and the status ping's count on one proxy include the other proxy's players."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        yield self.online(one, "Alice")
        yield self.online(two, "Bob")
        yield wait_until(lambda: self.network_names(one) == ["Alice", "Bob"], 10, what="p1 sees Bob")
        status = yield threads.deferToThread(lambda: JavaServer("127.0.0.1", two.port).status())
        self.assertEqual(status.players.online, 2)
        asker = self.player(one, "Carol", "/glist", "/find Bob", linger=0)
        code = yield asker.finished(40)
        self.assertEqual(code, 0, asker.events)
        said = texts(asker)
        self.assertIn("[lobby] (3): Alice, Bob, Carol\nTotal players online: 3", said)
        self.assertIn("Bob is on lobby. (via proxy p2)", said)
        status, body = yield http_json(f"http://127.0.0.1:{two.admin_port}/status")
        self.assertEqual(body["cluster"]["proxy_id"], "p2")
        self.assertTrue(body["cluster"]["redis_connected"])

    @defer.inlineCallbacks
    def test_send_and_control_transfer_reach_a_player_on_another_proxy(self):
        """/send on one proxy moves a player held by another, and that player is told so there."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        bob = yield self.online(two, "Bob")
        yield wait_until(lambda: "Bob" in self.network_names(one), 10, what="p1 sees Bob")
        admin = self.player(one, "Admin", "/send Bob games", linger=0)
        code = yield admin.finished(40)
        self.assertEqual(code, 0, admin.events)
        self.assertIn("Sending 1 player(s) to games.", texts(admin))
        yield self.backends["games"].wait_for("join", 20, username="Bob")
        yield bob.wait_for("system_chat", 20, text="You are now connected to games.")
        yield wait_until(lambda: [e.server for e in one.process.core.network.entries() if e.name == "Bob"]
                         == ["games"], 10, what="p1 sees Bob on games")
        # The control plane's entry point: a transfer asked of p1 for a player p2 holds.
        result = yield one.process.core.network.transfer("Bob", "lobby")
        self.assertTrue(result.done, result)
        yield bob.wait_for("play", 20)
        self.assertGreaterEqual(counter(two.process, "mcproxy_cluster_rpc_total", operation="transfer",
                                        outcome="served"), 2)


class DuplicateLoginTests(ClusterCase):

    @defer.inlineCallbacks
    def _refused_on_other(self, first: str, second: str):
        proxies = {"p1": (yield self.proxy("p1")), "p2": (yield self.proxy("p2"))}
        alice = yield self.online(proxies[first], "Alice")
        yield wait_until(lambda: "Alice" in self.network_names(proxies[second]), 10, what="Alice seen")
        again = self.player(proxies[second], "Alice", "never sent")
        yield again.finished(40)
        reasons = [e.get("reason", "") for e in again.events if e["event"] in ("disconnected", "kicked")]
        self.assertTrue(any("already connected" in r for r in reasons), again.events)
        self.assertEqual(counter(proxies[second].process, "mcproxy_refusals_total", reason="ALREADY_CONNECTED"), 1)
        self.assertNotIn("end", [e["event"] for e in alice.events], "the first session must stay")

    def test_refused_p1_then_p2(self):
        """A UUID online on p1 cannot log in again through p2."""
        return self._refused_on_other("p1", "p2")

    def test_refused_p2_then_p1(self):
        """A UUID online on p2 cannot log in again through p1."""
        return self._refused_on_other("p2", "p1")

    @defer.inlineCallbacks
    def test_kick_existing_players_ends_the_old_session_on_the_other_proxy(self):
        """With kick_existing_players = true, the newcomer wins and the old session on the other proxy ends."""
        one = yield self.proxy("p1", proxy_keys="kick_existing_players = true")
        two = yield self.proxy("p2", proxy_keys="kick_existing_players = true")
        old = yield self.online(one, "Alice")
        yield wait_until(lambda: "Alice" in self.network_names(two), 10, what="Alice seen by p2")
        new = yield self.online(two, "Alice")
        yield old.wait_for("end", 20)
        reasons = [e.get("reason", "") for e in old.events if e["event"] in ("disconnected", "kicked")]
        self.assertIn("You logged in from another location.", reasons)
        self.assertNotIn("end", [e["event"] for e in new.events])
        yield wait_until(lambda: [(e.name, e.proxy) for e in one.process.core.network.entries()]
                         == [("Alice", "p2")], 10, what="p1 sees Alice on p2 only")
