"""Real clients against the limbo on 127.0.0.1: minecraft-protocol and mineflayer.

The node peers are pinned in ``peers/package.json``; they are found at
``<repo>/peers/node_modules`` (``npm ci`` in ``peers/``).  Each node script has its own
timeout and is killed by the test if it overruns it anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry
from twisted.internet import defer, protocol, reactor
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

from mcproxy.wire.forwarding import offline_uuid
from mcproxy.backend.module import BackendModule
from mcproxy.backend.server import LimboFactory, LimboSettings
from mcproxy.ops.metrics import BackendMetrics

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "peers" / "node_modules"
PEERS = REPO / "tests" / "peers"
NODE = shutil.which("node")
SECRET = "peer-test-secret-0123456789abcdef0123"
MOJANG_UUID = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")

#: A script's own timeout, and how much longer the test waits before killing it: node loading
#: minecraft-data and joining can take well over 10 s on a loaded machine.
SCRIPT_TIMEOUT = 45.0
KILL_GRACE = 5.0


class _Collect(protocol.ProcessProtocol):
    def __init__(self, done: defer.Deferred) -> None:
        self.done = done
        self.out = bytearray()
        self.err = bytearray()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason) -> None:
        code = getattr(reason.value, "exitCode", None)
        events = [json.loads(line) for line in self.out.decode().splitlines()
                  if line.startswith("{")]
        self.done.callback((code, events, self.err.decode(errors="replace")))


def run_node(script: str, options: dict, timeout: float = SCRIPT_TIMEOUT) -> defer.Deferred:
    """Run a peer script; fires with ``(exit code, events, stderr)``, killed on overrun."""
    done: defer.Deferred = defer.Deferred()
    collector = _Collect(done)
    options = {"timeoutMs": int(timeout * 1000), **options}
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    process = reactor.spawnProcess(collector, NODE, [NODE, str(PEERS / script),
                                                     json.dumps(options)], env=env)
    killer = reactor.callLater(timeout + KILL_GRACE, process.signalProcess, "KILL")

    def ended(result):
        if killer.active():
            killer.cancel()
        return result

    return done.addBoth(ended)


class LimboCase(TestCase):
    """A limbo on a free loopback port for real clients, stopped once its clients are gone."""

    registry: CollectorRegistry

    def listen(self, factory: LimboFactory) -> None:
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.port_number = port.getHost().port
        self.addCleanup(self._stop, port, factory)

    @defer.inlineCallbacks
    def _stop(self, port, factory: LimboFactory):
        yield port.stopListening()
        for _ in range(100):
            if not factory.connections:
                break
            yield deferLater(reactor, 0.05, lambda: None)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


class LimboPeerTests(LimboCase):
    timeout = 90
    if NODE is None or not NODE_MODULES.is_dir():
        skip = "node and peers/node_modules are needed (npm ci in peers/)"

    def serve(self, **module_options) -> LimboFactory:
        registry = CollectorRegistry()
        metrics = BackendMetrics(registry)
        self.registry = registry
        module = BackendModule(
            enforce_proxy=module_options.get("enforce_proxy", False),
            require_authenticated_mode=module_options.get("require_authenticated_mode", False),
            secrets=[("current", SECRET.encode())], metrics=metrics, log=Logger())
        factory = LimboFactory(LimboSettings(server_id="lobby"), module, reactor, registry,
                               metrics, log=Logger())
        self.listen(factory)
        return factory

    @defer.inlineCallbacks
    def join_and_chat(self, version: str):
        self.serve()
        code, events, err = yield run_node("limbo_client.js", {
            "port": self.port_number, "version": version, "username": "Tester",
            "chat": f"hello from {version}"})
        kinds = [event["event"] for event in events]
        self.assertEqual(code, 0, (events, err[-2000:]))
        self.assertIn("login", kinds)
        self.assertIn({"event": "health", "health": 20}, events)
        self.assertIn({"event": "chat", "text": f"<Tester> hello from {version}"}, events)
        self.assertEqual(events[kinds.index("login")]["uuid"], str(offline_uuid("Tester")))

    def test_node_client_1_20_5(self):
        """minecraft-protocol 1.20.5 joins, gets health 20 and sees its chat echoed."""
        return self.join_and_chat("1.20.5")

    def test_node_client_1_21_4(self):
        """minecraft-protocol 1.21.4 joins, gets health 20 and sees its chat echoed."""
        return self.join_and_chat("1.21.4")

    def test_node_client_26_1(self):
        """minecraft-protocol 26.1 joins, gets health 20 and sees its chat echoed."""
        return self.join_and_chat("26.1")

    @defer.inlineCallbacks
    def spawn_bot(self, version: str):
        self.serve()
        code, events, err = yield run_node("limbo_bot.js", {
            "port": self.port_number, "version": version, "username": "Botty"})
        self.assertEqual(code, 0, (events, err[-2000:]))
        spawn = events[-1]
        self.assertEqual(spawn["event"], "spawn")
        self.assertEqual((spawn["dimension"], spawn["minY"], spawn["height"]),
                         ("overworld", -64, 384))

    def test_mineflayer_1_21_4(self):
        """A mineflayer 1.21.4 bot spawns (dimension data read from our registries)."""
        return self.spawn_bot("1.21.4")

    def test_mineflayer_26_1(self):
        """A mineflayer 26.1 bot spawns."""
        return self.spawn_bot("26.1")

    @defer.inlineCallbacks
    def test_direct_client_refused_when_proxy_enforced(self):
        """With enforce_proxy, a client without forwarding is refused NOT_VIA_PROXY."""
        self.serve(enforce_proxy=True)
        code, events, err = yield run_node("limbo_client.js", {
            "port": self.port_number, "version": "1.21.4", "username": "Direct"})
        self.assertEqual(code, 2, (events, err[-2000:]))
        kicked = [event for event in events if event["event"] == "kicked"]
        self.assertIn("NOT_VIA_PROXY", kicked[0]["reason"])
        self.assertEqual(self.metric("mcproxy_forwarding_refusals_total",
                                     reason="NOT_VIA_PROXY"), 1)

    @defer.inlineCallbacks
    def test_signed_forwarding_from_node_accepted(self):
        """A node client signing Velocity's format with the right secret joins as the
        forwarded identity, even with require_authenticated_mode."""
        self.serve(enforce_proxy=True, require_authenticated_mode=True)
        code, events, err = yield run_node("limbo_client.js", {
            "port": self.port_number, "version": "1.21.4", "username": "Notch",
            "chat": "forwarded hello",
            "forwarding": {"secret": SECRET, "uuid": str(MOJANG_UUID),
                           "address": "198.51.100.7"}})
        self.assertEqual(code, 0, (events, err[-2000:]))
        self.assertIn({"event": "plugin_request", "requested": 4}, events)
        login = [event for event in events if event["event"] == "login"][0]
        self.assertEqual(login["uuid"], str(MOJANG_UUID))

    @defer.inlineCallbacks
    def test_forwarding_with_wrong_secret_refused(self):
        """A node client signing with another secret is refused BAD_FORWARDING_SIGNATURE."""
        self.serve(enforce_proxy=True)
        code, events, err = yield run_node("limbo_client.js", {
            "port": self.port_number, "version": "1.21.4", "username": "Notch",
            "forwarding": {"secret": "some-other-secret", "uuid": str(MOJANG_UUID),
                           "address": "198.51.100.7"}})
        self.assertEqual(code, 2, (events, err[-2000:]))
        kicked = [event for event in events if event["event"] == "kicked"]
        self.assertIn("BAD_FORWARDING_SIGNATURE", kicked[0]["reason"])
        self.assertEqual(self.metric("mcproxy_forwarding_refusals_total",
                                     reason="BAD_FORWARDING_SIGNATURE"), 1)
