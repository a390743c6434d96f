"""Soak: a long run of players chatting and hopping while backends restart and the messaging
link is cut, with the proxy's RSS, file descriptors and sockets sampled to show nothing grows."""

from __future__ import annotations

import os
import statistics
import tempfile
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


@defer.inlineCallbacks
def run(players: int = 200, duration: float = 1800.0, restart_every: float = 300.0, cut_every: float = 420.0,
        warmup: float = 300.0, directory: Path | None = None):
    """``players`` bots for ``duration`` seconds; growth is judged between the first window after
    ``warmup`` and the last window of the same length."""
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
    swarm = Swarm(cluster.proxy_port, players, duration, ramp_ms=30000, keepalive_timeout_ms=KEEPALIVE_TIMEOUT_MS)
    resync: list[float] = []
    restarts: list[str] = []
    turn = iter(["lobby", "game"] * 1000)
    try:
        for at, what in schedule(duration, restart_every, cut_every):
            yield pause(max(0.0, started + at - reactor.seconds()))
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
        report.figure("server switches", summary["switches"])
        report.figure("switches failed", summary["switchFailures"])
        report.figure("players dropped", summary["endedEarly"])
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
        # A line on its way to a backend when it stopped goes with it: at most one a player a restart.
        report.check(summary["lost"] <= players * len(restarts), "no chat line lost except to a stopping backend")
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
