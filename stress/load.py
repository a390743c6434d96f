"""Load: a swarm of bot players joins through the proxy, chats and hops between two limbos."""

from __future__ import annotations

import tempfile
from pathlib import Path

from twisted.internet import defer, reactor, task

from stress.cluster import Cluster, Swarm
from stress.report import Scenario

#: The load run comes from one address, so the per-address throttles are raised for it;
#: the hostile run keeps the defaults.
LOAD_RATE_LIMITS = """\
handshake_per_address_max = 1000
connections_per_address_rate = 1000.0
connections_per_address_burst = 1000
logins_per_address_rate = 1000.0
logins_per_address_burst = 1000
"""


@defer.inlineCallbacks
def run(players: int = 200, duration: float = 60.0, directory: Path | None = None):
    report = Scenario("load")
    cluster = Cluster(directory or Path(tempfile.mkdtemp(prefix="mcproxy-stress-load-")),
                      rate_limits=LOAD_RATE_LIMITS, backend_keys=f"max_players = {players + 50}")
    yield cluster.start_all()
    try:
        yield task.deferLater(reactor, 2, lambda: None)
        before = report.figure("proxy RSS before (KiB)", cluster.rss_kib(cluster.proxy))
        samples: list[int] = []
        sampler = task.LoopingCall(lambda: samples.append(cluster.rss_kib(cluster.proxy)))
        sampler.start(1.0)
        ramp = min(20.0, duration / 3)
        swarm = Swarm(cluster.proxy_port, players, duration, ramp_ms=int(ramp * 1000))
        try:
            summary = yield swarm.summary()
        finally:
            sampler.stop()
            swarm.stop()
        during = max(samples)
        report.figure("players", players)
        report.figure("seconds", duration)
        report.figure("joined", summary["joined"])
        report.figure("failed joins", summary["failedJoins"])
        report.figure("join ms avg/max", f"{summary['joinMsAvg']}/{summary['joinMsMax']}")
        report.figure("chat lines sent", summary["sent"])
        report.figure("chat lines echoed", summary["echoed"])
        report.figure("chat lines lost", summary["lost"])
        report.figure("server switches", summary["switches"])
        report.figure("switches failed", summary["switchFailures"])
        report.figure("players dropped", summary["endedEarly"])
        report.figure("proxy RSS peak (KiB)", during)
        report.figure("proxy RSS per player (KiB)", round((during - before) / players, 1))
        yield task.deferLater(reactor, 5, lambda: None)
        report.figure("proxy RSS 5 s after (KiB)", cluster.rss_kib(cluster.proxy))
        refusals = yield cluster.by_reason(cluster.proxy_admin, "mcproxy_refusals_total")
        report.figure("proxy refusals", refusals or "none")
        report.check(report.figure("tracebacks logged", cluster.tracebacks()) == 0, "no traceback logged")
        report.check(summary["failedJoins"] == 0, "every player joined")
        report.check(summary["lost"] == 0, "no chat line lost")
        report.check(summary["sent"] > 0 and summary["echoed"] == summary["sent"], "every line echoed")
        report.check(summary["switches"] > 0 and summary["switchFailures"] == 0, "every switch completed")
        report.check(summary["endedEarly"] == 0, "no player dropped")
        for problem in swarm.problems()[:5]:
            print("   ", problem, flush=True)
    finally:
        yield cluster.stop_all()
    return report
