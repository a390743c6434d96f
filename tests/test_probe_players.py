"""Smoke bots armed by name: one login each, expiring, bounded, and absent from player lists."""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.admin import ActionError
from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.core import ProxyCore, ProxySettings
from mcproxy.proxy.probes import MAX_ARMED_NAMES, ProbeNames, arm_request
from tests.test_cluster_directory import FakeConnection, InMemoryRedis, Proxy


class ProbeNamesTests(SynchronousTestCase):
    def test_one_use(self) -> None:
        """An armed name marks one login, whatever its case; the next login is a player."""
        names = ProbeNames(Clock())
        self.assertTrue(names.arm(["smk1a2b_0"], 60))
        self.assertTrue(names.take("SMK1A2B_0"))
        self.assertFalse(names.take("smk1a2b_0"))

    def test_unarmed_name_is_a_player(self) -> None:
        """No pattern marks a probe: a name that looks like a bot's but was not armed is not one."""
        names = ProbeNames(Clock())
        names.arm(["smk1a2b_0"], 60)
        self.assertFalse(names.take("smk1a2b_1"))

    def test_expiry(self) -> None:
        """An armed name unused within its ttl is forgotten."""
        clock = Clock()
        names = ProbeNames(clock)
        names.arm(["smk1a2b_0", "smk1a2b_1"], 10)
        clock.advance(9)
        self.assertTrue(names.take("smk1a2b_0"))
        clock.advance(2)
        self.assertFalse(names.take("smk1a2b_1"))
        self.assertEqual(len(names), 0)

    def test_bound(self) -> None:
        """Past the bound nothing more is armed, until earlier names expire."""
        clock = Clock()
        names = ProbeNames(clock)
        self.assertTrue(names.arm([f"bot{n}" for n in range(MAX_ARMED_NAMES)], 10))
        self.assertFalse(names.arm(["onemore"], 10))
        self.assertFalse(names.take("onemore"))
        clock.advance(11)
        self.assertTrue(names.arm(["onemore"], 10))
        self.assertTrue(names.take("onemore"))


class ArmRequestTests(SynchronousTestCase):
    def test_accepted(self) -> None:
        self.assertEqual(arm_request({"names": ["smk1a2b_0"], "ttl": 30}), (["smk1a2b_0"], 30.0))

    def test_refused(self) -> None:
        """Anything but 1 to 64 valid player names and a ttl up to 300 s is refused with a reason."""
        for body in ({}, {"names": []}, {"names": "smk"}, {"names": ["a b"]}, {"names": ["x" * 17]},
                     {"names": [f"bot{n}" for n in range(65)]}, {"names": ["smk1a2b_0"], "ttl": 0},
                     {"names": ["smk1a2b_0"], "ttl": 301}, {"names": ["smk1a2b_0"], "ttl": True}):
            with self.assertRaises(ActionError, msg=repr(body)):
                arm_request(body)


class Session:
    def __init__(self, name: str) -> None:
        self.profile = type("Profile", (), {"name": name, "id": uuid.uuid4()})()
        self.handshake = type("Handshake", (), {"protocol": 775})()
        self.correlation_id = name
        self.server = "lobby"
        self.probe = False


class HiddenFromListsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.registry = CollectorRegistry()
        self.core = ProxyCore(MemoryReactorClock(), ProxySettings(online_mode=False), status=None, router=None,
                              metrics=ProxyMetrics(self.registry), log=Logger(observer=lambda e: None))
        self.alice, self.bot = Session("Alice"), Session("smk1a2b_0")
        self.bot.probe = True
        self.core.player_joined(self.alice)
        self.core.player_joined(self.bot)

    def test_lists_and_counts(self) -> None:
        """/glist, the status count and sample and query read entries and the count; /find locates."""
        network = self.core.network
        self.assertEqual([e.name for e in network.entries()], ["Alice"])
        self.assertEqual(network.online_count(), 1)
        self.assertEqual(self.core.online_count(), 1)
        self.assertIsNone(network.locate("smk1a2b_0"))
        self.assertEqual(network.locate("alice").name, "Alice")

    def test_metrics_apart(self) -> None:
        """The bot is counted under mcproxy_probe_players, not in mcproxy_players."""
        value = self.registry.get_sample_value
        self.assertEqual(value("mcproxy_players", {"protocol": "775", "version": "26.1-26.1.2"}), 1)
        self.assertEqual(value("mcproxy_probe_players"), 1)
        self.core.connection_closed(self.bot, type("Phase", (), {"value": "relay"})())
        self.assertEqual(value("mcproxy_probe_players"), 0)
        self.assertEqual(value("mcproxy_players", {"protocol": "775", "version": "26.1-26.1.2"}), 1)


class ClusterHidingTests(SynchronousTestCase):
    def test_not_in_any_proxys_view(self) -> None:
        """A bot keeps its claim but no proxy of the network lists, counts or finds it."""
        redis = InMemoryRedis(Clock())
        one, two = Proxy(redis, "p1"), Proxy(redis, "p2")
        one.join("Alice")
        bot = FakeConnection("smk1a2b_0")
        bot.probe = True
        one.directory.claim(bot)
        bot.server = "lobby"
        one.core.players.add(bot)
        one.directory.joined(bot)
        for proxy in (one, two):
            self.assertEqual(proxy.names(), ["Alice"])
            self.assertEqual(proxy.directory.online_count(), 1)
            self.assertIsNone(proxy.directory.locate("smk1a2b_0"))


class LoginMarkingTests(SynchronousTestCase):
    def test_armed_login_marked_once(self) -> None:
        """The armed name's login is a probe carrying the forwarding mark; the name's next login
        is an ordinary player's, and no profile brings a mark of its own through."""
        from mcproxy.proxy.probes import probe_profile
        from mcproxy.wire.forwarding import PROBE_PROPERTY
        from tests.session_rig import Rig

        rig = Rig()
        rig.core.probe_names.arm(["smk1a2b_0"], 60)
        first = rig.join("smk1a2b_0")
        self.assertTrue(first.connection.probe)
        self.assertIn(PROBE_PROPERTY, [p.name for p in first.connection.profile.properties])
        self.assertEqual(rig.core.online_count(), 0)
        first.connection.connectionLost(None)
        second = rig.join("smk1a2b_0")
        self.assertFalse(second.connection.probe)
        self.assertEqual(second.connection.profile.properties, ())
        self.assertEqual(rig.core.online_count(), 1)
        self.assertEqual(probe_profile(first.connection.profile, False).properties, ())
