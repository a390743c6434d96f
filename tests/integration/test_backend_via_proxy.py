"""A node client through the mcproxy proxy (modern forwarding) into the limbo, which
enforces that logins come through the proxy."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from mcproxy.wire.forwarding import offline_uuid
from mcproxy.backend.module import BackendModule
from mcproxy.backend.server import LimboFactory, LimboSettings
from mcproxy.ops.metrics import BackendMetrics
from tests.integration.harness import TEST_SECRET, temp_dir, write_proxy_config
from tests.integration.proxy_harness import game_port, run_proxy
from tests.integration.test_backend_peers import NODE, NODE_MODULES, run_node


class ThroughProxyTests(TestCase):
    timeout = 90
    if NODE is None or not NODE_MODULES.is_dir():
        skip = "node and peers/node_modules are needed (npm ci in peers/)"

    @defer.inlineCallbacks
    def start(self, require_authenticated_mode: bool):
        self.registry = CollectorRegistry()
        metrics = BackendMetrics(self.registry)
        module = BackendModule(enforce_proxy=True,
                               require_authenticated_mode=require_authenticated_mode,
                               secrets=[("current", TEST_SECRET.encode())], metrics=metrics,
                               log=Logger())
        self.limbo = LimboFactory(LimboSettings(server_id="lobby"), module, reactor,
                                  self.registry, metrics, log=Logger())
        backend = reactor.listenTCP(0, self.limbo, interface="127.0.0.1")
        self.addCleanup(backend.stopListening)
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend.getHost().port},
                                  forwarding="modern")
        proxy = yield run_proxy(self, path)
        return game_port(proxy)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    @defer.inlineCallbacks
    def test_forwarded_login_joins(self):
        """The proxy's signed forwarding gets the player into the limbo, chat works, and
        the limbo sees the client's real address."""
        port = yield self.start(require_authenticated_mode=False)
        code, events, err = yield run_node("limbo_client.js", {
            "port": port, "version": "1.21.4", "username": "Proxied", "chat": "via proxy"})
        self.assertEqual(code, 0, (events, err[-2000:]))
        self.assertIn({"event": "chat", "text": "<Proxied> via proxy"}, events)
        self.assertEqual(self.metric("mcproxy_logins_total", result="ok"), 1)
        self.assertEqual(self.metric("mcproxy_forwarding_refusals_total",
                                     reason="BAD_FORWARDING_SIGNATURE"), 0)

    @defer.inlineCallbacks
    def test_offline_proxy_player_refused_when_authentication_required(self):
        """An offline-mode proxy vouches for an offline UUID; require_authenticated_mode
        refuses it with UNAUTHENTICATED_PLAYER."""
        port = yield self.start(require_authenticated_mode=True)
        code, events, err = yield run_node("limbo_client.js", {
            "port": port, "version": "1.21.4", "username": "Offline"})
        self.assertNotEqual(code, 0, (events, err[-2000:]))
        self.assertEqual(self.metric("mcproxy_forwarding_refusals_total",
                                     reason="UNAUTHENTICATED_PLAYER"), 1)
        self.assertNotIn(offline_uuid("Offline"), self.limbo.players)
