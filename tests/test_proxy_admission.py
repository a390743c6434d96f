"""A second login with an online UUID, and the server list's player sample."""

from __future__ import annotations

import json
import random
import uuid

from prometheus_client import CollectorRegistry
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.core import ProxyCore, ProxySettings
from mcproxy.proxy.status import StatusResponder


class OnlinePlayer:
    def __init__(self, name: str) -> None:
        self.profile = type("Profile", (), {"name": name, "id": uuid.uuid4()})()
        self.handshake = type("Handshake", (), {"protocol": 775})()
        self.correlation_id = name
        self.server = "lobby"
        self.probe = False
        self.disconnected: list[str] = []
        self.why: list[str] = []

    def disconnect(self, message: str, why: str = "disconnected") -> None:
        self.disconnected.append(message)
        self.why.append(why)


class TakeOverTests(SynchronousTestCase):
    def core(self, kick: bool) -> ProxyCore:
        return ProxyCore(MemoryReactorClock(), ProxySettings(online_mode=False, kick_existing_players=kick),
                         status=None, router=None, metrics=ProxyMetrics(CollectorRegistry()),
                         log=Logger(observer=lambda e: None))

    def test_refused_by_default(self) -> None:
        """Without kick_existing_players the online player stays and the newcomer is refused."""
        core = self.core(kick=False)
        old = OnlinePlayer("Steve")
        core.players.add(old)
        self.assertFalse(core.take_over(old))
        self.assertEqual(old.disconnected, [])
        self.assertIs(core.players.get(old.profile.id), old)

    def test_old_session_replaced(self) -> None:
        """With it the old session is told why, disconnected and forgotten at once."""
        core = self.core(kick=True)
        old = OnlinePlayer("Steve")
        core.players.add(old)
        self.assertTrue(core.take_over(old))
        self.assertEqual(old.disconnected, ["You logged in from another location."])
        self.assertIsNone(core.players.get(old.profile.id))
        # Its one DisconnectEvent, when it closes, says why (see tests/test_proxy_session.py).
        self.assertEqual(old.why, ["replaced"])


class PlayerSampleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.online = [(f"P{n}", uuid.UUID(int=n)) for n in range(10)]

    def answer(self, responder: StatusResponder) -> dict:
        return json.loads(responder.response_json(767))

    def test_none_by_default(self) -> None:
        """status_player_sample = 0 shows counts only."""
        responder = StatusResponder("m", 50, lambda: len(self.online), players=lambda: self.online)
        self.assertEqual(self.answer(responder)["players"], {"max": 50, "online": 10, "sample": []})

    def test_random_sample(self) -> None:
        """Up to N online names, picked at random each time, with their UUIDs."""
        responder = StatusResponder("m", 50, lambda: len(self.online), sample_size=3,
                                    players=lambda: self.online, rng=random.Random(1))
        first = self.answer(responder)["players"]["sample"]
        self.assertEqual(len(first), 3)
        by_name = dict(self.online)
        for entry in first:
            self.assertEqual(entry["id"], str(by_name[entry["name"]]))
        seen = {e["name"] for _ in range(20) for e in self.answer(responder)["players"]["sample"]}
        self.assertGreater(len(seen), 3)

    def test_fewer_online_than_asked(self) -> None:
        """With fewer players than N, all of them are shown; with none, the sample is empty."""
        responder = StatusResponder("m", 50, lambda: len(self.online), sample_size=32,
                                    players=lambda: self.online)
        self.assertEqual(len(self.answer(responder)["players"]["sample"]), 10)
        self.online = []
        self.assertEqual(self.answer(responder)["players"]["sample"], [])
