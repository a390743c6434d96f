"""Hostile input against a running proxy and its limbos, with a well-behaved player chatting
throughout: connection and half-open handshake floods within the configured throttles,
decompression bombs after login (to the proxy's relay and through it to the limbo) and
oversized strings. Refusals are scraped by reason; proxy memory is compared before and after."""

from __future__ import annotations

import random
import tempfile
import uuid
import zlib
from pathlib import Path

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import ClientFactory, Protocol

from mcproxy.wire.packets import packet_ids
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.framing import encode_frame
from mcproxy.wire.types import (
    WireError,
    encode_string,
    encode_ushort,
    encode_uuid,
    encode_varint,
)
from stress.cluster import Cluster, Swarm
from stress.report import Scenario
from tests.integration.test_frontdoor_hostile import HostileFactory

PROTOCOL = 769  # 1.21.4, what the honest player speaks too
#: Proxy memory may settle this much higher after the run (allocator high-water marks).
RSS_BOUND_KIB = 16 * 1024


class RawPlayer(Protocol):
    """Logs in through the proxy by hand, then sends whatever a scenario crafts.

    ``ready`` fires once the relay runs (login acknowledged, backend in configuration);
    ``closed`` fires when the proxy hangs up.
    """

    def __init__(self, name: str, start: bytes | None = None) -> None:
        self.name = name
        self.start = start
        self.ids = packet_ids(PROTOCOL)
        self.codec = PacketCodec()
        self.ready: defer.Deferred = defer.Deferred()
        self.closed: defer.Deferred = defer.Deferred()
        self.in_relay = False

    def connectionMade(self) -> None:
        handshake = (encode_varint(0) + encode_varint(PROTOCOL) + encode_string("localhost") + encode_ushort(25565)
                     + encode_varint(2))
        start = self.start if self.start is not None else (
            encode_string(self.name, 16) + encode_uuid(uuid.uuid4()))
        self.transport.write(encode_frame(handshake) + encode_frame(encode_varint(self.ids.login_start) + start))

    def dataReceived(self, data: bytes) -> None:
        if self.in_relay:
            return
        self.codec.feed(data)
        try:
            while not self.in_relay:
                packet = self.codec.next_packet()
                if packet is None:
                    return
                packet_id, reader = packet
                if packet_id == self.ids.login_compress:
                    self.codec.enable_compression(reader.varint())
                elif packet_id == self.ids.login_success:
                    self.transport.write(self.codec.encode(self.ids.login_acknowledged))
                    self.in_relay = True
                    self.ready.callback(self)
        except WireError:
            self.transport.abortConnection()

    def send_body(self, body: bytes) -> None:
        """A frame body exactly as given (already in the compressed format)."""
        self.transport.write(encode_frame(body))

    def connectionLost(self, reason=None) -> None:
        if not self.ready.called:
            self.ready.errback(ConnectionError("closed before the relay started"))
        self.closed.callback(None)


def connect(port: int, player: RawPlayer, source: str) -> None:
    factory = ClientFactory()
    factory.protocol = lambda: player
    factory.clientConnectionFailed = lambda connector, reason: player.closed.callback(None)
    reactor.connectTCP("127.0.0.1", port, factory, timeout=10, bindAddress=(source, 0))


def bombs(ids) -> dict[str, bytes]:
    """Frame bodies in the compressed format, keyed by what they try."""
    settings = 0x00                          # configuration client settings: the relay does not read it
    finish = ids.config_finish_ack           # the relay reads this one
    huge = encode_varint(2**31 - 1)
    return {
        "declared 2 GiB, relayed packet": huge + zlib.compress(bytes([settings]) + b"\x00" * 1024),
        "declared 2 GiB, packet the proxy reads": huge + zlib.compress(bytes([finish]) + b"\x00" * 1024),
        "64 MiB declared as 1000 B, relayed packet": encode_varint(1000) + zlib.compress(
            bytes([settings]) + b"\x00" * (64 << 20), 9),
        "64 MiB declared as 1000 B, packet the proxy reads": encode_varint(1000) + zlib.compress(
            bytes([finish]) + b"\x00" * (64 << 20), 9),
    }


def pause(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def flood(port: int, count: int, kinds: tuple[str, ...], first_octet: int, rng: random.Random):
    """``count`` hostile connections from 200 loopback addresses, 100 at a time."""
    outcomes = []
    for n in range(count):
        outcome: defer.Deferred = defer.Deferred()
        outcomes.append(outcome)
        source = (f"127.{first_octet}.{1 + n % 200 // 100}.{1 + n % 100}", 0)
        reactor.connectTCP("127.0.0.1", port, HostileFactory(kinds[n % len(kinds)], rng, outcome),
                           timeout=10, bindAddress=source)
        if n % 100 == 99:
            yield pause(0.05)
    results = yield defer.gatherResults(outcomes)
    return results


@defer.inlineCallbacks
def run(connections: int = 2000, directory: Path | None = None):
    report = Scenario("hostile")
    cluster = Cluster(directory or Path(tempfile.mkdtemp(prefix="mcproxy-stress-hostile-")),
                      proxy_keys="handshake_timeout = 3.0")
    yield cluster.start_all()
    rng = random.Random(20261127)
    try:
        yield pause(2)
        before = report.figure("proxy RSS before (KiB)", cluster.rss_kib(cluster.proxy))
        honest = Swarm(cluster.proxy_port, 1, 75, chat_ms=500, switch_ms=10**9, ramp_ms=0, prefix="Honest")
        yield pause(5)
        started = reactor.seconds()
        results = yield flood(cluster.proxy_port, connections, ("garbage", "oversized"), 10, rng)
        report.figure("connection flood (garbage, oversized frames)",
                      f"{connections} in {reactor.seconds() - started:.1f} s, "
                      f"{results.count('client-gave-up')} left hanging")
        report.check(results.count("client-gave-up") == 0, "every flood connection closed by the proxy")
        started = reactor.seconds()
        half = connections // 2
        results = yield flood(cluster.proxy_port, half, ("half-open",), 20, rng)
        report.figure("half-open handshake flood", f"{half} in {reactor.seconds() - started:.1f} s, "
                      f"{results.count('client-gave-up')} left hanging")
        report.check(results.count("client-gave-up") == 0, "every half-open handshake closed by the proxy")

        ids = packet_ids(PROTOCOL)
        for n, (what, body) in enumerate(bombs(ids).items()):
            player = RawPlayer(f"Bomb{n}")
            connect(cluster.proxy_port, player, f"127.30.0.{n + 1}")
            yield player.ready
            sent = reactor.seconds()
            player.send_body(body)
            yield defer.DeferredList([player.closed, pause(10)], fireOnOneCallback=True)
            if not player.closed.called:
                player.transport.abortConnection()
                yield player.closed
                report.figure(f"bomb: {what}", "not closed within 10 s")
            else:
                report.figure(f"bomb: {what}", f"{len(body)} B frame, closed in {reactor.seconds() - sent:.2f} s")

        strings = {
            "login name declared 1 MB": encode_varint(1 << 20) + b"A" * 64,
            "login name of 17 characters": encode_string("A" * 17, 100) + encode_uuid(uuid.uuid4()),
        }
        for n, (what, start) in enumerate(strings.items()):
            player = RawPlayer("x", start=start)
            connect(cluster.proxy_port, player, f"127.31.0.{n + 1}")
            player.ready.addErrback(lambda failure: None)
            yield defer.DeferredList([player.closed, pause(10)], fireOnOneCallback=True)
            report.figure(f"oversized string: {what}", "closed" if player.closed.called else "still open")
            report.check(player.closed.called, f"{what} refused")
        host = RawPlayer("x")
        host.connectionMade = lambda: host.transport.write(encode_frame(
            encode_varint(0) + encode_varint(PROTOCOL) + encode_varint(4000) + b"h" * 4000 + encode_ushort(1)
            + encode_varint(2)))
        connect(cluster.proxy_port, host, "127.31.0.9")
        host.ready.addErrback(lambda failure: None)
        yield defer.DeferredList([host.closed, pause(10)], fireOnOneCallback=True)
        report.check(host.closed.called, "a 4000-byte host refused")

        summary = yield honest.summary()
        report.figure("honest player: lines sent/echoed/lost",
                      f"{summary['sent']}/{summary['echoed']}/{summary['lost']}")
        report.check(summary["joined"] == 1 and summary["endedEarly"] == 0, "the honest player stayed on")
        report.check(summary["sent"] > 0 and summary["lost"] == 0, "the honest player lost no chat line")
        refusals = yield cluster.by_reason(cluster.proxy_admin, "mcproxy_refusals_total")
        report.figure("proxy refusals by reason", dict(sorted(refusals.items())))
        for name in cluster.backends:
            errors = yield cluster.by_reason(cluster.backend_admin[name], "mcproxy_limbo_protocol_errors_total")
            report.figure(f"{name} limbo protocol errors by reason", dict(sorted(errors.items())) or "none")
        # One refusal per hostile connection the proxy itself turns away: both floods, the two
        # bombs it reads (the other two are the limbo's to refuse) and the three strings.
        expected = connections + half + 2 + 3
        report.figure("proxy refusals counted / hostile connections it refused",
                      f"{int(sum(refusals.values()))}/{expected}")
        report.check(sum(refusals.values()) >= expected, "every hostile connection counted by reason")
        for reason in ("FRAME_TOO_LARGE", "HANDSHAKE_TIMEOUT", "STRING_TOO_LONG"):
            report.check(refusals.get(reason, 0) > 0, f"{reason} counted")
        yield pause(10)
        after = report.figure("proxy RSS after, settled (KiB)", cluster.rss_kib(cluster.proxy))
        report.figure("proxy RSS growth (KiB)", after - before)
        report.check(after - before < RSS_BOUND_KIB, f"proxy RSS within {RSS_BOUND_KIB} KiB of where it started")
        report.check(report.figure("tracebacks logged", cluster.tracebacks()) == 0, "no traceback logged")
        _, status = yield cluster.admin(cluster.proxy_admin, "/health")
        report.figure("proxy health after", status.get("status") if isinstance(status, dict) else status)
    finally:
        yield cluster.stop_all()
    return report
