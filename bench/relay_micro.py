"""The relay's frame scanner alone, without sockets: MB/s and frames/s of ``relay_chunk``.

    PYTHONPATH=. python -m bench.relay_micro [--seconds 1] [--scan python|compiled]

Isolates the cost the relay figures pay per frame, for before/after comparisons of
changes to ``mcproxy/proxy/relay.py``.  Reads are 64 KiB, as Twisted reads.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.stream import build_cycle
from mcproxy.proxy import relay
from mcproxy.proxy.relay import FORWARD, Half, Phase, relay_chunk
from mcproxy.wire.compression import compress_packet
from mcproxy.wire.framing import encode_frame

READ = 65536


def _watched(half: Half) -> Half:
    """The clientbound play watch set the proxy installs (kick, start configuration, login)."""
    for packet_id in (0x1D, 0x69, 0x2B):
        half.on(Phase.PLAY, packet_id, lambda pid, fields: FORWARD)
    return half


def _compressed_stream(frame_size: int) -> bytes:
    """Frames under a threshold of 256, as a compressing backend sends them (uncompressed
    below the threshold, deflated above)."""
    body = bytes([0x19]) + bytes(range(256)) * (frame_size // 256 + 1)
    frames = [encode_frame(compress_packet(body[:frame_size - 3], 256)) for _ in range(4096)]
    return b"".join(frames)


def measure(name: str, stream: bytes, threshold: int, seconds: float, rounds: int = 3) -> None:
    reads = [stream[i:i + READ] for i in range(0, len(stream), READ)]
    rates = []
    frames = 0
    for _ in range(rounds):
        half = _watched(Half("clientbound", threshold, threshold, Phase.PLAY))
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for data in reads:
                relay_chunk(half, data)
                done += len(data)
        elapsed = time.perf_counter() - start
        rates.append(done / elapsed)
        frames = half.frames / elapsed
    rate = statistics.median(rates)
    print(f"{name:<42} {rate / 1e6:9.1f} MB/s {frames / 1e6:7.2f} M frames/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_micro")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--scan", choices=("python", "compiled"),
                        help="which frame scan (default: the one the relay uses, compiled when built)")
    opts = parser.parse_args(argv)
    if opts.scan == "compiled" and relay.skip_compiled is None:
        parser.error("the compiled scan was not built (pip install -e . with a C compiler)")
    if opts.scan:
        relay._skip = relay.skip_compiled if opts.scan == "compiled" else relay.skip_python
    print(f"scan: {'compiled' if relay._skip is relay.skip_compiled else 'python'}")
    measure("64 B frames, no compression", build_cycle(64), -1, opts.seconds)
    measure("8 KiB frames, no compression", build_cycle(8192), -1, opts.seconds)
    measure("64 B frames, compression pass-through", _compressed_stream(64), 256, opts.seconds)
    measure("8 KiB frames, compression pass-through", _compressed_stream(8192), 256, opts.seconds)


if __name__ == "__main__":
    main()
