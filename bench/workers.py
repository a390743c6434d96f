"""``[proxy] workers = 2`` against HAProxy with two threads, in the same run.

The workers run as operators run them, ``twistd -n mcproxy`` supervising two processes that
share the game port, each a member of a cluster on a redis-server started for the run;
HAProxy gets the same two cores (``nbthread 2``) in front of the same backend.
"""

from __future__ import annotations

import os
import statistics

from twisted.internet import defer

from bench.run import (
    CpuSplit, Figure, Names, Processes, ceiling_note, children, flood_round, join_many, joins_rounds, leave,
    load_average, sleep,
)


@defer.inlineCallbacks
def workers_figures(opts, procs: Processes, backend: int, names: Names, selected: list[str]):
    figures: list[Figure] = []
    redis = procs.redis()
    port, supervisor = procs.workers("workers", backend, redis, 2)
    pids = children(supervisor.pid)
    haproxy = procs.haproxy(backend, threads=2)
    haproxy_pid = procs.haproxy_pid
    yield sleep(1.5)  # each worker links to Redis and publishes once
    rounds, window = opts.rounds, opts.window
    if "workers-relay" in selected:
        figure = Figure(f"relay MB/s, 8192 B frames, {opts.players} players, workers = 2", "MB/s",
                        "HAProxy TCP, 2 threads", "≥ 0.9 × HAProxy", ratio_min=0.9)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        ours = yield join_many(port, opts.players, names)
        theirs = yield join_many(haproxy, opts.players, names)
        cpu_ours: list[float] = []
        cpu_base: list[float] = []
        loads = []
        for _ in range(rounds):
            figure.ours.append((yield flood_round(ours, 8192, window, figure, pids, cpu_ours)))
            figure.base.append((yield flood_round(theirs, 8192, window, figure, haproxy_pid, cpu_base)))
            loads.append(os.getloadavg()[0])
        figure.note = (f"{len(pids)} workers; CPU per GB relayed: workers together "
                       f"{statistics.median(cpu_ours):.2f} s, HAProxy {statistics.median(cpu_base):.2f} s; "
                       f"{load_average()} (1-min median over rounds {statistics.median(loads):.2f})"
                       if cpu_ours and cpu_base else load_average())
        yield leave(ours + theirs)
    if "workers-joins" in selected:
        figure = Figure("offline joins/s, 50 concurrent, workers = 2", "joins/s",
                        "HAProxy (2 threads) → same backend", "≥ 0.8 × HAProxy", ratio_min=0.8)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        bench, back = os.getpid(), procs.backend_pid
        ours_cpu = CpuSplit({"workers": pids, "players": bench, "backend": back, "redis": procs.redis_pid})
        base_cpu = CpuSplit({"haproxy": haproxy_pid, "players": bench, "backend": back, "redis": procs.redis_pid})
        yield joins_rounds(figure, rounds, window, names, (port, ours_cpu), (haproxy, base_cpu))
        figure.note = (f"{ceiling_note(ours_cpu, base_cpu, 'workers', 0.8)}; each join also claims its UUID in "
                       f"Redis (workers need [cluster]); {load_average()}")
    procs.stop(supervisor)
    return figures
