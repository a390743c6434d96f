"""Fault drills from the runbook, each on its own fresh deployment of real processes:
a backend killed mid-session, the messaging link cut and restored, the proxy restarted,
a secret rotated with an overlap window, and a backend of another release."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import clientFromString
from twisted.logger import Logger

from mcproxy.control.backend_side import BackendControlLink
from stress.cluster import Cluster, Swarm, mcproxyctl, wait_until
from stress.load import LOAD_RATE_LIMITS
from stress.report import Scenario
from tests.integration.harness import TEST_SECRET
from tests.integration.test_deployment import CuttableForwarder

#: The secret a rotation moves to (a test value, like TEST_SECRET).
NEW_SECRET = "9a1e7c3b5d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c"


def fresh(name: str, **kw) -> Cluster:
    return Cluster(Path(tempfile.mkdtemp(prefix=f"mcproxy-stress-{name}-")), rate_limits=LOAD_RATE_LIMITS, **kw)


def pause(seconds: float) -> defer.Deferred:
    return task.deferLater(reactor, seconds, lambda: None)


@defer.inlineCallbacks
def wait_players(cluster: Cluster, server: str, count: int, timeout: float = 40.0):
    @defer.inlineCallbacks
    def there():
        players = yield cluster.backend_players(server)
        return len(players) >= count
    yield wait_until(there, timeout, 0.5, what=f"{count} players on {server}")


def traceback_check(report: Scenario, cluster: Cluster) -> None:
    report.check(report.figure("tracebacks logged", cluster.tracebacks()) == 0, "no traceback logged")


def swarm_checks(report: Scenario, summary: dict, players: int, lost_allowed: int = 0) -> None:
    report.figure("players dropped", summary["endedEarly"])
    report.figure("chat lines sent/lost", f"{summary['sent']}/{summary['lost']}")
    report.check(summary["joined"] == players, "every player joined")
    report.check(summary["endedEarly"] == 0, "no player dropped")
    report.check(summary["lost"] <= lost_allowed, f"at most {lost_allowed} chat lines lost")


@defer.inlineCallbacks
def backend_killed(players: int):
    """SIGKILL the lobby under its players: each lands on game, nobody is disconnected."""
    report = Scenario("fault: backend killed")
    cluster = fresh("kill")
    yield cluster.start_all()
    swarm = Swarm(cluster.proxy_port, players, 30, chat_ms=1000, switch_ms=10**9, ramp_ms=2000, prefix="Kill")
    try:
        yield wait_players(cluster, "lobby", players)
        started = reactor.seconds()
        yield cluster.kill(cluster.backends["lobby"])
        yield wait_players(cluster, "game", players)
        report.figure("seconds until all on game", round(reactor.seconds() - started, 2))
        summary = yield swarm.summary()
        report.figure("players on game at the end", summary["servers"].get("game", 0))
        # A line on its way to the lobby when it died is gone with it: at most one a player.
        swarm_checks(report, summary, players, lost_allowed=players)
        report.check(summary["servers"].get("game", 0) == players, "every player on the fallback")
        traceback_check(report, cluster)
    finally:
        swarm.stop()
        yield cluster.stop_all()
    return report


@defer.inlineCallbacks
def link_cut(players: int):
    """Cut the lobby's messaging link and restore it, following the runbook."""
    report = Scenario("fault: messaging cut and restored")
    cluster = fresh("link")
    forwarder = CuttableForwarder("127.0.0.1", cluster.messaging_port)
    relay = reactor.listenTCP(0, forwarder, interface="127.0.0.1")
    cut_port = relay.getHost().port
    path = cluster.backend_configs["lobby"]
    path.write_text(path.read_text().replace(f"port={cluster.messaging_port}", f"port={cut_port}"))
    yield cluster.start_all()
    swarm = Swarm(cluster.proxy_port, players, 40, chat_ms=1000, switch_ms=10**9, ramp_ms=2000, prefix="Link")
    try:
        yield wait_players(cluster, "lobby", players)
        yield relay.stopListening()
        forwarder.cut()
        cut_at = reactor.seconds()

        @defer.inlineCallbacks
        def down():
            code, out = yield cluster.ctl("lobby", "sync-state")
            return code == 1 and "link_up: no" in out
        yield wait_until(down, 20, what="lobby link down")
        report.figure("seconds until the backend saw the cut", round(reactor.seconds() - cut_at, 2))
        code, out = yield cluster.ctl("lobby", "bridge", "disable")
        report.check(code == 0, f"bridge disabled ({out.strip()[:80]})")
        code, out = yield cluster.ctl("lobby", "transfer", "Link0", "game")
        report.figure("transfer while cut", "refused UNSYNCHRONIZED_REGISTRY" if "UNSYNCHRONIZED_REGISTRY" in out
                      else out.strip()[:80])
        report.check(code == 1 and "UNSYNCHRONIZED_REGISTRY" in out, "transfer refused while cut")
        code, out = yield cluster.ctl("proxy", "health")
        report.figure("proxy health while cut", "DEGRADED" if "DEGRADED" in out else out.strip()[:60])
        relay = reactor.listenTCP(cut_port, forwarder, interface="127.0.0.1")
        restored = reactor.seconds()
        yield wait_until(lambda: cluster.synchronized("lobby"), 40, 0.5, what="lobby resynchronized")
        report.figure("seconds to resync after restore", round(reactor.seconds() - restored, 2))
        code, out = yield cluster.ctl("lobby", "request-snapshot")
        report.check(code == 0, "snapshot requested again")
        code, out = yield cluster.ctl("lobby", "bridge", "enable")
        report.check(code == 0, "bridge re-enabled")
        code, out = yield cluster.ctl("lobby", "transfer", "Link0", "game")
        report.check((code, out.strip()) == (0, "transfer done: You are now connected to game."),
                     f"transfer works again ({out.strip()[:80]})")
        summary = yield swarm.summary()
        swarm_checks(report, summary, players)
        rejects = yield cluster.control_rejects()
        report.figure("control rejects", rejects or "none")
        traceback_check(report, cluster)
    finally:
        swarm.stop()
        yield relay.stopListening()
        forwarder.cut()
        yield cluster.stop_all()
    return report


@defer.inlineCallbacks
def proxy_restarted(players: int):
    """Restart the proxy under its players: backends relink and resync, players rejoin."""
    report = Scenario("fault: proxy restarted")
    cluster = fresh("restart")
    yield cluster.start_all()
    first = Swarm(cluster.proxy_port, players, 60, chat_ms=1000, switch_ms=10**9, ramp_ms=2000, prefix="Back")
    second = None
    try:
        yield wait_players(cluster, "lobby", players)
        yield cluster.proxy.stop()
        stopped = reactor.seconds()
        cluster.proxy.start()
        yield cluster.wait_ready(60)
        report.figure("seconds from stop to READY (all links resynced)", round(reactor.seconds() - stopped, 2))

        @defer.inlineCallbacks
        def emptied():
            names = yield cluster.backend_players("lobby")
            return not names
        yield wait_until(emptied, 20, what="the old sessions gone from the lobby")
        first.stop()
        second = Swarm(cluster.proxy_port, players, 15, chat_ms=1000, switch_ms=10**9, ramp_ms=2000, prefix="Back")
        summary = yield second.summary()
        report.figure("players rejoined", summary["joined"])
        swarm_checks(report, summary, players)
        rejects = yield cluster.control_rejects()
        report.figure("control rejects", rejects or "none")
        report.check(not rejects, "no control refusal across the restart")
        traceback_check(report, cluster)
    finally:
        first.stop()
        if second is not None:
            second.stop()
        yield cluster.stop_all()
    return report


def set_secrets(path: Path, current: str, previous: str | None) -> None:
    """Rewrite a config's secrets: the current one in a file, the previous one inline."""
    (path.parent / f"{path.stem}.secret").write_text(current)
    lines = [line for line in path.read_text().splitlines()
             if not line.startswith(("proxy_secret_file", "proxy_secret_previous"))]
    section = "[security]" if "[security]" in lines else "[backend]"
    index = lines.index(section) + 1
    lines.insert(index, f'proxy_secret_file = "{path.stem}.secret"')
    if previous:
        lines.insert(index + 1, f'proxy_secret_previous = "{previous}"')
    path.write_text("\n".join(lines) + "\n")


@defer.inlineCallbacks
def secret_rotated():
    """Rotate A to B with an overlap window, then drop A while one backend still signs with it."""
    report = Scenario("fault: secret rotated")
    cluster = fresh("rotate")
    old, new = TEST_SECRET, NEW_SECRET
    refused: dict[str, float] = {}

    @defer.inlineCallbacks
    def restart(names, current, previous, ready=True):
        rejects = yield cluster.control_rejects()
        for reason, value in rejects.items():
            refused[reason] = refused.get(reason, 0) + value
        for name in names:
            process = cluster.proxy if name == "proxy" else cluster.backends[name]
            config = cluster.proxy_config if name == "proxy" else cluster.backend_configs[name]
            yield process.stop()
            set_secrets(config, current, previous)
            process.start()
        if ready:
            yield cluster.wait_ready(60)

    yield cluster.start_all()
    try:
        yield restart(["lobby", "game"], old, new)
        yield restart(["proxy"], new, old)
        yield restart(["lobby", "game"], new, old)
        yield pause(3)
        yield restart([], new, None)
        report.figure("control rejects during the overlap", refused or "none")
        report.check(not refused, "nothing refused while both secrets were configured")
        yield restart(["proxy", "lobby"], new, None, ready=False)
        yield restart(["game"], old, None, ready=False)
        yield wait_until(lambda: cluster.synchronized("lobby"), 40, 0.5, what="lobby synchronized on the new secret")
        yield pause(6)
        proxy_rejects = yield cluster.by_reason(cluster.proxy_admin, "mcproxy_control_rejects_total")
        report.figure("proxy rejects once the old secret is gone", proxy_rejects or "none")
        report.check(proxy_rejects.get("BAD_SIGNATURE", 0) > 0 and set(proxy_rejects) == {"BAD_SIGNATURE"},
                     "the stale backend is refused BAD_SIGNATURE, and only that")
        stale = yield cluster.synchronized("game")
        report.check(not stale, "the stale backend never synchronizes")
        traceback_check(report, cluster)
    finally:
        yield cluster.stop_all()
    return report


@defer.inlineCallbacks
def version_mismatch(players: int):
    """A backend of another release claims the lobby's id: refused, and nobody notices."""
    report = Scenario("fault: version-mismatched backend")
    cluster = fresh("version")
    yield cluster.start_all()
    swarm = Swarm(cluster.proxy_port, players, 25, chat_ms=1000, switch_ms=10**9, ramp_ms=2000, prefix="Ver")
    link = BackendControlLink(
        "lobby", TEST_SECRET.encode(), clientFromString(reactor, f"tcp:host=127.0.0.1:port={cluster.messaging_port}"),
        reactor, CollectorRegistry(), Logger(), retry_initial_delay=0.5, retry_max_delay=1.0,
        artifact_version="0.3.9")
    try:
        yield wait_players(cluster, "lobby", players)
        link.startService()
        yield pause(8)
        yield link.stopService()
        rejects = yield cluster.by_reason(cluster.proxy_admin, "mcproxy_control_rejects_total")
        report.figure("proxy rejects", rejects or "none")
        report.check(rejects.get("VERSION_MISMATCH", 0) > 0 and set(rejects) == {"VERSION_MISMATCH"},
                     "refused VERSION_MISMATCH, nothing else refused")
        report.check(not link.link_up, "the mismatched backend never linked")
        for name in ("lobby", "game"):
            synced = yield cluster.synchronized(name)
            report.check(synced, f"{name} still synchronized")
        code, body = yield cluster.admin(cluster.proxy_admin, "/health")
        report.figure("proxy health", body["status"] if isinstance(body, dict) else code)
        summary = yield swarm.summary()
        swarm_checks(report, summary, players)
        traceback_check(report, cluster)
    finally:
        swarm.stop()
        if link.running:
            yield link.stopService()
        yield cluster.stop_all()
    return report


@defer.inlineCallbacks
def run(players: int = 10):
    reports = []
    for drill in (lambda: backend_killed(players), lambda: link_cut(players), lambda: proxy_restarted(players),
                  secret_rotated, lambda: version_mismatch(players)):
        try:
            reports.append((yield drill()))
        except Exception as error:  # any way a drill breaks is that drill's failure, not the run's
            failed = Scenario(f"fault: {getattr(drill, '__name__', 'drill')}")
            failed.check(False, f"{type(error).__name__}: {str(error)[:200]}")
            reports.append(failed)
    return reports


__all__ = ["mcproxyctl", "run"]
