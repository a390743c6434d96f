"""The query listener alone, without sockets: answers per second by kind, and answer sizes.

    PYTHONPATH=. python -m bench.query_micro [--players 500] [--count 20000]

Rate limits are lifted for the measurement; what it shows is the CPU cost of one answer
(a full stat reused from the one-second cache, one built afresh, a handshake, a refusal).
"""

from __future__ import annotations

import argparse
import struct
import time

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.logger import Logger

from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.query import QueryProtocol
from mcproxy.wire.query import QueryInfo, encode_full

PEER = ("127.0.0.1", 40000)


class _Sink:
    size = 0

    def write(self, data: bytes, addr: tuple) -> None:
        self.size = len(data)


def _rate(protocol: QueryProtocol, datagram: bytes, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        protocol.datagramReceived(datagram, PEER)
    return count / (time.perf_counter() - start)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--players", type=int, default=500)
    options.add_argument("--count", type=int, default=20000)
    args = options.parse_args()
    info = QueryInfo("A mcproxy network", "1.8-26.1", "mcproxy 0.4.0", "world", args.players, 500,
                     "127.0.0.1", 25565, [f"Player{n:04d}" for n in range(args.players)])
    clock = Clock()
    protocol = QueryProtocol(clock, lambda: info, ProxyMetrics(CollectorRegistry()),
                             Logger(observer=lambda event: None))
    protocol.transport = sink = _Sink()
    protocol._per_address.rate = protocol._total.rate = 0
    handshake = b"\xfe\xfd\x09" + struct.pack(">i", 1)
    full = b"\xfe\xfd\x00" + struct.pack(">ii", 1, protocol.token(*PEER)) + b"\0" * 4
    stale = b"\xfe\xfd\x00" + struct.pack(">ii", 1, protocol.token(*PEER) ^ 1) + b"\0" * 4
    rate = _rate(protocol, handshake, args.count)
    print(f"handshake          {rate:9.0f}/s  {len(handshake)} B asked, {sink.size} B answered")
    rate = _rate(protocol, full, args.count)
    print(f"full stat, cached  {rate:9.0f}/s  {sink.size} B answered ({args.players} names)")
    start = time.perf_counter()
    for _ in range(args.count // 10):
        encode_full(1, info)
    print(f"full stat, built   {args.count // 10 / (time.perf_counter() - start):9.0f}/s")
    rate = _rate(protocol, stale, args.count)
    print(f"bad token refused  {rate:9.0f}/s")


if __name__ == "__main__":
    main()
