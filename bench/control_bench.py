"""Control-plane benchmark: signed messages per second and snapshot costs.

Not a test: it prints figures for this machine. Run from the repository root
with the package importable:

    PYTHONPATH=. python bench/control_bench.py [--runs 5] [--messages 20000]

Every figure is the median of --runs runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import twisted
from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.logger import Logger

from mcproxy.control.backend_side import BackendControlLink
from mcproxy.control.envelope import (
    ControlSecrets,
    Envelope,
    EnvelopeSigner,
    EnvelopeValidator,
)
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.registry import (
    CommandRegistry,
    CommandSpec,
    decode_commands,
    encode_commands,
    payload_digest,
    split_chunks,
)
from mcproxy.testing import InMemoryPlayerDirectory, LoopbackEndpoint

SECRET = os.urandom(32)
NAME = b"mcproxy.control.Heartbeat"
SIZES = [1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]


def machine_info() -> None:
    print(f"platform: {platform.platform()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"cpu:      {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs")
    print(f"twisted:  {twisted.__version__}")
    print()


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def registry_of_size(size: int) -> CommandRegistry:
    """Commands of ~1 KiB each, padded so the snapshot is exactly C{size} bytes."""
    count = max(1, size // 1024)
    commands = [CommandSpec(f"cmd{i:05d}", "d" * 900) for i in range(count)]
    short = size - len(encode_commands(commands))
    last = commands[-1]
    commands[-1] = CommandSpec(last.name, "d" * (len(last.description) + short))
    registry = CommandRegistry(commands)
    assert len(registry.encoded()) == size
    return registry


def bench_messages(runs: int, messages: int) -> None:
    clock = Clock()
    clock.advance(time.time())
    body = {b"serial": b"1700000000123", b"digest": b"ab" * 32}
    signer = EnvelopeSigner("lobby", ControlSecrets(SECRET), clock)

    def sign_only() -> float:
        start = time.perf_counter()
        for _ in range(messages):
            signer.sign(NAME, body)
        return messages / (time.perf_counter() - start)

    def sign_and_verify() -> float:
        validator = EnvelopeValidator(ControlSecrets(SECRET), clock, replay_capacity=messages)
        start = time.perf_counter()
        for _ in range(messages):
            box = dict(body)
            box.update(signer.sign(NAME, box))
            if not validator.validate(Envelope.from_box(box), NAME, ("lobby",)).accepted:
                raise AssertionError("benchmark message refused")
        return messages / (time.perf_counter() - start)

    print(f"signed messages ({messages} Heartbeat-sized messages per run, median of {runs})")
    print(f"  sign only:           {median_of(runs, sign_only):>10,.0f} msg/s")
    print(f"  sign + verify:       {median_of(runs, sign_and_verify):>10,.0f} msg/s")
    print()


def bench_snapshots(runs: int) -> None:
    clock = Clock()
    clock.advance(time.time())
    signer = EnvelopeSigner("proxy", ControlSecrets(SECRET), clock)
    name = b"mcproxy.control.RegistrySnapshot"
    print(f"snapshot encode/verify without the network (median of {runs}, ms)")
    print(f"  {'bytes':>9} {'chunks':>6} {'encode+sign':>12} {'verify+decode':>14}")
    for size in SIZES:
        registry = registry_of_size(size)
        commands = registry.snapshot()
        signed: list[dict[bytes, bytes]] = []

        def encode() -> float:
            start = time.perf_counter()
            payload = encode_commands(commands)
            digest = payload_digest(payload).encode()
            signed.clear()
            for index, chunk in enumerate(split_chunks(payload, 60000)):
                box = {b"digest": digest, b"index": str(index).encode(), b"data": chunk}
                box.update(signer.sign(name, box))
                signed.append(box)
            return (time.perf_counter() - start) * 1000

        encode_ms = median_of(runs, encode)

        def verify() -> float:
            validator = EnvelopeValidator(ControlSecrets(SECRET), clock)
            start = time.perf_counter()
            for box in signed:
                if not validator.validate(Envelope.from_box(box), name, ("proxy",)).accepted:
                    raise AssertionError("benchmark chunk refused")
            payload = b"".join(box[b"data"] for box in signed)
            if payload_digest(payload) != registry.digest:
                raise AssertionError("digest mismatch")
            decode_commands(payload)
            return (time.perf_counter() - start) * 1000

        verify_ms = median_of(runs, verify)
        print(f"  {size:>9,} {len(signed):>6} {encode_ms:>12.2f} {verify_ms:>14.2f}")
    print()


def bench_sync(runs: int) -> None:
    print(f"full registry sync over AMP in memory (Hello, request, chunks, install; median of {runs}, ms)")
    for size in SIZES:
        registry = registry_of_size(size)

        def sync() -> float:
            clock = Clock()
            clock.advance(time.time())
            log = Logger(observer=lambda event: None)
            factory = ControlServerFactory(
                "proxy", SECRET, ["lobby"], registry, InMemoryPlayerDirectory(),
                clock, CollectorRegistry(), log,
            )
            endpoint = LoopbackEndpoint(factory, clock)
            link = BackendControlLink(
                "lobby", SECRET, endpoint, clock, CollectorRegistry(), log, retry_jitter=lambda: 0.0
            )
            start = time.perf_counter()
            link.startService()
            endpoint.flush()
            elapsed = (time.perf_counter() - start) * 1000
            if not link.synchronized:
                raise AssertionError("benchmark link did not synchronize")
            link.stopService()
            factory.stopFactory()
            return elapsed

        print(f"  {size:>9,} bytes: {median_of(runs, sync):>8.2f}")
    print()


def main(argv: list[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20000)
    options = parser.parse_args(argv)
    machine_info()
    bench_messages(options.runs, options.messages)
    bench_snapshots(options.runs)
    bench_sync(options.runs)


if __name__ == "__main__":
    main()
