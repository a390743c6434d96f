"""The Redis player directory's logic on a Clock, against an in-memory Redis with its semantics."""

from __future__ import annotations

import json
import uuid

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mcproxy.cluster.directory import ClusterDirectory
from mcproxy.cluster.entry import PlayerEntry
from mcproxy.cluster.events import MAX_EVENT_BYTES, sealer
from mcproxy.cluster.metrics import ClusterMetrics
from mcproxy.cluster.writes import MAX_BATCH
from mcproxy.cluster.signing import MessageSigner
from mcproxy.cluster.store import EVENTS, batch_body, rpc_channel, split_applied, update_op
from mcproxy.interfaces import IPlayerDirectory
from mcproxy.ops.health import CheckState
from mcproxy.proxy.core import PlayerDirectory
from mcproxy.proxy.directory import KICKED, ProxyDirectory
from mcproxy.testing import FakeRedisLink, InMemoryRedis

INTERVAL = 1.0
#: The network's shared proxy_secret in these tests.
SECRET = b"4f9c2a7e1b8d3c6f0a5e9b2d7c4f1a8e"


class FakeHandler:
    """The play handler's sends a directory uses: what reached the backend, and components shown."""

    def __init__(self) -> None:
        self.plugin_messages: list[tuple[str, bytes]] = []
        self.components: list = []

    def send_plugin_message_up(self, channel: str, data: bytes) -> None:
        self.plugin_messages.append((channel, data))

    def send_system_component(self, component) -> None:
        self.components.append(component)


class FakeConnection:
    """A player connection as the directory sees it."""

    def __init__(self, name: str, player_id: uuid.UUID | None = None) -> None:
        self.handler = FakeHandler()
        self.transfers: list[tuple] = []
        self.profile = type("Profile", (), {"name": name, "id": player_id or uuid.uuid4()})()
        self.server = None
        self.correlation_id = name
        self.address = "203.0.113.7"
        self.handshake = type("Handshake", (), {"protocol": 769})()
        self.disconnected: list[str] = []
        self.messages: list[str] = []
        self.switches: list[str] = []
        self.probe = False

    def disconnect(self, message: str) -> None:
        self.disconnected.append(message)

    def send_system_message(self, text: str) -> None:
        self.messages.append(text)

    def switch_to(self, server: str, cause=None) -> defer.Deferred:
        self.switches.append(server)
        self.server = server
        return defer.succeed(f"You are now connected to {server}.")

    def transfer_out(self, host: str, port: int = 25565, server: str | None = None) -> None:
        if host == "refuse.example":
            raise ValueError("the player cannot be transferred right now")
        self.transfers.append((host, port, server))


class FakeCore:
    """What the in-process directory uses of ProxyCore, take_over as ProxyCore does it."""

    def __init__(self, clock: Clock, kick: bool = False) -> None:
        self.reactor = clock
        self.kick = kick
        self.log = Logger(observer=lambda event: None)
        self.players = PlayerDirectory()
        self.router = type("Router", (), {"servers": {"lobby": None, "games": None}})()
        self.commands = None

    def take_over(self, existing) -> bool:
        if not self.kick:
            return False
        self.players.remove(existing)
        existing.disconnect(KICKED)
        return True


class Proxy:
    """One proxy of the test network: its core, Redis link, directory and metrics."""

    def __init__(self, redis: InMemoryRedis, proxy_id: str, kick: bool = False, secret: bytes = SECRET) -> None:
        self.core = FakeCore(redis.clock, kick)
        self.link = FakeRedisLink()
        self.registry = CollectorRegistry()
        self.log: list[dict] = []
        log = Logger(observer=self.log.append)
        signer = MessageSigner(redis.clock, proxy_id, secret, log=log)
        self.seal = sealer(signer)
        self.directory = ClusterDirectory(
            redis.clock, ProxyDirectory(self.core), self.link, proxy_id, INTERVAL,
            ClusterMetrics(self.registry), log, signer, kick_existing=kick,
            store=redis.store(proxy_id, self.seal))
        redis.subscribe(EVENTS, self.directory.message)
        redis.subscribe(rpc_channel(proxy_id), self.directory.message)
        self.directory.startService()
        self.link.set_connected(True)

    def join(self, name: str, server: str = "lobby", player_id: uuid.UUID | None = None) -> FakeConnection:
        connection = FakeConnection(name, player_id)
        admitted = []
        self.directory.claim(connection).addCallback(admitted.append)
        self.turn()
        assert admitted == [True], admitted
        connection.server = server
        self.core.players.add(connection)
        self.directory.joined(connection)
        self.turn()
        return connection

    def leave(self, connection: FakeConnection) -> None:
        self.core.players.remove(connection)
        self.directory.left(connection)
        self.turn()

    def turn(self) -> None:
        """The end of the reactor turn: the directory's gathered writes go to Redis."""
        self.core.reactor.advance(0)

    def names(self) -> list[str]:
        return [e.name for e in self.directory.entries()]

    def metric(self, name: str, **labels) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def join_network(core, redis: InMemoryRedis, proxy_id: str) -> ClusterDirectory:
    """Make a real ProxyCore (a session rig's) a member of ``redis``'s network as ``proxy_id``."""
    link = FakeRedisLink()
    signer = MessageSigner(core.reactor, proxy_id, SECRET)
    directory = ClusterDirectory(core.reactor, core.network, link, proxy_id, INTERVAL,
                                 ClusterMetrics(CollectorRegistry()), core.log, signer,
                                 store=redis.store(proxy_id, sealer(signer)))
    redis.subscribe(EVENTS, directory.message)
    redis.subscribe(rpc_channel(proxy_id), directory.message)
    directory.startService()
    link.set_connected(True)
    core.network = directory
    return directory


def result_of(d: defer.Deferred):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


class ClusterDirectoryTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = InMemoryRedis(self.clock)

    def test_interface(self) -> None:
        """Both directories provide IPlayerDirectory."""
        one = Proxy(self.redis, "p1")
        verifyObject(IPlayerDirectory, one.directory)
        verifyObject(IPlayerDirectory, ProxyDirectory(FakeCore(self.clock)))

    def test_view_spans_proxies(self) -> None:
        """Players of every proxy are listed, counted and found by name or UUID on each proxy."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        one.join("Alice")
        bob = two.join("Bob", "games")
        self.assertEqual(one.names(), ["Alice", "Bob"])
        self.assertEqual(one.directory.online_count(), 2)
        self.assertEqual(one.directory.locate("bob").proxy, "p2")
        self.assertEqual(one.directory.locate(str(bob.profile.id)).server, "games")
        self.assertTrue(one.directory.has_player("Bob"))
        two.leave(bob)
        self.assertEqual(one.names(), ["Alice"])

    def test_view_is_rebuilt_only_after_a_change(self) -> None:
        """Status pings between changes reuse one view; any change (here or elsewhere) rebuilds it."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        one.join("Alice")
        first = one.directory._view()
        self.assertIs(one.directory._view(), first)
        two.join("Bob")
        second = one.directory._view()
        self.assertIsNot(second, first)
        one.link.set_connected(False)
        self.assertEqual(list(one.directory._view()), [e.uuid for e in one.directory.entries()])
        self.assertEqual(one.directory.online_count(), 1)

    def test_entry_fields(self) -> None:
        """An entry records UUID, name, proxy, server, address, protocol and login time."""
        one = Proxy(self.redis, "p1")
        self.clock.advance(42)
        alice = one.join("Alice")
        entry = PlayerEntry.decode(self.redis.players[str(alice.profile.id)])
        self.assertEqual((entry.name, entry.proxy, entry.server, entry.address, entry.protocol, entry.login_time),
                         ("Alice", "p1", "lobby", "203.0.113.7", 769, 42.0))

    def test_duplicate_login_refused_across_proxies(self) -> None:
        """A UUID online on one proxy is refused on another, and counted."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        alice = one.join("Alice")
        again = FakeConnection("Alice", alice.profile.id)
        claimed = two.directory.claim(again)
        two.turn()
        self.assertIs(result_of(claimed), False)
        self.assertEqual(two.metric("mcproxy_cluster_duplicate_logins_total", action="refused"), 1)
        self.assertEqual(alice.disconnected, [])
        self.assertEqual(one.names(), ["Alice"])

    def test_duplicate_login_refused_on_same_proxy(self) -> None:
        """A second login through the same proxy is refused without asking Redis."""
        one = Proxy(self.redis, "p1")
        alice = one.join("Alice")
        self.redis.down = True
        self.assertIs(result_of(one.directory.claim(FakeConnection("Alice", alice.profile.id))), False)

    def test_kick_existing_players_ends_the_session_on_the_other_proxy(self) -> None:
        """With kick_existing_players, the newcomer is admitted and the old session's proxy ends it."""
        one, two = Proxy(self.redis, "p1", kick=True), Proxy(self.redis, "p2", kick=True)
        alice = one.join("Alice")
        newcomer = two.join("Alice", player_id=alice.profile.id)
        self.assertEqual(alice.disconnected, [KICKED])
        self.assertEqual([(e.name, e.proxy) for e in one.directory.entries()], [("Alice", "p2")])
        # The old session's late leave does not remove the new one.
        one.leave(alice)
        self.assertEqual([(e.name, e.proxy) for e in two.directory.entries()], [("Alice", "p2")])
        # Nor does the old entry linger in either view once the new session ends.
        two.leave(newcomer)
        self.assertEqual((one.names(), two.names()), ([], []))

    def test_redis_down_admits_locally_then_republishes(self) -> None:
        """Redis down: logins are admitted on a local check (counted), DEGRADED; back: republished at once."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        two.join("Bob")
        self.redis.down = True
        one.link.set_connected(False)
        two.link.set_connected(False)
        one.join("Carol")
        self.assertEqual(one.metric("mcproxy_cluster_local_fallbacks_total", operation="claim"), 1)
        self.assertEqual(one.names(), ["Carol"])
        self.assertEqual(one.directory.check().state, CheckState.DEGRADED)
        self.redis.down = False
        one.link.set_connected(True)
        two.link.set_connected(True)
        self.assertEqual(two.names(), ["Bob", "Carol"])
        self.assertEqual(one.names(), ["Bob", "Carol"])
        self.assertEqual(one.directory.check().state, CheckState.OK)

    def test_redis_restarted_empty_is_refilled_within_one_heartbeat(self) -> None:
        """A Redis that lost everything gets each proxy's players back on that proxy's next beat."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        one.join("Alice")
        two.join("Bob")
        self.redis.players.clear()
        self.redis.alive.clear()
        self.redis.by_proxy.clear()
        self.clock.advance(INTERVAL)
        self.assertEqual(sorted(self.redis.players), sorted(e.uuid for e in one.directory.entries()))
        self.assertEqual(one.names(), ["Alice", "Bob"])

    def test_heartbeats_resume_after_a_failed_one(self) -> None:
        """A heartbeat Redis fails is retried on the next interval, and republishes what it may have lost."""
        one = Proxy(self.redis, "p1")
        one.join("Alice")
        published = one.metric("mcproxy_cluster_republished_total")
        self.redis.down = True
        self.clock.advance(INTERVAL)
        self.redis.down = False
        self.redis.players.clear()
        self.clock.advance(INTERVAL)
        self.assertEqual(one.metric("mcproxy_cluster_republished_total"), published + 1)
        self.assertEqual([PlayerEntry.decode(t).name for t in self.redis.players.values()], ["Alice"])

    def test_dead_proxy_reaped_after_three_heartbeats(self) -> None:
        """A proxy silent for three intervals is dead: a survivor removes its players, counted once."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        one.join("Alice")
        two.join("Bob")
        self.clock.advance(INTERVAL)
        two.directory._loop.stop()  # killed: no more heartbeats, no goodbye
        self.clock.advance(2 * INTERVAL)
        self.assertEqual(one.names(), ["Alice", "Bob"])
        self.clock.advance(INTERVAL)
        self.assertEqual(one.names(), ["Alice"])
        self.assertEqual(one.metric("mcproxy_cluster_reaped_proxies_total"), 1)

    def test_restarted_proxy_drops_its_predecessors_ghosts(self) -> None:
        """A new process with the same id replaces what the old one held on its first beat."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        two.join("Bob")
        two.directory._loop.stop()
        reborn = Proxy(self.redis, "p2")
        self.assertEqual(one.names(), [])
        self.assertEqual(reborn.names(), [])
        self.assertEqual(one.metric("mcproxy_cluster_reaped_proxies_total"), 0)

    def test_stopping_leaves_at_once(self) -> None:
        """A proxy shut down cleanly takes its players out of the directory without waiting."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        two.join("Bob")
        result_of(two.directory.stopService())
        self.assertEqual(one.names(), [])
        self.assertFalse(two.link.running)

    def test_leaving_while_the_claim_is_in_flight_releases_it(self) -> None:
        """A player gone before Redis answered its claim does not stay in the directory."""
        one = Proxy(self.redis, "p1")
        self.redis.hold = {"apply"}
        alice = FakeConnection("Alice")
        admitted = one.directory.claim(alice)
        one.turn()
        one.directory.left(alice)
        self.redis.hold = set()
        self.redis.release_held()
        one.turn()
        self.assertIs(result_of(admitted), False)
        self.assertEqual(self.redis.players, {})

    def test_changes_during_a_refresh_survive_it(self) -> None:
        """A snapshot answered after a join and a leave it predates does not undo them."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        leaver = two.join("Leaver")
        self.redis.hold = {"entries"}
        self.clock.advance(INTERVAL)  # p1's (and p2's) heartbeat snapshots are now on their way
        two.join("Bob")
        two.leave(leaver)
        self.redis.release_held()
        self.assertEqual(one.names(), ["Bob"])

    def test_transfer_and_execute_run_on_the_players_proxy(self) -> None:
        """Moving a player held by another proxy is done there, and its answer comes back."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        bob = two.join("Bob")
        result = result_of(one.directory.transfer("Bob", "games", notify=True))
        self.assertTrue(result.done)
        self.assertEqual(bob.switches, ["games"])
        self.assertEqual(bob.messages, ["You are now connected to games."])
        two.directory.moved(bob)  # what ProxyCore.player_moved does once the switch completes
        two.turn()
        self.assertEqual(one.directory.locate("Bob").server, "games")
        self.assertEqual(two.metric("mcproxy_cluster_rpc_total", operation="transfer", outcome="served"), 1)
        self.assertEqual(one.metric("mcproxy_cluster_rpc_total", operation="transfer", outcome="answered"), 1)

    def test_kick_and_alert_reach_every_proxy(self) -> None:
        """/kick ends a session on the player's own proxy; /alert reaches every proxy and counts them all."""
        one, two, three = Proxy(self.redis, "p1"), Proxy(self.redis, "p2"), Proxy(self.redis, "p3")
        alice, bob, cat = one.join("Alice"), two.join("Bob"), three.join("Cat")
        self.assertIs(result_of(one.directory.kick("bob", "Be nice")), True)
        self.assertEqual((bob.disconnected, alice.disconnected), (["Be nice"], []))
        self.assertIs(result_of(one.directory.kick("Nobody", "x")), False)
        self.assertEqual(result_of(one.directory.alert("[Alert] Restart")), 3)
        self.assertEqual([p.messages for p in (alice, bob, cat)], [["[Alert] Restart"]] * 3)
        self.assertEqual(two.metric("mcproxy_cluster_rpc_total", operation="kick_player", outcome="served"), 1)

    def test_unanswered_request_times_out(self) -> None:
        """A proxy that does not answer fails the request after the timeout instead of hanging."""
        one = Proxy(self.redis, "p1")
        ghost = PlayerEntry(str(uuid.uuid4()), "Zed", "p9", "lobby", "", 769, 0.0, "s")
        self.redis.subscribe(rpc_channel("p9"), lambda channel, message: None)
        p9 = MessageSigner(self.clock, "p9", SECRET)
        one.directory.message(EVENTS, sealer(p9)({"op": "put", "entry": ghost.encode()}))
        d = one.directory.transfer("Zed", "games")
        self.assertNoResult(d)
        self.clock.advance(5)
        result = result_of(d)
        self.assertFalse(result.done)
        self.assertIn("did not answer", result.reason)
        self.assertEqual(one.metric("mcproxy_cluster_rpc_total", operation="transfer", outcome="timeout"), 1)

    def test_malformed_messages_are_counted_not_raised(self) -> None:
        """Garbage on the events or request channel is refused with a counter."""
        one = Proxy(self.redis, "p1")
        peer = MessageSigner(self.clock, "p2", SECRET)
        one.directory.message(EVENTS, "not json")
        one.directory.message(EVENTS, sealer(peer)({"op": "put", "entry": "{}"}))
        one.directory.message(EVENTS, sealer(peer)({"op": "format_disk"}))
        one.directory.message(rpc_channel("p1"), "[1, 2]")
        one.directory.message(rpc_channel("p1"), peer.seal("p1", {"id": 1, "op": "format_disk", "args": {}}))
        one.directory.message(rpc_channel("p1"), peer.seal("p1", {"reply": 99, "result": {}}))
        one.directory.message(rpc_channel("p1"), "x" * 70000)
        one.directory.message(EVENTS, "x" * 70000)
        self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason="bad_event"), 2)
        for reason, count in (("not_json", 1), ("not_an_object", 1), ("unknown_operation", 1),
                              ("unexpected_reply", 1), ("too_large", 2)):
            self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason=reason), count, reason)

    def test_forged_and_replayed_events_change_no_view(self) -> None:
        """Events not sealed by a proxy of the network (unsigned as in 0.4, another secret, a request
        copied over, a replay) are dropped and counted: no ghost appears, no player disappears."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        bob = two.join("Bob")
        ghost = PlayerEntry(str(uuid.uuid4()), "Ghost", "p2", "lobby", "", 769, 0.0, "s").encode()
        forger = MessageSigner(self.clock, "p2", b"0" * 32)
        genuine = MessageSigner(self.clock, "p2", SECRET)
        gone = {"op": "del", "uuid": str(bob.profile.id), "session": two.directory._sessions[bob].session}
        self.redis.publish(EVENTS, json.dumps({"op": "put", "proxy": "p2", "entry": ghost}))
        self.redis.publish(EVENTS, sealer(forger)({"op": "put", "entry": ghost}))
        self.redis.publish(EVENTS, genuine.seal("p1", {"op": "put", "entry": ghost}))
        self.redis.publish(EVENTS, sealer(forger)(gone))
        self.clock.advance(31)
        self.redis.publish(EVENTS, sealer(MessageSigner(Clock(), "p2", SECRET))({"op": "put", "entry": ghost}))
        self.assertEqual(one.names(), ["Bob"])
        for reason, count in (("unsigned", 1), ("bad_signature", 2), ("wrong_recipient", 1),
                              ("invalid_timestamp", 1)):
            self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason=reason), count, reason)
        put = sealer(genuine)({"op": "put", "entry": ghost})
        self.redis.publish(EVENTS, put)
        self.assertEqual(one.names(), ["Bob", "Ghost"])
        self.redis.publish(EVENTS, sealer(genuine)({"op": "del", "uuid": json.loads(ghost)["uuid"], "session": "s"}))
        self.redis.publish(EVENTS, put)
        self.assertEqual(one.names(), ["Bob"])
        self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason="replayed_nonce"), 1)
        # What claims to be p2's own event is skipped by p2 unopened (its echo of its own events costs
        # no check); the rest it refuses like p1 does.
        self.assertEqual(two.metric("mcproxy_cluster_bad_messages_total", reason="replayed_nonce"), 0)
        self.assertEqual(two.metric("mcproxy_cluster_bad_messages_total", reason="unsigned"), 1)
        # One warning per reason (per minute), naming the reason only.
        warnings = [e for e in one.log if "dropped an event" in e.get("log_format", "")]
        self.assertEqual(sorted(e["reason"] for e in warnings),
                         ["bad_signature", "invalid_timestamp", "replayed_nonce", "unsigned", "wrong_recipient"])


class ProxyDirectoryTests(SynchronousTestCase):
    """The in-process directory: today's single-proxy behaviour."""

    def test_duplicate_refused_or_old_session_ended(self) -> None:
        """A second login is refused, or with kick_existing_players the first session is ended."""
        for kick, admitted, ended in ((False, False, []), (True, True, [KICKED])):
            core = FakeCore(Clock(), kick)
            directory = ProxyDirectory(core)
            alice = FakeConnection("Alice")
            alice.server = "lobby"
            core.players.add(alice)
            self.assertIs(result_of(directory.claim(FakeConnection("Alice", alice.profile.id))), admitted)
            self.assertEqual(alice.disconnected, ended)

    def test_entries_and_count(self) -> None:
        """The network is this proxy: its players, counted and found."""
        clock = Clock()
        core = FakeCore(clock)
        directory = ProxyDirectory(core)
        alice = FakeConnection("Alice")
        alice.server = "lobby"
        core.players.add(alice)
        clock.advance(7)
        directory.joined(alice)
        self.assertEqual(directory.online_count(), 1)
        self.assertEqual([(e.name, e.server, e.login_time) for e in directory.entries()], [("Alice", "lobby", 7.0)])
        self.assertEqual(directory.locate("ALICE").name, "Alice")


class BatchedWritesTests(SynchronousTestCase):
    """A reactor turn's claims, updates and releases travel as one script and one event."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = InMemoryRedis(self.clock)
        self.events: list[str] = []
        self.redis.subscribe(EVENTS, lambda channel, message: self.events.append(message))

    def test_one_script_and_one_event_per_turn(self) -> None:
        """Three logins, one reaching play and one leaving, all in one turn: one script, one event."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        bob = two.join("Bob")
        two.leave(bob)  # another proxy's turn: its own script and event
        batches, self.events[:] = one.directory.writes.batches, []
        claims = []
        for name in ("Alice", "Carol", "Dave"):
            connection = FakeConnection(name)
            one.directory.claim(connection).addCallback(claims.append)
            if name == "Carol":
                carol = connection
        self.assertEqual(claims, [])
        one.turn()
        self.assertEqual(claims, [True, True, True])
        carol.server = "lobby"
        one.directory.joined(carol)
        one.directory.left(next(c for c in one.directory._sessions if c.profile.name == "Dave"))
        one.turn()
        self.assertEqual(one.directory.writes.batches - batches, 2)
        # One event, for the second turn: fresh claims take no one's place and change no view.
        self.assertEqual(len(self.events), 1)
        sealed, applied = split_applied(self.events[0])
        changes = json.loads(json.loads(sealed)["msg"])["body"]["changes"]
        self.assertEqual(([c["op"] for c in changes], applied), (["put", "del"], "11"))
        self.assertEqual(two.names(), ["Carol"])

    def test_own_events_are_skipped_unparsed(self) -> None:
        """A proxy recognises its own batch by its first bytes; another proxy's it applies."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        one.join("Alice")
        own = self.events[-1]
        before = one.directory.others.version
        one.directory.message(EVENTS, own[:60] + "not json")
        self.assertEqual(one.directory.others.version, before)
        self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason="not_json"), 0)
        two.directory.message(EVENTS, own[:60] + "not json")
        self.assertEqual(two.metric("mcproxy_cluster_bad_messages_total", reason="not_json"), 1)

    def test_only_the_changes_that_took_effect_are_applied(self) -> None:
        """A batch's flags say which changes Redis made; a refused update changes no view."""
        one, two = Proxy(self.redis, "p1", kick=True), Proxy(self.redis, "p2", kick=True)
        alice = one.join("Alice")
        stale = one.directory._sessions[alice]
        two.join("Alice", player_id=alice.profile.id)  # takes over: p1's session is over in Redis
        self.events[:] = []
        one.directory.writes.update(stale.replace(server="games"))
        one.turn()
        self.assertEqual(self.events, [])  # nothing took effect: nothing published
        self.assertEqual([(e.name, e.proxy, e.server) for e in two.directory.entries()], [("Alice", "p2", "lobby")])
        # Had it been published, its flag would have kept the stale entry out of every view.
        envelope = one.seal(batch_body([update_op(stale.replace(server="games"), stale.encode())]))
        self.assertEqual(split_applied(envelope), (envelope, None))
        two.directory.message(EVENTS, envelope + "|0")
        self.assertEqual([(e.name, e.proxy, e.server) for e in two.directory.entries()], [("Alice", "p2", "lobby")])
        two.directory.message(EVENTS, envelope + "|1")  # the same envelope with other flags: a replay
        self.assertEqual(two.metric("mcproxy_cluster_bad_messages_total", reason="replayed_nonce"), 1)

    def test_a_failed_script_falls_back_for_each_write(self) -> None:
        """Redis failing a turn's script: each write in it is done locally and counted by operation."""
        one = Proxy(self.redis, "p1")
        alice = one.join("Alice")
        claims = []
        bob = FakeConnection("Bob")
        one.directory.claim(bob).addCallback(claims.append)
        one.directory.left(alice)
        self.redis.down = True
        one.turn()
        self.assertEqual(claims, [True])
        self.assertEqual([one.metric("mcproxy_cluster_local_fallbacks_total", operation=op)
                          for op in ("claim", "release")], [1, 1])

    def test_stopping_sends_the_turns_writes_before_leaving(self) -> None:
        """A release still gathered when the proxy stops reaches Redis before the withdrawal."""
        one = Proxy(self.redis, "p1")
        alice = one.join("Alice")
        self.redis.hold = {"apply"}
        one.directory.left(alice)
        result_of(one.directory.stopService())
        self.assertEqual(self.redis.players, {})
        self.assertEqual(len(self.redis.held), 1)

    def test_a_crowded_turn_goes_as_several_scripts_each_event_within_bounds(self) -> None:
        """More writes in one turn than an event may carry: several scripts, each event under the receivers' bound."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        crowd = [FakeConnection(f"Player_{i:08d}") for i in range(MAX_BATCH * 2 + 1)]
        for connection in crowd:
            connection.address = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
            one.directory.claim(connection)
        one.turn()
        batches, self.events[:] = one.directory.writes.batches, []
        for connection in crowd:
            connection.server = "a-server-with-a-rather-long-name"
            one.directory.joined(connection)
        one.turn()
        self.assertEqual(one.directory.writes.batches - batches, 3)
        self.assertEqual(len(self.events), 3)
        self.assertLess(max(len(event) for event in self.events), MAX_EVENT_BYTES)
        self.assertEqual(len(two.names()), len(crowd))
