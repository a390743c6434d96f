"""Tests for mcproxy.ops.probe."""

from __future__ import annotations

import errno

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectError, ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial import unittest

from mcproxy.ops.health import CheckState, HealthModel, Readiness
from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.ops.probe import DEFAULT_PORT, BackendProber, parse_address


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class ParseAddressTests(unittest.SynchronousTestCase):
    def test_forms(self) -> None:
        """host:port, [v6]:port and bare hosts (default Minecraft port) are understood."""
        self.assertEqual(parse_address("127.0.0.1:25566"), ("127.0.0.1", 25566))
        self.assertEqual(parse_address("[::1]:25567"), ("::1", 25567))
        self.assertEqual(parse_address("[::1]"), ("::1", DEFAULT_PORT))
        self.assertEqual(parse_address("lobby.internal"), ("lobby.internal", DEFAULT_PORT))

    def test_bad(self) -> None:
        """Malformed addresses raise ValueError naming the address."""
        for bad in ("", ":25565", "host:port", "host:70000", "[::1", "[::1]x", "h:0"):
            with self.assertRaises(ValueError, msg=bad):
                parse_address(bad)


class _Fixture:
    """A prober over a MemoryReactorClock with two backends."""

    def __init__(self, backends: dict[str, str] | None = None) -> None:
        self.reactor = MemoryReactorClock()
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = ProxyMetrics(self.registry)
        self.health = HealthModel(Logger(observer=lambda e: None))
        self.prober = BackendProber(
            self.reactor,
            backends or {"lobby": "127.0.0.1:25566", "games": "127.0.0.2:25567"},
            self.metrics,
            Logger(observer=lambda e: None),
            health=self.health,
            interval=5.0,
            timeout=2.0,
        )

    def attempt(self, index: int) -> tuple[str, int, Factory]:
        host, port, factory, _, _ = self.reactor.tcpClients[index]
        return host, port, factory

    def accept(self, index: int) -> StringTransport:
        _, port, factory = self.attempt(index)
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
        transport = StringTransport()
        protocol.makeConnection(transport)
        return transport

    def refuse(self, index: int) -> None:
        _, _, factory = self.attempt(index)
        factory.clientConnectionFailed(
            self.reactor.connectors[index], Failure(ConnectionRefusedError()))


class BackendProberTests(unittest.SynchronousTestCase):
    def test_one_round_probes_every_backend(self) -> None:
        """A round connects once to each configured address."""
        f = _Fixture()
        f.prober.probe_all()
        self.assertEqual(
            sorted((h, p) for h, p, *_ in f.reactor.tcpClients),
            [("127.0.0.1", 25566), ("127.0.0.2", 25567)])

    def test_reachable_records_latency_and_closes(self) -> None:
        """A successful connect is closed at once and recorded with its latency, in the
        up gauge, the probe counter and the latency histogram."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        done = f.prober.probe_all()
        f.reactor.advance(0.004)
        transport = f.accept(0)
        self.successResultOf(done)
        self.assertTrue(transport.disconnecting)
        result = f.prober.result("lobby")
        assert result is not None
        self.assertTrue(result.reachable)
        self.assertAlmostEqual(result.latency_ms, 4.0)
        self.assertEqual(f.prober.check("lobby").state, CheckState.OK)
        self.assertEqual(_value(f.registry, "mcproxy_backend_up", server="lobby"), 1.0)
        self.assertEqual(
            _value(f.registry, "mcproxy_backend_probes_total", server="lobby", result="ok"), 1.0)
        self.assertEqual(
            _value(f.registry, "mcproxy_backend_probe_seconds_count", server="lobby"), 1.0)

    def test_reset_while_connecting(self) -> None:
        """A connect reset by a backend closing its listener reads "connection reset", not
        Twisted's errno sentence."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        done = f.prober.probe_all()
        _, _, factory = f.attempt(0)
        factory.clientConnectionFailed(
            f.reactor.connectors[0], Failure(ConnectError(errno.ECONNRESET, "Connection reset by peer")))
        self.successResultOf(done)
        check = f.prober.check("lobby")
        self.assertEqual((check.state, check.detail), (CheckState.FAILED, "connection reset"))

    def test_refused(self) -> None:
        """A refused connect marks the backend down and degrades health."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        done = f.prober.probe_all()
        f.refuse(0)
        self.successResultOf(done)
        check = f.prober.check("lobby")
        self.assertEqual((check.state, check.detail), (CheckState.FAILED, "connection refused"))
        self.assertIs(f.health.evaluate().status, Readiness.DEGRADED)
        self.assertEqual(_value(f.registry, "mcproxy_backend_up", server="lobby"), 0.0)
        self.assertEqual(
            _value(f.registry, "mcproxy_backend_probes_total", server="lobby", result="refused"),
            1.0)

    def test_timeout(self) -> None:
        """A connect that never completes is given up after ``timeout`` and counted as one."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        done = f.prober.probe_all()
        f.reactor.advance(1.9)
        self.assertNoResult(done)
        f.reactor.advance(0.2)
        self.successResultOf(done)
        self.assertTrue(f.reactor.connectors[0].stoppedConnecting)
        result = f.prober.result("lobby")
        assert result is not None
        self.assertEqual((result.reachable, result.outcome), (False, "timeout"))
        self.assertEqual(
            _value(f.registry, "mcproxy_backend_probes_total", server="lobby", result="timeout"),
            1.0)

    def test_not_probed_yet(self) -> None:
        """Before its first probe ends a backend is DEGRADED, not assumed up."""
        f = _Fixture()
        self.assertEqual(f.prober.check("lobby").state, CheckState.DEGRADED)
        self.assertEqual(f.prober.status()["lobby"]["reachable"], None)

    def test_one_looping_call_for_all(self) -> None:
        """The service keeps a single timer whatever the number of backends, starts probing at
        once and probes again each interval after a round ends."""
        f = _Fixture()
        f.prober.startService()
        self.assertEqual(len(f.reactor.tcpClients), 2)
        f.accept(0)
        f.refuse(1)
        self.assertEqual(len(f.reactor.getDelayedCalls()), 1)
        f.reactor.advance(5.0)
        self.assertEqual(len(f.reactor.tcpClients), 4)
        f.accept(2)
        f.accept(3)
        self.assertEqual(len(f.reactor.getDelayedCalls()), 1)
        self.assertEqual(f.prober.check("games").state, CheckState.OK)
        self.assertEqual(f.prober.result("games").consecutive_failures, 0)
        f.prober.stopService()
        self.assertEqual(f.reactor.getDelayedCalls(), [])

    def test_stop_cancels_without_recording(self) -> None:
        """Stopping mid-round cancels the attempts and records nothing for them."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        f.prober.startService()
        f.prober.stopService()
        self.assertTrue(f.reactor.connectors[0].stoppedConnecting)
        self.assertIsNone(f.prober.result("lobby"))
        self.assertEqual(f.reactor.getDelayedCalls(), [])

    def test_transitions_counted(self) -> None:
        """Down then up: consecutive failures grow, then reset; health goes back to READY."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        for index in range(2):
            f.prober.probe_all()
            f.refuse(index)
        self.assertEqual(f.prober.result("lobby").consecutive_failures, 2)
        f.prober.probe_all()
        f.accept(2)
        self.assertEqual(f.prober.result("lobby").consecutive_failures, 0)
        self.assertIs(f.health.evaluate().status, Readiness.READY)

    def test_set_backends(self) -> None:
        """Removing a backend drops its check and series; adding one adds a check."""
        f = _Fixture()
        f.prober.probe_all()
        f.refuse(0)
        f.refuse(1)
        f.prober.set_backends({"lobby": "127.0.0.1:25566", "pvp": "127.0.0.3:25568"})
        self.assertEqual(sorted(f.health.check_names()), ["backend:lobby", "backend:pvp"])
        self.assertIsNone(_value(f.registry, "mcproxy_backend_up", server="games"))
        self.assertEqual(sorted(f.prober.status()), ["lobby", "pvp"])
        self.assertIsNotNone(f.prober.result("lobby"))

    def test_hostname_endpoint(self) -> None:
        """A host name goes through name resolution rather than a literal-IP connect."""
        f = _Fixture({"lobby": "localhost:25566"})
        done = f.prober.probe_all()
        f.reactor.advance(2.5)
        self.successResultOf(done)
        self.assertEqual(f.prober.result("lobby").reachable, False)

    def test_status_shape(self) -> None:
        """status() reports every backend's address and last probe."""
        f = _Fixture({"lobby": "127.0.0.1:25566", "v6": "[::1]:25570"})
        f.prober.probe_all()
        f.accept(0)
        status = f.prober.status()
        self.assertEqual(status["lobby"]["address"], "127.0.0.1:25566")
        self.assertEqual(status["v6"]["address"], "[::1]:25570")
        self.assertEqual(status["lobby"]["reachable"], True)
        self.assertEqual(status["lobby"]["outcome"], "ok")


class _Accepting(Factory):
    """Accepts and remembers when each connection is gone, so a test can end clean."""

    def __init__(self) -> None:
        self.lost: list[defer.Deferred[None]] = []

    def buildProtocol(self, addr: object) -> Protocol:
        done: defer.Deferred[None] = defer.Deferred()
        self.lost.append(done)
        protocol = Protocol()
        protocol.connectionLost = lambda reason: done.callback(None)  # type: ignore[method-assign]
        return protocol


class BackendProberRealSocketTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_port_down_and_up(self) -> None:
        """Against a real listener on 127.0.0.1: reachable, refused once it stops listening,
        reachable again when it listens again on the same port."""
        factory = _Accepting()
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        number = port.getHost().port
        registry = CollectorRegistry(auto_describe=True)
        prober = BackendProber(
            reactor, {"lobby": f"127.0.0.1:{number}"}, ProxyMetrics(registry),
            Logger(observer=lambda e: None), timeout=5.0)

        yield prober.probe_all()
        self.assertTrue(prober.result("lobby").reachable)
        yield defer.gatherResults(factory.lost)

        yield port.stopListening()
        yield prober.probe_all()
        self.assertEqual(prober.result("lobby").outcome, "refused")

        port = reactor.listenTCP(number, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        yield prober.probe_all()
        self.assertTrue(prober.result("lobby").reachable)
        yield defer.gatherResults(factory.lost)
        self.assertEqual(
            _value(registry, "mcproxy_backend_probes_total", server="lobby", result="ok"), 2.0)


class EventDrivenTests(unittest.SynchronousTestCase):
    """Health follows events at once; probes fill the gaps."""

    def test_observed_connect_clears_refused_at_once(self) -> None:
        """A backend refused by the last probe is OK the moment a player's connect to
        it works, with no probe and no time passing; the up gauge follows."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        f.prober.probe_all()
        f.refuse(0)
        self.assertIs(f.prober.check("lobby").state, CheckState.FAILED)
        f.prober.observe("lobby", True, "a player connected")
        check = f.prober.check("lobby")
        self.assertEqual((check.state, check.detail), (CheckState.OK, "a player connected"))
        self.assertIs(f.health.evaluate().status, Readiness.READY)
        self.assertEqual(_value(f.registry, "mcproxy_backend_up", server="lobby"), 1.0)
        self.assertEqual(len(f.reactor.tcpClients), 1)

    def test_observed_failure_degrades_at_once(self) -> None:
        """A player's failed connect marks the backend down without waiting for a probe."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        f.prober.probe_all()
        f.accept(0)
        f.prober.observe("lobby", False, "a player's connect failed: connection refused")
        self.assertEqual(f.prober.check("lobby"),
                         type(f.prober.check("lobby"))(CheckState.FAILED,
                                                       "a player's connect failed: connection refused"))

    def test_stale_probe_does_not_overwrite_fresher_event(self) -> None:
        """A probe started before a player's successful connect, and answered refused
        after it, is dropped: /health never says refused once a player got through."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        f.prober.probe_all()
        f.reactor.advance(0.5)
        f.prober.observe("lobby", True, "a player connected")
        f.reactor.advance(0.1)
        f.refuse(0)
        self.assertIs(f.prober.check("lobby").state, CheckState.OK)
        f.reactor.advance(5.0)
        f.prober.probe_all()
        f.refuse(1)
        self.assertIs(f.prober.check("lobby").state, CheckState.FAILED)

    def test_probe_now_outside_the_interval(self) -> None:
        """``probe_now`` connects at once, between rounds; before start it does nothing."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        f.prober.probe_now("lobby")
        self.assertEqual(f.reactor.tcpClients, [])
        f.prober.startService()
        self.addCleanup(f.prober.stopService)
        self.assertEqual(len(f.reactor.tcpClients), 1)
        f.refuse(0)
        f.reactor.advance(1.0)
        f.prober.probe_now("lobby")
        self.assertEqual(len(f.reactor.tcpClients), 2)
        f.accept(1)
        self.assertIs(f.prober.check("lobby").state, CheckState.OK)

    def test_unknown_backend_ignored(self) -> None:
        """Events about a server no longer configured change nothing."""
        f = _Fixture({"lobby": "127.0.0.1:25566"})
        f.prober.observe("gone", True, "a player connected")
        f.prober.probe_now("gone")
        self.assertIsNone(f.prober.result("gone"))
