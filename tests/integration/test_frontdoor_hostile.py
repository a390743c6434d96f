"""A thousand hostile connections against a real proxy on 127.0.0.1: random bytes, half-open
handshakes and oversized frames.  Afterwards the proxy still answers a well-behaved status
client, has given back every pre-login slot, and its ``/metrics`` counts the refusals by
reason."""

from __future__ import annotations

import random
import time
import urllib.request

from mcstatus import JavaServer
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor, task, threads
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from mcproxy.wire.framing import encode_frame
from mcproxy.wire.types import encode_string, encode_ushort, encode_varint
from tests.integration.proxy_harness import start_proxy

CONNECTIONS = 1000
KINDS = ("garbage", "half-open", "oversized")
#: Longest a hostile client waits for the proxy to close on it.
CLIENT_PATIENCE = 15.0


def valid_handshake() -> bytes:
    fields = encode_varint(775) + encode_string("play.example.com") + encode_ushort(25565) + encode_varint(1)
    return encode_frame(encode_varint(0) + fields)


class HostileClient(Protocol):
    """Sends one kind of abuse, then waits for the proxy to hang up."""

    def __init__(self, kind: str, rng: random.Random, outcome: defer.Deferred) -> None:
        self.kind = kind
        self.rng = rng
        self.outcome = outcome
        self.gave_up = False
        self._patience = None

    def connectionMade(self) -> None:
        rng = self.rng
        if self.kind == "garbage":
            payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048)))
        elif self.kind == "half-open":
            handshake = valid_handshake()
            payload = handshake[:rng.randint(1, len(handshake) - 1)]
        else:
            payload = encode_varint(rng.randint(40_000, 2_097_151)) + b"\x00" * rng.randint(0, 4096)
        self.transport.write(payload)
        self._patience = reactor.callLater(CLIENT_PATIENCE, self._give_up)

    def _give_up(self) -> None:
        self.gave_up = True
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure = None) -> None:
        if self._patience is not None and self._patience.active():
            self._patience.cancel()
        self.outcome.callback(self.kind if not self.gave_up else "client-gave-up")


class HostileFactory(ClientFactory):
    def __init__(self, kind: str, rng: random.Random, outcome: defer.Deferred) -> None:
        self.kind = kind
        self.rng = rng
        self.outcome = outcome

    def buildProtocol(self, addr) -> HostileClient:
        return HostileClient(self.kind, self.rng, self.outcome)

    def clientConnectionFailed(self, connector, reason: Failure) -> None:
        self.outcome.callback("connect-failed")


def scrape(port: int) -> dict[str, float]:
    """``mcproxy_refusals_total`` by reason, from the admin listener's ``/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode("utf-8")
    refusals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mcproxy_refusals_total":
                refusals[sample.labels["reason"]] = sample.value
    return refusals


class HostileFloodTests(TestCase):
    # Past the flood's own 30 s bound, so a slow flood fails on that assertion, with its figure.
    timeout = 90

    @defer.inlineCallbacks
    def setUp(self):
        self.proxy = yield start_proxy(self, motd="Still here", handshake_timeout=2.0,
                                       rate_limits="handshake_concurrent_max = 256\n")

    def status(self) -> defer.Deferred:
        server = JavaServer("127.0.0.1", self.proxy.port, timeout=5)
        return threads.deferToThread(server.status, version=775, tries=1)

    @defer.inlineCallbacks
    def flood(self, rng: random.Random) -> defer.Deferred:
        """Open the hostile connections in bursts of 100 from 200 loopback addresses."""
        outcomes = []
        for n in range(CONNECTIONS):
            outcome: defer.Deferred = defer.Deferred()
            outcomes.append(outcome)
            source = (f"127.0.{1 + n % 200 // 100}.{1 + n % 100}", 0)
            reactor.connectTCP("127.0.0.1", self.proxy.port, HostileFactory(KINDS[n % 3], rng, outcome),
                               timeout=10, bindAddress=source)
            if n % 100 == 99:
                yield task.deferLater(reactor, 0.05, lambda: None)
        results = yield defer.gatherResults(outcomes)
        return results

    @defer.inlineCallbacks
    def test_flood_leaves_status_working(self):
        """After 1,000 abusive connections, each closed by the proxy (none waits out its own
        patience; those over the concurrency cap are reset at accept), a well-behaved client
        reads the status, the pre-login slots are all free,
        and /metrics counts oversized frames, handshake timeouts and the rest by reason."""
        started = time.monotonic()
        results = yield self.flood(random.Random(20261126))
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual(results.count("client-gave-up"), 0)

        status = yield self.status()
        self.assertEqual(status.motd.to_plain(), "Still here")
        self.assertEqual(status.version.protocol, 775)
        core = self.proxy.process.core
        for _ in range(50):
            if core.prelogin_gate.held == 0 and core.connections == 0:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.assertEqual((core.prelogin_gate.held, core.connections), (0, 0))

        refusals = yield threads.deferToThread(scrape, self.proxy.admin_port)
        self.assertGreater(refusals.get("FRAME_TOO_LARGE", 0), 0, refusals)
        self.assertGreater(refusals.get("HANDSHAKE_TIMEOUT", 0), 0, refusals)
        self.assertGreaterEqual(sum(refusals.values()), CONNECTIONS * 0.9, refusals)
        # A connection reset at accept by the concurrency cap can look failed to its client.
        self.assertLessEqual(results.count("connect-failed"), refusals.get("HANDSHAKE_CONCURRENCY", 0))
        logged = [e for e in self.proxy.refusals() if e.get("correlation_id")]
        self.assertEqual(len(logged), sum(refusals.values()))


class Squatter(Protocol):
    """Holds a half-open handshake (``10 00``, then silence) and opens another as soon as
    the proxy closes it, as an attacker would."""

    def __init__(self, factory: "SquatterFactory") -> None:
        self.factory = factory

    def connectionMade(self) -> None:
        self.factory.current = self
        self.transport.write(b"\x10\x00")

    def connectionLost(self, reason: Failure = None) -> None:
        self.factory.current = None
        self.factory.tally["closed"] += 1


class SquatterFactory(ClientFactory):
    def __init__(self, tally: dict, source: str, port: int) -> None:
        self.tally = tally
        self.source = source
        self.port = port
        self.stopped = False
        self.current: Squatter | None = None
        self.connector = None
        self.retry = None

    def buildProtocol(self, addr) -> Squatter:
        return Squatter(self)

    def connect(self) -> None:
        self.retry = None
        if not self.stopped:
            self.connector = reactor.connectTCP("127.0.0.1", self.port, self, timeout=10,
                                                bindAddress=(self.source, 0))

    def _again(self) -> None:
        if not self.stopped:
            self.retry = reactor.callLater(0.5, self.connect)

    def clientConnectionLost(self, connector, reason: Failure) -> None:
        self._again()

    def clientConnectionFailed(self, connector, reason: Failure) -> None:
        self._again()

    def stop(self) -> None:
        self.stopped = True
        if self.retry is not None and self.retry.active():
            self.retry.cancel()
        if self.connector is not None:
            self.connector.disconnect()


class HalfOpenFloodTests(TestCase):
    """300 addresses each holding a half-open handshake, with the default limits and a
    handshake timeout longer than the test: only eviction can make room."""

    timeout = 90

    @defer.inlineCallbacks
    def setUp(self):
        self.proxy = yield start_proxy(self, motd="Still here", handshake_timeout=120.0)
        self.tally = {"closed": 0}
        self.squatters = [SquatterFactory(self.tally, f"127.30.{1 + n // 200}.{1 + n % 200}", self.proxy.port)
                          for n in range(300)]
        self.addCleanup(self._stop_squatters)

    @defer.inlineCallbacks
    def _stop_squatters(self):
        for squatter in self.squatters:
            squatter.stop()
        for _ in range(100):
            if not any(s.current for s in self.squatters):
                break
            yield task.deferLater(reactor, 0.05, lambda: None)

    @defer.inlineCallbacks
    def test_status_answered_while_300_addresses_squat(self):
        """Status pings from a fresh address are answered throughout while 300 other
        addresses hold half-open handshakes and reopen them when evicted; the gate stays
        at its limit and each eviction is counted ``HANDSHAKE_EVICTED``."""
        core = self.proxy.process.core
        for squatter in self.squatters:
            squatter.connect()
        for _ in range(200):
            if core.prelogin_gate.held >= core.prelogin_gate.limit and self.tally["closed"] >= 44:
                break
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(core.prelogin_gate.held, 256)
        for _ in range(10):
            server = JavaServer("127.0.0.1", self.proxy.port, timeout=10)
            status = yield threads.deferToThread(server.status, version=775, tries=1)
            self.assertEqual(status.motd.to_plain(), "Still here")
            self.assertLessEqual(core.prelogin_gate.held, 256)
            yield task.deferLater(reactor, 0.3, lambda: None)
        refusals = yield threads.deferToThread(scrape, self.proxy.admin_port)
        self.assertGreaterEqual(refusals.get("HANDSHAKE_EVICTED", 0), 44 + 10, refusals)
        self.assertEqual(refusals.get("HANDSHAKE_CONCURRENCY", 0), 0, refusals)
        self.assertEqual(refusals.get("HANDSHAKE_TIMEOUT", 0), 0, refusals)
