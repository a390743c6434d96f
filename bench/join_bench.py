"""Offline joins per second: a Minecraft-protocol load generator that logs players in.

Not a test: it prints figures for this machine.  Each simulated player does what a real
client does up to play (handshake, Login Start, Login Acknowledged, known packs, finish
configuration) and counts a join when the play ``login`` packet arrives; then it
disconnects and the next one starts, keeping ``--concurrency`` joins in flight.

    PYTHONPATH=. python bench/join_bench.py                    # against an in-process limbo
    PYTHONPATH=. python bench/join_bench.py --port 25565       # against a running server

Point it at the proxy and at HAProxy in front of the same limbo (started with
``enforce_proxy = false`` and ``require_authenticated_mode = false`` for HAProxy) to get
the design's "offline joins/s" ratio.  All
joins come from one address, so raise the proxy's ``[rate_limits]`` per-address login and
connection rates for the run, or it (rightly) refuses most of them.
"""

from __future__ import annotations

import argparse
import itertools
import uuid
import time
from typing import Callable

from prometheus_client import CollectorRegistry
from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.logger import Logger

from mcproxy.wire.compression import decompress_packet, frame_packet
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.packets import Direction, PacketTable, State
from mcproxy.wire.types import Reader, encode_string, encode_ushort, encode_uuid, encode_varint


class JoiningClient(protocol.Protocol):
    """One player walking to play; calls ``done(ok)`` once, then hangs up."""

    def __init__(self, protocol_version: int, name: str, done: Callable[[bool], None]) -> None:
        self.table = PacketTable.for_protocol(protocol_version)
        self.protocol_version = protocol_version
        self.name = name
        self.done = done
        self.state = State.LOGIN
        self.compression = -1
        self.decoder = FrameDecoder()
        self.finished = False

    def connectionMade(self) -> None:
        handshake = (encode_varint(0) + encode_varint(self.protocol_version)
                     + encode_string("localhost") + encode_ushort(25565) + encode_varint(2))
        self.transport.write(encode_frame(handshake))
        self.send("login_start", encode_string(self.name) + encode_uuid(_NO_UUID))

    def send(self, name: str, body: bytes = b"") -> None:
        packet = encode_varint(self.table.id(self.state, Direction.SERVERBOUND, name)) + body
        self.transport.write(frame_packet(packet, self.compression))

    def dataReceived(self, data: bytes) -> None:
        for frame in self.decoder.frames(data):
            if self.compression >= 0:
                frame = decompress_packet(frame, self.compression)
            reader = Reader(frame)
            name = self.table.name(self.state, Direction.CLIENTBOUND, reader.varint())
            self.packet(name, reader)
            if self.finished:
                return

    def packet(self, name: str | None, reader: Reader) -> None:
        if self.state is State.LOGIN:
            if name == "compress":
                self.compression = reader.varint()
            elif name == "login_plugin_request":
                self.send("login_plugin_response", encode_varint(reader.varint()) + b"\x00")
            elif name == "success":
                self.send("login_acknowledged")
                self.state = State.CONFIGURATION
            elif name == "disconnect":
                self.finish(False)
        elif self.state is State.CONFIGURATION:
            if name == "select_known_packs":
                self.send("select_known_packs", encode_varint(0))
            elif name == "keep_alive":
                self.send("keep_alive", reader.raw(8))
            elif name == "finish_configuration":
                self.send("finish_configuration")
                self.state = State.PLAY
            elif name == "disconnect":
                self.finish(False)
        elif name == "login":
            self.finish(True)
        elif name == "kick_disconnect":
            self.finish(False)

    def finish(self, ok: bool) -> None:
        if not self.finished:
            self.finished = True
            self.transport.loseConnection()
            self.done(ok)

    def connectionLost(self, reason: object = None) -> None:
        self.finish(False)


_NO_UUID = uuid.UUID(int=0)


class _Factory(protocol.Factory):
    def __init__(self, make: Callable[[], JoiningClient]) -> None:
        self.make = make

    def buildProtocol(self, addr: object) -> JoiningClient:
        return self.make()


def run(reactor, host: str, port: int, protocol_version: int, concurrency: int,
        seconds: float) -> defer.Deferred:
    """Keep ``concurrency`` joins in flight for ``seconds``; fires with (joins, failures)."""
    names = (f"bench{n}" for n in itertools.count())
    counts = {"ok": 0, "failed": 0}
    stop_at = reactor.seconds() + seconds
    finished = defer.Deferred()
    running = [0]

    def start() -> None:
        if reactor.seconds() >= stop_at:
            if running[0] == 0 and not finished.called:
                finished.callback((counts["ok"], counts["failed"]))
            return
        running[0] += 1

        def done(ok: bool) -> None:
            counts["ok" if ok else "failed"] += 1
            running[0] -= 1
            reactor.callLater(0, start)

        endpoint = TCP4ClientEndpoint(reactor, host, port)
        d = endpoint.connect(_Factory(lambda: JoiningClient(protocol_version, next(names), done)))
        d.addErrback(lambda failure: done(False))

    for _ in range(concurrency):
        start()
    return finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: start a limbo in-process")
    parser.add_argument("--protocol", type=int, default=769)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    from twisted.internet import reactor

    port = args.port
    if port == 0:
        from mcproxy.backend.module import BackendModule
        from mcproxy.backend.server import LimboFactory, LimboSettings
        from mcproxy.ops.metrics import BackendMetrics

        registry = CollectorRegistry()
        metrics = BackendMetrics(registry)
        module = BackendModule(enforce_proxy=False, require_authenticated_mode=False,
                               secrets=[], metrics=metrics, log=Logger())
        settings = LimboSettings(max_players=100000, login_concurrent_max=100000)
        listening = reactor.listenTCP(0, LimboFactory(settings, module, reactor, registry,
                                                      metrics, log=Logger()),
                                      interface="127.0.0.1")
        port = listening.getHost().port

    def report(result: tuple[int, int]) -> None:
        joins, failures = result
        print(f"joins/s: {joins / args.seconds:.1f}  (joins {joins}, failures {failures}, "
              f"concurrency {args.concurrency}, protocol {args.protocol})")

    started = time.perf_counter()
    d = run(reactor, args.host, port, args.protocol, args.concurrency, args.seconds)
    d.addCallback(report)
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
    print(f"wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
