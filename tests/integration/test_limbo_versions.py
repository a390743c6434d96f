"""Real clients of 1.8.8, 1.12.2, 1.16.5 and 1.20.4 against the limbo on 127.0.0.1.

minecraft-protocol clients join and see their chat echoed, mineflayer bots spawn, and the
backend-mod verifies legacy forwarding from a 1.8.8 client, modern from a 1.13.2 one and
refuses a 1.12.2 client on a modern-only backend.  The clients of one test run at once,
against one limbo, so the matrix stays inside a minute on a loaded machine.
"""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.logger import Logger

from mcproxy.backend.module import FORWARDING_UNSUPPORTED, BackendModule
from mcproxy.backend.server import LimboFactory, LimboSettings
from mcproxy.ops.metrics import BackendMetrics
from mcproxy.wire.forwarding import offline_uuid

from tests.integration.test_backend_peers import NODE, NODE_MODULES, SECRET, LimboCase, run_node

VERSIONS = ("1.8.8", "1.12.2", "1.16.5", "1.20.4")
MOJANG_UUID = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
#: Generous: up to ten node processes share two loaded cores.
PEER_TIMEOUT = 60.0


def legacy_host(player: uuid.UUID, token: str | None = None) -> str:
    """The host field a BungeeCord-style proxy sends, built here independently."""
    fields = ["127.0.0.1", "198.51.100.7", player.hex]
    if token is not None:
        fields.append('[{"name":"bungeeguard-token","value":"%s"}]' % token)
    return "\x00".join(fields)


class LimboVersionPeerTests(LimboCase):
    timeout = 150
    if NODE is None or not NODE_MODULES.is_dir():
        skip = "node and peers/node_modules are needed (npm ci in peers/)"

    def serve(self, **module_options) -> None:
        self.registry = CollectorRegistry()
        metrics = BackendMetrics(self.registry)
        module = BackendModule(secrets=[("current", SECRET.encode())], metrics=metrics,
                               log=Logger(), **{"enforce_proxy": False,
                                                "require_authenticated_mode": False,
                                                **module_options})
        factory = LimboFactory(LimboSettings(server_id="lobby"), module, reactor,
                               self.registry, metrics, log=Logger())
        self.listen(factory)

    def peer(self, script: str, **options) -> defer.Deferred:
        return run_node(script, {"port": self.port_number, **options}, PEER_TIMEOUT)

    @defer.inlineCallbacks
    def test_clients_and_bots_of_four_versions(self):
        """A minecraft-protocol client of each version joins (offline UUID), gets health 20
        and sees its chat echoed; a mineflayer bot of each version spawns."""
        self.serve()
        runs = []
        for index, version in enumerate(VERSIONS):
            runs.append(self.peer("limbo_client.js", version=version, username=f"Tester{index}",
                                 chat=f"hello from {version}"))
            runs.append(self.peer("limbo_bot.js", version=version, username=f"Botty{index}"))
        results = yield defer.gatherResults(runs)
        for index, version in enumerate(VERSIONS):
            (code, events, err), (bot_code, bot_events, bot_err) = results[2 * index:2 * index + 2]
            self.assertEqual(code, 0, (version, events, err[-2000:]))
            login = [event for event in events if event["event"] == "login"][0]
            self.assertEqual(login["uuid"], str(offline_uuid(f"Tester{index}")))
            self.assertIn({"event": "health", "health": 20}, events)
            self.assertIn({"event": "chat", "text": f"<Tester{index}> hello from {version}"},
                          events)
            self.assertEqual(bot_code, 0, (version, bot_events, bot_err[-2000:]))
            self.assertEqual(bot_events[-1]["event"], "spawn", version)
            self.assertEqual(bot_events[-1]["position"], [0.5, 64, 0.5], version)

    @defer.inlineCallbacks
    def test_legacy_forwarding_from_1_8_8(self):
        """A 1.8.8 client whose host field carries a legacy-forwarded identity joins as
        that identity; one without it is refused NOT_VIA_PROXY."""
        self.serve(enforce_proxy=True, forwarding="legacy", require_authenticated_mode=True)
        forwarded, direct = yield defer.gatherResults([
            self.peer("limbo_client.js", version="1.8.8", username="Notch",
                     chat="legacy hello", fakeHost=legacy_host(MOJANG_UUID)),
            self.peer("limbo_client.js", version="1.8.8", username="Direct")])
        code, events, err = forwarded
        self.assertEqual(code, 0, (events, err[-2000:]))
        login = [event for event in events if event["event"] == "login"][0]
        self.assertEqual(login["uuid"], str(MOJANG_UUID))
        code, events, err = direct
        self.assertEqual(code, 2, (events, err[-2000:]))
        self.assertIn("NOT_VIA_PROXY", [e for e in events if e["event"] == "kicked"][0]["reason"])

    @defer.inlineCallbacks
    def test_bungeeguard_from_1_12_2(self):
        """BungeeGuard on 1.12.2: the right token joins, a wrong one is refused."""
        self.serve(enforce_proxy=True, forwarding="bungeeguard")
        good, bad = yield defer.gatherResults([
            self.peer("limbo_client.js", version="1.12.2", username="Notch", chat="guarded",
                     fakeHost=legacy_host(MOJANG_UUID, SECRET)),
            self.peer("limbo_client.js", version="1.12.2", username="Notch2",
                     fakeHost=legacy_host(MOJANG_UUID, "wrong-token"))])
        self.assertEqual(good[0], 0, (good[1], good[2][-2000:]))
        self.assertEqual(bad[0], 2, (bad[1], bad[2][-2000:]))
        self.assertEqual(self.metric("mcproxy_forwarding_refusals_total",
                                     reason="BAD_FORWARDING_SIGNATURE"), 1)

    @defer.inlineCallbacks
    def test_modern_forwarding_from_1_13_refused_before(self):
        """Modern forwarding: a 1.13.2 client signing Velocity's format joins as the
        forwarded identity; a 1.12.2 client is told it needs 1.13 and counted."""
        self.serve(enforce_proxy=True)
        modern, old = yield defer.gatherResults([
            self.peer("limbo_client.js", version="1.13.2", username="Notch", chat="modern hello",
                     forwarding={"secret": SECRET, "uuid": str(MOJANG_UUID),
                                 "address": "198.51.100.7"}),
            self.peer("limbo_client.js", version="1.12.2", username="Oldie")])
        code, events, err = modern
        self.assertEqual(code, 0, (events, err[-2000:]))
        self.assertIn({"event": "plugin_request", "requested": 4}, events)
        self.assertEqual([e for e in events if e["event"] == "login"][0]["uuid"],
                         str(MOJANG_UUID))
        code, events, err = old
        self.assertEqual(code, 2, (events, err[-2000:]))
        reason = [e for e in events if e["event"] == "kicked"][0]["reason"]
        self.assertIn("1.13 or newer", reason)
        self.assertIn(FORWARDING_UNSUPPORTED, reason)
        self.assertEqual(self.metric("mcproxy_forwarding_refusals_total",
                                     reason=FORWARDING_UNSUPPORTED), 1)
