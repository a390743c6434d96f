"""The join load generator in bench/ keeps working against the limbo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from mcproxy.backend.module import BackendModule
from mcproxy.backend.server import LimboFactory, LimboSettings
from mcproxy.ops.metrics import BackendMetrics

BENCH = Path(__file__).resolve().parents[2] / "bench" / "join_bench.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("join_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class JoinBenchTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_joins_without_failures(self):
        """Ten concurrent simulated players join the limbo repeatedly for half a second."""
        registry = CollectorRegistry()
        metrics = BackendMetrics(registry)
        module = BackendModule(enforce_proxy=False, require_authenticated_mode=False,
                               secrets=[], metrics=metrics, log=Logger())
        factory = LimboFactory(LimboSettings(max_players=1000), module, reactor, registry,
                               metrics, log=Logger())
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        joins, failures = yield load_bench().run(reactor, "127.0.0.1", port.getHost().port,
                                                 775, 10, 0.5)
        self.assertGreater(joins, 10)
        self.assertEqual(failures, 0)
        for _ in range(100):
            if not factory.connections:
                break
            yield deferLater(reactor, 0.02, lambda: None)
