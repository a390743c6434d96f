"""Soak: a long run of players chatting and hopping while backends restart and the messaging
link is cut, with the proxy's RSS, file descriptors and sockets sampled to show nothing grows."""

from __future__ import annotations

import os
import statistics
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from twisted.internet import defer, reactor, task

from stress.cluster import Cluster, Swarm, wait_until
from stress.load import LOAD_RATE_LIMITS
from stress.report import Scenario
from tests.integration.test_deployment import CuttableForwarder

#: How long a messaging cut lasts: long enough that both sides notice the link is gone.
CUT_SECONDS = 10.0

#: minecraft-protocol drops a client that heard no keep-alive for 30 s, however much else
#: arrives; vanilla times out on silence. A fallback off a restarting backend, shortly
#: after a hop, starts a third backend keep-alive clock inside that window, so the soak's
#: bots wait longer: a dropped player then means a lost session, not a library quirk.
KEEPALIVE_TIMEOUT_MS = 90000


#: Seconds over which the players join. All 200 bots run in one node process, which on a
#: loaded 2-core machine cannot get 200 clients through configuration in 30 s: the limbo
#: then kicks the slowest ("Timed out while logging in") and the proxy reaps some that never
#: managed to send their handshake. Joins are not what the soak measures.
RAMP_SECONDS = 120.0


def pause(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


def descriptors(pid: int) -> tuple[int, int]:
    """``(open file descriptors, of which sockets)`` of a process, from /proc."""
    fds = sockets = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        fds += 1
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
        except OSError:
            pass
    return fds, sockets


@dataclass(frozen=True)
class Fault:
    """One fault of the run: ``what`` ("restart" or "cut") to ``server``, wall-clock times."""

    what: str
    server: str
    began: float
    recovered: float


#: A line sent this long before a backend is told to stop is not in flight to it.
IN_FLIGHT_BEFORE = 2.0

#: After a restarted backend is synchronized again, how long its held players may take to be
#: placed (``fallback_hold`` bounds it): lines sent to it meanwhile went into the void.
HELD_AFTER = 60.0


def lost_by_cause(lost: list[dict], faults: list[Fault]) -> dict[str, int]:
    """Why each lost line was lost, from when (``at``, ms) and to which ``server`` it was sent.

    ``restart``: sent to a backend from just before it stopped until its players were placed
    again (in flight as it stopped, or said while held); ``cut``: sent during a messaging
    cut; ``end``: still on its way when the run stopped; ``unexplained``: anything else, a
    defect.
    """
    causes = {"restart": 0, "cut": 0, "end": 0, "unexplained": 0}
    for line in lost:
        at = line.get("at", 0) / 1000.0
        if any(f.what == "restart" and f.server == line.get("server")
               and f.began - IN_FLIGHT_BEFORE <= at <= f.recovered + HELD_AFTER for f in faults):
            causes["restart"] += 1
        elif any(f.what == "cut" and f.began <= at <= f.recovered for f in faults):
            causes["cut"] += 1
        elif line.get("atEnd"):
            causes["end"] += 1
        else:
            causes["unexplained"] += 1
    return causes


def dropped_by_why(problems: list[dict]) -> dict[str, int]:
    """Players the run lost, keyed by the client's state and what it was told as it went."""
    why: dict[str, int] = {}
    for event in problems:
        if event.get("event") == "ended":
            key = f"{event.get('state') or '?'}: {event.get('kicked') or event.get('reason')}"
            why[key] = why.get(key, 0) + 1
    return why


def schedule(duration: float, restart_every: float, cut_every: float) -> list[tuple[float, str]]:
    """Every fault of the run, in time order: backends restarted in turn, the lobby's link cut."""
    events = [(restart_every * i, "restart") for i in range(1, int(duration // restart_every) + 1)]
    events += [(cut_every * i, "cut") for i in range(1, int(duration // cut_every) + 1)]
    return sorted(event for event in events if event[0] < duration - 30)


class Samples:
    """The proxy's resources every few seconds, kept as ``(seconds since start, values)``."""

    def __init__(self, cluster: Cluster, started: float) -> None:
        self.cluster = cluster
        self.started = started
        self.rows: list[tuple[float, int, int, int]] = []

    def take(self) -> None:
        process = self.cluster.proxy
        if not process.running:
            return
        fds, sockets = descriptors(process.transport.pid)
        self.rows.append((reactor.seconds() - self.started, self.cluster.rss_kib(process), fds, sockets))

    def window(self, start: float, end: float, column: int) -> list[int]:
        return [row[column] for row in self.rows if start <= row[0] < end]


class MemoryTrace:
    """tracemalloc snapshots of the proxy through its ``memory_snapshot`` admin action, each
    compared with the one before, saved next to the samples."""

    def __init__(self, cluster: Cluster, started: float) -> None:
        self.cluster = cluster
        self.started = started
        self.taken: list[dict] = []

    @defer.inlineCallbacks
    def take(self, body: dict | None = None):
        code, answer = yield self.cluster.action(self.cluster.proxy_admin, "memory_snapshot", body or {})
        minute = round((reactor.seconds() - self.started) / 60, 1)
        if code != 200:
            print(f"  soak: memory snapshot at {minute} min refused: {answer}", flush=True)
            return
        answer["minute"] = minute
        self.taken.append(answer)
        (self.cluster.directory / f"memory-{len(self.taken):02d}.json").write_text(json.dumps(answer, indent=1))
        print(f"  soak: minute {minute}: {answer['traced_bytes']} bytes traced in {answer['blocks']} blocks",
              flush=True)
        for row in answer.get("since_previous", [])[:5]:
            print(f"    {row['size_diff']:+} B {row['count_diff']:+} blocks  {row['where']}", flush=True)


@defer.inlineCallbacks
def fault_begins(memory: MemoryTrace | None, clock=time.time):
    """When a fault begins, for the windows lost lines are put down to: before the memory
    snapshot taken ahead of it (``--trace-memory``), which holds the proxy still for
    seconds; lines said meanwhile reach their backend only as it is told to stop."""
    began = clock()
    if memory is not None and memory.taken:
        yield memory.take()
    return began


@defer.inlineCallbacks
def run(players: int = 200, duration: float = 1800.0, restart_every: float = 300.0, cut_every: float = 420.0,
        warmup: float = 300.0, directory: Path | None = None, trace_memory: bool = False,
        ramp: float = RAMP_SECONDS):
    """``players`` bots for ``duration`` seconds; growth is judged between the first window after
    ``warmup`` and the last window of the same length. ``trace_memory`` takes tracemalloc
    snapshots of the proxy from the end of warm-up on, at every fault and at the end."""
    report = Scenario("soak")
    cluster = Cluster(directory or Path(tempfile.mkdtemp(prefix="mcproxy-stress-soak-")),
                      rate_limits=LOAD_RATE_LIMITS, backend_keys=f"max_players = {players + 50}")
    forwarder = CuttableForwarder("127.0.0.1", cluster.messaging_port)
    relay = reactor.listenTCP(0, forwarder, interface="127.0.0.1")
    cut_port = relay.getHost().port
    path = cluster.backend_configs["lobby"]
    path.write_text(path.read_text().replace(f"port={cluster.messaging_port}", f"port={cut_port}"))
    yield cluster.start_all()
    started = reactor.seconds()
    samples = Samples(cluster, started)
    sampler = task.LoopingCall(samples.take)
    sampler.start(5.0)
    swarm = Swarm(cluster.proxy_port, players, duration, ramp_ms=int(ramp * 1000),
                  keepalive_timeout_ms=KEEPALIVE_TIMEOUT_MS)
    resync: list[float] = []
    restarts: list[str] = []
    faults: list[Fault] = []
    memory = MemoryTrace(cluster, started) if trace_memory else None
    turn = iter(["lobby", "game"] * 1000)
    try:
        timetable = schedule(duration, restart_every, cut_every)
        if memory is not None:
            timetable = sorted(timetable + [(warmup, "trace")])
        for at, what in timetable:
            yield pause(max(0.0, started + at - reactor.seconds()))
            if what == "trace":
                yield memory.take({"start": True, "frames": 8})
                continue
            began = yield fault_begins(memory)
            if what == "restart":
                name = next(turn)
                yield cluster.backends[name].stop()
                cluster.backends[name].start()
                restarts.append(name)
                print(f"  soak: {round(reactor.seconds() - started)} s: {name} restarted", flush=True)
            else:
                yield relay.stopListening()
                forwarder.cut()
                yield pause(CUT_SECONDS)
                relay = reactor.listenTCP(cut_port, forwarder, interface="127.0.0.1")
                name = "lobby"
                print(f"  soak: {round(reactor.seconds() - started)} s: lobby's messaging cut "
                      f"{CUT_SECONDS:g} s and restored", flush=True)
            restored = reactor.seconds()
            yield wait_until(lambda: cluster.synchronized(name), 60, 0.5, what=f"{name} resynchronized")
            resync.append(reactor.seconds() - restored)
            faults.append(Fault(what, name, began, time.time()))
        if memory is not None:
            yield pause(max(0.0, started + duration - 10 - reactor.seconds()))
            yield memory.take()
        summary = yield swarm.summary()
        sampler.stop()
        report.figure("players", players)
        report.figure("minutes", round(duration / 60, 1))
        report.figure("backend restarts", len(restarts))
        report.figure("messaging cuts", len(schedule(duration, restart_every, cut_every)) - len(restarts))
        report.figure("resync seconds max", round(max(resync), 2) if resync else "n/a")
        report.figure("joined", summary["joined"])
        report.figure("chat lines sent", summary["sent"])
        report.figure("chat lines echoed", summary["echoed"])
        report.figure("chat lines lost", summary["lost"])
        late = {(e["name"], e["line"]) for e in swarm.protocol.events if e.get("event") == "late"}
        report.figure("chat lines echoed late (after 10 s, not lost)", summary.get("late", 0))
        lost = [e for e in swarm.protocol.events
                if e.get("event") == "lost" and (e["name"], e["line"]) not in late]
        causes = lost_by_cause(lost, faults)
        report.figure("chat lines lost by cause", causes)
        with open(cluster.directory / "soak-lost.jsonl", "w") as out:
            out.writelines(json.dumps(line) + "\n" for line in lost)
        report.figure("server switches", summary["switches"])
        report.figure("switches failed", summary["switchFailures"])
        report.figure("players dropped", summary["endedEarly"])
        report.figure("players dropped by why", dropped_by_why(swarm.problems()))
        length = min(300.0, (duration - warmup) / 2)
        first = (warmup, warmup + length)
        last = (duration - length, duration)
        for column, label in ((1, "proxy RSS KiB"), (2, "proxy fds"), (3, "proxy sockets")):
            early, late = samples.window(*first, column), samples.window(*last, column)
            report.figure(f"{label} median after warm-up / at the end / peak",
                          f"{statistics.median(early)} / {statistics.median(late)} / "
                          f"{max(row[column] for row in samples.rows)}")
        rss_early, rss_late = (statistics.median(samples.window(*w, 1)) for w in (first, last))
        fds_early, fds_late = (statistics.median(samples.window(*w, 2)) for w in (first, last))
        report.check(rss_late <= rss_early + 8192, "proxy RSS grows less than 8 MiB after warm-up")
        report.check(fds_late <= fds_early + 20, "proxy descriptors do not grow after warm-up")
        refusals = yield cluster.by_reason(cluster.proxy_admin, "mcproxy_refusals_total")
        report.figure("proxy refusals", refusals or "none")
        rejects = yield cluster.control_rejects()
        report.figure("control rejects", rejects or "none")
        report.check(report.figure("tracebacks logged", cluster.tracebacks()) == 0, "no traceback logged")
        report.check(summary["failedJoins"] == 0, "every player joined")
        report.check(summary["endedEarly"] == 0, "no player dropped")
        report.check(causes["unexplained"] == 0 and causes["cut"] == 0,
                     "no chat line lost except on its way to a restarting backend")
        report.check(summary["switches"] > 0, "players hopped")
        for problem in swarm.problems()[:5]:
            print("   ", problem, flush=True)
        with open(cluster.directory / "soak-samples.csv", "w") as out:
            out.write("seconds,rss_kib,fds,sockets\n")
            out.writelines(f"{round(t, 1)},{rss},{fds},{sockets}\n" for t, rss, fds, sockets in samples.rows)
        report.figure("samples", str(cluster.directory / "soak-samples.csv"))
    finally:
        if sampler.running:
            sampler.stop()
        swarm.stop()
        if relay is not None:
            yield relay.stopListening()
        forwarder.cut()
        yield cluster.stop_all()
    return report
