"""Several proxies, one network: real redis-server, real proxies, minecraft-protocol players."""

from __future__ import annotations

import json
import uuid

import txredisapi
from mcstatus import JavaServer
from twisted.internet import defer, reactor, threads
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.cluster_harness import (
    HEARTBEAT, ClusterProxy, HAProxy, haproxy_missing, redis_missing, running_redis,
)
from mcproxy.cluster.entry import PlayerEntry
from mcproxy.cluster.events import sealer
from mcproxy.cluster.signing import MessageSigner
from mcproxy.cluster.store import EVENTS, rpc_channel
from tests.integration.deployment import Deployment, http_json, mcproxyctl, wait_until
from tests.integration.harness import TEST_SECRET, NodePeer, listening_peer, node_missing, temp_dir
from tests.integration.proxy_harness import game_port, run_proxy

VERSION = "1.21.4"


def texts(peer: NodePeer) -> list[str]:
    return [e["text"] for e in peer.events if e["event"] == "system_chat"]


def counter(process, name: str, **labels) -> float:
    return sum(sample.value for family in process.registry.collect() for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


class ClusterCase(TestCase):
    """Mixin: a redis-server, echo backends ``lobby`` and ``games``, proxies added per test."""

    timeout = 240

    @defer.inlineCallbacks
    def setUp(self):
        reason = node_missing() or redis_missing()
        if reason:
            raise SkipTest(reason)
        self.folder = temp_dir(self)
        self.redis = yield running_redis(self, password=self.redis_password(),
                                         tls_dir=self.folder / "tls" if self.redis_tls() else None)
        self.backends = {}
        self.ports = {}
        for name in ("lobby", "games"):
            self.backends[name], self.ports[name] = yield listening_peer(self, "echo_server.js", VERSION)

    def redis_password(self) -> str | None:
        return None

    def redis_tls(self) -> bool:
        return False

    @defer.inlineCallbacks
    def proxy(self, proxy_id: str, twistd: bool = False, proxy_keys: str = "", behind_haproxy: bool = False):
        proxy = ClusterProxy(self, self.folder, self.ports, self.redis, proxy_id, proxy_keys, behind_haproxy)
        yield (proxy.start_twistd() if twistd else proxy.start())
        return proxy

    def player(self, proxy, name: str, *lines: str, linger: float = 60.0) -> NodePeer:
        """A minecraft-protocol player joining ``proxy`` (a ClusterProxy or anything with a port)."""
        peer = NodePeer("chat_client.js", "127.0.0.1", proxy.port, VERSION, name, *lines,
                        env={"LINGER_MS": str(int(linger * 1000)), "CLIENT_TIMEOUT_MS": "90000"})
        self.addCleanup(peer.stop)
        return peer

    @defer.inlineCallbacks
    def online(self, proxy: ClusterProxy, name: str):
        peer = self.player(proxy, name)
        yield peer.wait_for("done", 60)
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

    @defer.inlineCallbacks
    def test_alert_kick_and_ip_across_proxies(self):
        """/alert reaches players on both proxies; /ip and /kick find and act on a player on the other one."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        bob = yield self.online(two, "Bob")
        yield wait_until(lambda: "Bob" in self.network_names(one), 10, what="p1 sees Bob")
        admin = self.player(one, "Admin", "/alert Restart soon", "/ip Bob", "/kick Bob Be nice", linger=0)
        code = yield admin.finished(40)
        self.assertEqual(code, 0, admin.events)
        said = texts(admin)
        self.assertIn("Alert sent to 2 player(s).", said)
        self.assertIn("Bob is connected from 127.0.0.1.", said)
        self.assertIn("Kicked Bob.", said)
        yield bob.wait_for("end", 20)
        self.assertIn("[Alert] Restart soon", texts(bob))
        reasons = [e.get("reason", "") for e in bob.events if e["event"] in ("disconnected", "kicked")]
        self.assertEqual(reasons, ["Be nice"])
        yield wait_until(lambda: self.network_names(one) == [], 10, what="Bob gone from p1")


class SignedRequestsTests(ClusterCase):

    @defer.inlineCallbacks
    def test_forged_unsigned_and_replayed_requests_on_real_redis(self):
        """Requests published straight into Redis run only when signed with the network's secret, once."""
        one = yield self.proxy("p1")
        bob = yield self.online(one, "Bob")
        yield wait_until(lambda: "Bob" in self.network_names(one), 10, what="p1 lists Bob")
        client = yield txredisapi.Connection("127.0.0.1", self.redis.port, reconnect=False)
        self.addCleanup(client.disconnect)
        channel = rpc_channel("p1")
        kick = {"id": 1, "op": "kick_player", "args": {"player": "Bob", "reason": "forged"}}
        # What any Redis client could publish before requests were signed.
        yield client.publish(channel, json.dumps({"from": "p2", **kick}))
        forger = MessageSigner(reactor, "p2", b"a3f1c9e7b5d2086f4e1a3c5b7d9f0e2c")
        yield client.publish(channel, forger.seal("p1", kick))
        yield wait_until(lambda: counter(one.process, "mcproxy_cluster_bad_messages_total",
                                         reason="bad_signature") == 1, 10, what="forgery counted")
        self.assertEqual(counter(one.process, "mcproxy_cluster_bad_messages_total", reason="unsigned"), 1)
        self.assertNotIn("end", [e["event"] for e in bob.events])
        self.assertIn("Bob", self.network_names(one))
        genuine = MessageSigner(reactor, "p2", TEST_SECRET.encode()).seal(
            "p1", {"id": 2, "op": "alert", "args": {"text": "[Alert] once"}})
        yield client.publish(channel, genuine)
        yield client.publish(channel, genuine)
        yield wait_until(lambda: counter(one.process, "mcproxy_cluster_bad_messages_total",
                                         reason="replayed_nonce") == 1, 10, what="replay counted")
        yield bob.wait_for("system_chat", 10, text="[Alert] once")
        self.assertEqual(texts(bob).count("[Alert] once"), 1)
        self.assertEqual(counter(one.process, "mcproxy_cluster_rpc_total", operation="alert", outcome="served"), 1)
        logged = json.dumps([str(e) for e in one.events])
        self.assertNotIn(TEST_SECRET, logged)


    @defer.inlineCallbacks
    def test_forged_directory_events_on_real_redis(self):
        """Events published straight into Redis's events channel, unsigned or signed with another secret,
        neither add a ghost nor remove a player from any proxy's view; they are counted and logged once."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        bob = yield self.online(two, "Bob")
        yield wait_until(lambda: "Bob" in self.network_names(one), 10, what="p1 lists Bob")
        client = yield txredisapi.Connection("127.0.0.1", self.redis.port, reconnect=False)
        self.addCleanup(client.disconnect)
        ghost = PlayerEntry(str(uuid.uuid4()), "Ghost", "p2", "lobby", "203.0.113.9", 769, 0.0, "g").encode()
        held = two.process.cluster._sessions
        session = next(e.session for e in held.values() if e.name == "Bob")
        bob_id = str(two.process.core.players.find("Bob").profile.id)
        forger = MessageSigner(reactor, "p2", b"a3f1c9e7b5d2086f4e1a3c5b7d9f0e2c")
        yield client.publish(EVENTS, json.dumps({"op": "put", "proxy": "p2", "entry": ghost}))
        yield client.publish(EVENTS, json.dumps({"op": "del", "proxy": "p2", "uuid": bob_id, "session": session}))
        yield client.publish(EVENTS, sealer(forger)({"op": "put", "entry": ghost}))
        yield client.publish(EVENTS, sealer(forger)({"op": "del", "uuid": bob_id, "session": session}))
        yield wait_until(lambda: counter(one.process, "mcproxy_cluster_bad_messages_total",
                                         reason="bad_signature") == 2, 10, what="forgeries counted")
        self.assertEqual(counter(one.process, "mcproxy_cluster_bad_messages_total", reason="unsigned"), 2)
        self.assertEqual(self.network_names(one), ["Bob"])
        self.assertNotIn("end", [e["event"] for e in bob.events])
        warned = [e for e in one.events if "dropped an event" in e.get("log_format", "")]
        self.assertEqual(sorted(e["reason"] for e in warned), ["bad_signature", "unsigned"])
        # The genuine events still flow: a leave on p2 reaches p1.
        yield bob.stop()
        yield wait_until(lambda: self.network_names(one) == [], 10, what="Bob's leave seen by p1")
        self.assertNotIn(TEST_SECRET, json.dumps([str(e) for e in one.events]))


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
    def _old_session_ended(self, first: str, second: str):
        proxies = {}
        for proxy_id in ("p1", "p2"):
            proxies[proxy_id] = yield self.proxy(proxy_id, proxy_keys="kick_existing_players = true")
        old = yield self.online(proxies[first], "Alice")
        yield wait_until(lambda: "Alice" in self.network_names(proxies[second]), 10, what="Alice seen")
        new = yield self.online(proxies[second], "Alice")
        yield old.wait_for("end", 20)
        reasons = [e.get("reason", "") for e in old.events if e["event"] in ("disconnected", "kicked")]
        self.assertIn("You logged in from another location.", reasons)
        self.assertNotIn("end", [e["event"] for e in new.events])
        yield wait_until(lambda: [(e.name, e.proxy) for e in proxies[first].process.core.network.entries()]
                         == [("Alice", second)], 10, what=f"{first} sees Alice on {second} only")
        self.assertEqual(counter(proxies[second].process, "mcproxy_cluster_duplicate_logins_total",
                                 action="ended_old_session"), 1)

    def test_kick_existing_players_p1_then_p2(self):
        """With kick_existing_players = true, a login through p2 wins and the old session on p1 ends."""
        return self._old_session_ended("p1", "p2")

    def test_kick_existing_players_p2_then_p1(self):
        """With kick_existing_players = true, a login through p1 wins and the old session on p2 ends."""
        return self._old_session_ended("p2", "p1")


class FaultTests(ClusterCase):

    @defer.inlineCallbacks
    def test_sigkilled_proxy_players_leave_within_three_heartbeats(self):
        """A proxy killed with SIGKILL: its players leave every other proxy's /glist within three heartbeats."""
        one = yield self.proxy("p1")
        doomed = yield self.proxy("p3", twistd=True)
        yield self.online(one, "Alice")
        dave = yield self.online(doomed, "Dave")
        yield wait_until(lambda: self.network_names(one) == ["Alice", "Dave"], 10, what="p1 sees Dave")
        doomed.twistd.transport.signalProcess("KILL")
        killed = one.process.reactor.seconds()
        yield dave.wait_for("end", 20)
        yield wait_until(lambda: self.network_names(one) == ["Alice"], 3 * HEARTBEAT + 5, interval=0.05,
                         what="Dave gone from p1")
        # The key expires 3 intervals after the last beat and the next beat of p1 reaps it: at most
        # 4 intervals, plus slack for a loaded machine (the wait above would time out anyway).
        self.assertLess(one.process.reactor.seconds() - killed, 4 * HEARTBEAT + 2.0)
        self.assertEqual(counter(one.process, "mcproxy_cluster_reaped_proxies_total"), 1)

    @defer.inlineCallbacks
    def test_restarted_proxy_does_not_keep_its_predecessors_ghosts(self):
        """A proxy restarted with the same id at once (before it was found dead) drops what its predecessor held."""
        one = yield self.proxy("p1")
        doomed = yield self.proxy("p3", twistd=True)
        dave = yield self.online(doomed, "Dave")
        yield wait_until(lambda: "Dave" in self.network_names(one), 10, what="p1 sees Dave")
        doomed.twistd.transport.signalProcess("KILL")
        yield dave.wait_for("end", 20)
        yield doomed.twistd.protocol.ended
        reborn = yield self.proxy("p3")
        yield wait_until(lambda: self.network_names(one) == [], HEARTBEAT + 5, interval=0.05,
                         what="Dave's ghost gone from p1")
        self.assertEqual(self.network_names(reborn), [])
        # Not reaped as dead: the new process took its id over and republished.
        self.assertEqual(counter(one.process, "mcproxy_cluster_reaped_proxies_total"), 0)
        again = yield self.online(reborn, "Dave")
        self.assertNotIn("end", [e["event"] for e in again.events])

    @defer.inlineCallbacks
    def test_redis_stopped_and_restarted_with_players_online(self):
        """Redis down: each proxy serves and admits its own players, DEGRADED; back: republished within a beat."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        alice = yield self.online(one, "Alice")
        bob = yield self.online(two, "Bob")
        yield wait_until(lambda: self.network_names(one) == ["Alice", "Bob"], 10, what="p1 sees Bob")
        yield self.redis.stop()
        yield wait_until(lambda: not one.process.cluster._link.connected, 10, what="p1 notices")
        status, health = yield http_json(f"http://127.0.0.1:{one.admin_port}/health")
        self.assertEqual((status, health["status"]), (200, "DEGRADED"))
        self.assertEqual(health["checks"]["cluster"]["state"], "DEGRADED")
        self.assertEqual(self.network_names(one), ["Alice"])
        carol = self.player(one, "Carol", "/glist")
        yield carol.wait_for("done", 30)
        self.assertIn("[lobby] (2): Alice, Carol\nTotal players online: 2", texts(carol))
        self.assertGreaterEqual(counter(one.process, "mcproxy_cluster_local_fallbacks_total", operation="claim"), 1)
        self.assertNotIn("end", [e["event"] for e in alice.events + bob.events])
        yield self.redis.start()
        yield wait_until(lambda: one.process.cluster._link.connected and two.process.cluster._link.connected,
                         HEARTBEAT * 2 + 5, what="both relinked")
        yield wait_until(lambda: self.network_names(two) == ["Alice", "Bob", "Carol"], HEARTBEAT + 3,
                         interval=0.05, what="p2 sees p1's players again")
        status, health = yield http_json(f"http://127.0.0.1:{one.admin_port}/health")
        self.assertEqual(health["checks"]["cluster"]["state"], "OK")
        # The duplicate check is network-wide again.
        again = self.player(two, "Carol", "never sent")
        yield again.finished(40)
        self.assertEqual(counter(two.process, "mcproxy_refusals_total", reason="ALREADY_CONNECTED"), 1)


class RedisAuthTests(ClusterCase):

    def redis_password(self) -> str:
        return "7c1e0b9a4d2f86e35a0c"

    @defer.inlineCallbacks
    def test_password_from_file_is_used_and_never_logged(self):
        """A password-protected Redis works with redis_password_file, and the password appears in no log."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        yield self.online(one, "Alice")
        yield wait_until(lambda: self.network_names(two) == ["Alice"], 10, what="p2 sees Alice")
        for proxy in (one, two):
            self.assertNotIn(self.redis.password, repr(proxy.events))
            _, body = yield http_json(f"http://127.0.0.1:{proxy.admin_port}/status")
            self.assertNotIn(self.redis.password, repr(body))

    @defer.inlineCallbacks
    def test_wrong_password_degrades_without_a_traceback(self):
        """A wrong password: the proxy serves its own players, /health names WRONGPASS, nothing leaks."""
        proxy = ClusterProxy(self, self.folder, self.ports, self.redis, "p1")
        (proxy.path.parent / "redis.password").write_text("not-the-password-at-all\n")
        yield proxy.start(linked=False)
        yield wait_until(lambda: "WRONGPASS" in proxy.process.cluster._link.last_error, 10, what="refused")
        yield self.online(proxy, "Alice")
        status, health = yield http_json(f"http://127.0.0.1:{proxy.admin_port}/health")
        self.assertEqual((status, health["status"]), (200, "DEGRADED"))
        self.assertEqual(health["checks"]["cluster"]["detail"],
                         "redis unreachable (redis refused this proxy: WRONGPASS); serving this proxy's players only")
        self.assertEqual(self.network_names(proxy), ["Alice"])
        self.assertNotIn("not-the-password-at-all", repr(proxy.events))
        self.assertEqual([e for e in proxy.events if "log_failure" in e], [])
        self.assertEqual(self.flushLoggedErrors(), [])


class RedisTLSTests(ClusterCase):

    def redis_password(self) -> str:
        return "0d5b8e2f7a41c96e3b7d"

    def redis_tls(self) -> bool:
        return True

    @defer.inlineCallbacks
    def test_tls_with_password(self):
        """An ssl: endpoint reaches a TLS-only, password-protected Redis; players are shared over it."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        yield self.online(one, "Alice")
        yield wait_until(lambda: self.network_names(two) == ["Alice"], 10, what="p2 sees Alice over TLS")


class ControlPlaneAcrossProxiesTests(TestCase):
    """The shipped processes: backends linked to one proxy move a player another proxy holds."""

    timeout = 120

    def setUp(self):
        reason = node_missing() or redis_missing()
        if reason:
            raise SkipTest(reason)

    @defer.inlineCallbacks
    def test_backend_linked_to_one_proxy_transfers_a_player_on_another(self):
        """mcproxyctl transfer via a backend linked to p1 moves a player who joined through p2."""
        folder = temp_dir(self)
        redis = yield running_redis(self)
        deployment = Deployment(folder)
        cluster = (f'\n[cluster]\nenabled = true\nredis = "{redis.endpoint}"\nheartbeat_interval = {HEARTBEAT}\n')
        deployment.proxy_config.write_text(deployment.proxy_config.read_text() + cluster + 'proxy_id = "p1"\n')
        servers = "\n".join(f'{name} = "127.0.0.1:{port}"' for name, port in deployment.backend_ports.items())
        second = folder / "proxy-2.toml"
        second.write_text(f"""
[proxy]
bind = "tcp:0:interface=127.0.0.1"
online_mode = false
forwarding = "modern"

[security]
proxy_secret_file = "proxy.secret"

[servers]
{servers}
try = ["lobby"]

[messaging]
enabled = false

[admin]
bind = ""
{cluster}proxy_id = "p2"
""")
        yield deployment.start(self)
        p2 = yield run_proxy(self, second)
        traveller = NodePeer("chat_client.js", "127.0.0.1", game_port(p2), VERSION, "Traveller",
                             env={"LINGER_MS": "60000", "CLIENT_TIMEOUT_MS": "90000"})
        self.addCleanup(traveller.stop)
        yield traveller.wait_for("done", 60)

        @defer.inlineCallbacks
        def p1_sees_traveller():
            _, body = yield deployment.admin(deployment.proxy_admin, "/status")
            return body["cluster"]["by_proxy"] == {"p2": 1}
        yield wait_until(p1_sees_traveller, 15, what="p1 sees the player p2 holds")
        code, out = yield mcproxyctl("-c", str(deployment.backend_configs["lobby"]), "transfer", "Traveller", "game")
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))
        yield traveller.wait_for("system_chat", text="Welcome to game, Traveller. Type /help for commands.",
                                 timeout=20)
        self.assertEqual(counter(p2, "mcproxy_cluster_rpc_total", operation="transfer", outcome="served"), 1)
        code, out = yield mcproxyctl("-c", str(deployment.backend_configs["lobby"]), "transfer", "Nobody", "game")
        self.assertNotEqual(code, 0, out)


class BehindHAProxyTests(ClusterCase):

    @defer.inlineCallbacks
    def test_players_spread_by_haproxy_form_one_network(self):
        """HAProxy (PROXY v2, round robin) spreads players over two proxies; each proxy lists all, counts all
        in the status ping HAProxy relays, and refuses a second login of any of them."""
        reason = haproxy_missing()
        if reason:
            raise SkipTest(reason)
        one = yield self.proxy("p1", behind_haproxy=True)
        two = yield self.proxy("p2", behind_haproxy=True)
        haproxy = HAProxy(self.folder, [one.port, two.port])
        yield haproxy.start()
        self.addCleanup(haproxy.stop)
        names = ["Ann", "Ben", "Cat", "Dan"]
        for name in names:
            yield self.online(haproxy, name)
        bot = NodePeer("bot.js", "127.0.0.1", haproxy.port, VERSION, "Eve")
        self.addCleanup(bot.stop)
        yield bot.wait_for("spawn", timeout=40)
        everyone = sorted(names + ["Eve"])
        for proxy in (one, two):
            yield wait_until(lambda p=proxy: self.network_names(p) == everyone, 10, what=f"{proxy.proxy_id} sees all")
        held = {p.proxy_id: len(p.process.core.players) for p in (one, two)}
        self.assertEqual(sorted(held.values()), [2, 3], held)
        self.assertEqual({e.address for e in one.process.core.network.entries()}, {"127.0.0.1"})
        status = yield threads.deferToThread(lambda: JavaServer("127.0.0.1", haproxy.port).status())
        self.assertEqual(status.players.online, 5)
        for name in ("Ann", "Ben"):
            again = self.player(haproxy, name, "never sent")
            yield again.finished(40)
            reasons = [e.get("reason", "") for e in again.events if e["event"] in ("disconnected", "kicked")]
            self.assertTrue(any("already connected" in r for r in reasons), again.events)
