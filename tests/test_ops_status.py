"""Tests for mcproxy.ops.status."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial import unittest

import mcproxy
from mcproxy.ops.metrics import BackendMetrics
from mcproxy.ops.status import StatusBoard, reject_counters


class RejectCountersTests(unittest.SynchronousTestCase):
    def test_collects_rejects_and_refusals(self) -> None:
        """Every *_rejects_total and *_refusals_total counter is read, whoever created it;
        other counters are not."""
        registry = CollectorRegistry(auto_describe=True)
        metrics = BackendMetrics(registry)
        metrics.forwarding_refusals.labels("NOT_FORWARDED").inc(3)
        metrics.logins.labels("success").inc()
        control = Counter("mcproxy_control_rejects", "x", ["reason"], registry=registry)
        control.labels("REPLAYED_NONCE").inc()
        control.labels("BAD_SIGNATURE").inc(2)
        plain = Counter("mcproxy_widget_refusals", "x", registry=registry)
        plain.inc()
        self.assertEqual(reject_counters(registry), {
            "mcproxy_forwarding_refusals_total": {"NOT_FORWARDED": 3},
            "mcproxy_control_rejects_total": {"REPLAYED_NONCE": 1, "BAD_SIGNATURE": 2},
            "mcproxy_widget_refusals_total": {"": 1},
        })


class StatusBoardTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.events: list[dict[str, Any]] = []
        self.board = StatusBoard(
            self.clock, CollectorRegistry(auto_describe=True),
            Logger(observer=self.events.append))

    def test_builtins(self) -> None:
        """version, uptime and rejects are always there, uptime counted on the given clock."""
        self.clock.advance(12.5)
        snapshot = self.board.snapshot()
        self.assertEqual(list(snapshot), ["version", "uptime", "rejects"])
        self.assertEqual(snapshot["version"]["mcproxy"], mcproxy.__version__)
        self.assertEqual(snapshot["uptime"], {"started": "2027-01-15T08:00:00Z", "seconds": 12.5})
        self.assertEqual(snapshot["rejects"], {})

    def test_providers(self) -> None:
        """Providers are asked at every snapshot, in registration order; names are unique."""
        players = {"online": 0}
        self.board.add("players", lambda: dict(players))
        players["online"] = 2
        self.assertEqual(self.board.snapshot()["players"], {"online": 2})
        self.assertRaises(ValueError, self.board.add, "players", dict)
        self.board.remove("players")
        self.assertNotIn("players", self.board.snapshot())

    def test_failing_provider(self) -> None:
        """A raising provider yields an error marker for its section and is logged."""
        def broken() -> dict[str, Any]:
            raise KeyError("x")

        self.board.add("links", broken)
        self.assertEqual(self.board.snapshot()["links"], {"error": "unavailable"})
        self.assertEqual(len([e for e in self.events if "log_failure" in e]), 1)
