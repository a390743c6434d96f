"""Runs every figure of DESIGN.md "Performance targets" against its baseline and prints a table.

Everything listens on 127.0.0.1 on free ports.  The bench backend, the proxy and HAProxy
are separate processes; the players (the load generator) run in this one.  Each round
measures ours and the baseline back to back, and the table shows medians over rounds,
so other load on the machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater

from bench import peers
from bench.peers import BenchPlayer, StatusProbe
from bench.stream import FloodChecker
from mcproxy.wire.packets import SERVED_PROTOCOLS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIGURES = ("relay-8k", "relay-64b", "encryption", "status", "joins", "latency", "rss", "cluster-join",
           "workers-relay", "workers-joins")


@dataclass
class Figure:
    """One row of the table: samples per round for ours and the baseline."""

    name: str
    unit: str
    baseline_name: str
    target: str
    ratio_min: float | None = None
    ratio_max: float | None = None
    absolute_max: float | None = None
    #: Met when ours exceeds the baseline by at most this much (an added cost, not a ratio).
    added_max: float | None = None
    ours: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.ours or not self.base:
            return None
        base = statistics.median(self.base)
        return statistics.median(self.ours) / base if base else None

    @property
    def met(self) -> bool:
        if self.errors or not self.ours:
            return False
        if self.absolute_max is not None:
            return statistics.median(self.ours) <= self.absolute_max
        if self.added_max is not None:
            return bool(self.base) and statistics.median(self.ours) - statistics.median(self.base) <= self.added_max
        ratio = self.ratio
        if ratio is None:
            return False
        if self.ratio_min is not None:
            return ratio >= self.ratio_min
        return ratio <= self.ratio_max


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def haproxy_binary() -> str:
    """HAProxy's path, installing the Debian package first when it is missing and we may."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing haproxy (apt-get install -y haproxy) ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=180, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], env=env, timeout=300, check=True)
        found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if not found:
        raise SystemExit("haproxy is needed for the baselines: apt-get install -y haproxy")
    return found


class Processes:
    """The processes under test; all of them are stopped by :meth:`stop_all`."""

    def __init__(self, workdir: Path, profile_dir: Path | None) -> None:
        self.workdir = workdir
        self.profile_dir = profile_dir
        self.running: list[subprocess.Popen] = []
        self.haproxy_pid = 0
        self.backend_pid = 0
        self.redis_pid = 0
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        log.close()
        self.running.append(process)
        return process

    def backend(self) -> int:
        port = free_port()
        process = self._spawn([sys.executable, "-m", "bench.servers", "backend", str(port)], "backend.log")
        wait_port(port, process=process)
        self.backend_pid = process.pid
        return port

    def redis(self) -> int:
        port = free_port()
        process = self._spawn([shutil.which("redis-server"), "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"], "redis.log")
        wait_port(port, process=process)
        self.redis_pid = process.pid
        return port

    def proxy_config(self, name: str, port: int, backend_port: int, online: bool = False, extra: str = "",
                     proxy_keys: str = "") -> Path:
        """The bench proxy's config: no compression, no forwarding, limits out of the way.

        ``read_timeout`` at its maximum: the bench backend sends no keep-alives and its idle
        players say nothing, so with the default (30 s) the RSS figure's first players
        would be timed out while the last ones still join on a loaded machine.
        """
        config = self.workdir / f"{name}.toml"
        config.write_text(f"""
[proxy]
bind = "tcp:{port}:interface=127.0.0.1:backlog=1024"
online_mode = {str(online).lower()}
compression_threshold = -1
forwarding = "none"
max_players = 10000
read_timeout = 600
{proxy_keys}

[security]
proxy_secret = "{os.urandom(32).hex()}"

[servers]
bench = "127.0.0.1:{backend_port}"
try = ["bench"]

[messaging]
enabled = false

[rate_limits]
handshake_concurrent_max = 4096
handshake_per_address_max = 65536
routing_concurrent_max = 4096
connections_per_address_rate = 10000
connections_per_address_burst = 100000
logins_per_address_rate = 10000
logins_per_address_burst = 100000

[admin]
bind = ""

[logging]
level = "info"
file = "{self.workdir / (name + '.log')}"
{extra}
""")
        return config

    def proxy(self, name: str, backend_port: int, online: bool = False, extra: str = "") -> tuple[int, subprocess.Popen]:
        port = free_port()
        config = self.proxy_config(name, port, backend_port, online, extra)
        args = [sys.executable, "-m", "bench.servers", "proxy", str(config)]
        if online:
            args.append("--stub-session")
        if self.profile_dir is not None:
            args = [shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")), "record",
                    "--rate", "250", "--format", "raw", "--nonblocking",
                    "-o", str(self.profile_dir / f"{name}.folded"), "--"] + args
        process = self._spawn(args, f"{name}.out")
        wait_port(port, process=process)
        return port, process

    def workers(self, name: str, backend_port: int, redis_port: int, count: int) -> tuple[int, subprocess.Popen]:
        """``twistd -n mcproxy`` with ``[proxy] workers = count``: the supervisor's pid is returned."""
        port = free_port()
        cluster = (f'[cluster]\nenabled = true\nredis = "tcp:host=127.0.0.1:port={redis_port}"\n'
                   f'proxy_id = "{name}"\nheartbeat_interval = 1.0\n')
        config = self.proxy_config(name, port, backend_port, extra=cluster, proxy_keys=f"workers = {count}")
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "mcproxy", "-c", str(config)]
        process = self._spawn(args, f"{name}.out")
        wait_port(port, process=process)
        deadline = time.monotonic() + 30
        while len(children(process.pid)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return port, process

    def haproxy(self, backend_port: int, threads: int | None = None) -> int:
        port = free_port()
        config = self.workdir / f"haproxy-{threads or 'default'}.cfg"
        threads_line = f"\n    nbthread {threads}" if threads else ""
        config.write_text(f"""global
    maxconn 8000{threads_line}

defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s

frontend bench
    bind 127.0.0.1:{port}
    default_backend bench

backend bench
    server backend 127.0.0.1:{backend_port}
""")
        process = self._spawn([haproxy_binary(), "-db", "-f", str(config)], "haproxy.log")
        wait_port(port, process=process)
        self.haproxy_pid = process.pid
        return port

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_total(pids: int | list[int]) -> float:
    """CPU seconds of one process, or of several together (a proxy's workers)."""
    return sum(cpu_seconds(pid) for pid in ([pids] if isinstance(pids, int) else pids))


class CpuSplit:
    """CPU per join of each process taking part (load generator, backend, proxy, Redis ...).

    On a machine whose cores are all busy, joins/s is the cores over the CPU one join costs
    all processes together, so this split bounds the ratio a proxy can reach against another.
    """

    def __init__(self, parts: dict[str, int | list[int]]) -> None:
        self.parts = {name: pids for name, pids in parts.items() if pids}
        self.samples: dict[str, list[float]] = {name: [] for name in self.parts}
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: cpu_total(pids) for name, pids in self.parts.items()}

    def stop(self, joins: float) -> None:
        for name, pids in self.parts.items():
            self.samples[name].append((cpu_total(pids) - self._before[name]) / max(1.0, joins) * 1e3)

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.samples.items() if values}

    def total(self) -> float:
        return sum(self.medians().values())

    def text(self) -> str:
        return ", ".join(f"{name} {ms:.2f}" for name, ms in self.medians().items()) + f" (all {self.total():.2f}) ms"


def ceiling_note(ours: CpuSplit, base: CpuSplit, proxy: str, target: float) -> str:
    """The CPU per join, process by process, and the ratio it allows on a saturated machine.

    The load generator and the backend do the same work per join on either path; they are
    counted at what they cost in the baseline's rounds (at a lower join rate their fixed
    costs per second weigh more per join, which is not the proxy's doing).
    """
    mine, theirs = ours.medians(), base.medians()
    if not mine or not theirs:
        return ""
    shared = sum(theirs[name] if theirs.get(name) else ms for name, ms in mine.items() if name != proxy)
    needed = base.total() / target - shared
    bound = base.total() / (shared + mine.get(proxy, 0.0))
    return (f"CPU per join, ours: {ours.text()}; baseline: {base.text()}; with the cores saturated the "
            f"ratio is at most {bound:.2f}, and {target:g} × needs the proxy at "
            f"≤ {needed:.2f} ms per join (it used {mine.get(proxy, 0.0):.2f})")


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (a supervisor's workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def machine() -> list[str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        haproxy = subprocess.run([haproxy_binary(), "-v"], capture_output=True, text=True,
                                 timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        haproxy = "haproxy: unknown"
    import cryptography

    return [
        f"platform: {platform.platform()}",
        f"cpu: {cpu} x {os.cpu_count()}",
        f"python: {platform.python_implementation()} {platform.python_version()}",
        f"twisted: {twisted.__version__}, cryptography: {cryptography.__version__}",
        haproxy,
    ]


# Load -------------------------------------------------------------------------------


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def sleep(seconds: float) -> defer.Deferred:
    return deferLater(reactor, seconds, lambda: None)


def timed(d: defer.Deferred, seconds: float) -> defer.Deferred:
    return d.addTimeout(seconds, reactor)


class Names:
    """Unique player names, so that no join collides with a player still online."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"bench{self.count}"


@defer.inlineCallbacks
def join(port: int, name: str, timeout: float = 30.0):
    player = BenchPlayer(name, "127.0.0.1", port)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=10)
    yield timed(connectProtocol(endpoint, player), timeout)
    yield timed(player.joined, timeout)
    return player


@defer.inlineCallbacks
def join_many(port: int, count: int, names: Names, concurrency: int = 50):
    semaphore = defer.DeferredSemaphore(concurrency)
    players = yield defer.gatherResults(
        [semaphore.run(join, port, names()) for _ in range(count)], consumeErrors=True)
    return players


@defer.inlineCallbacks
def leave(players: list[BenchPlayer], timeout: float = 20.0):
    waits = []
    for player in players:
        player.transport.loseConnection()
        waits.append(player.lost)
    yield timed(defer.DeferredList(waits), timeout)


@defer.inlineCallbacks
def flood_round(players: list[BenchPlayer], frame_size: int, window: float, figure: Figure,
                pid: int | list[int] | None = None, cpu: list[float] | None = None):
    """MB/s of verified flood bytes received by ``players`` over ``window`` seconds.

    With ``pid``, the CPU seconds that process spent per GB relayed are appended to ``cpu``:
    unlike MB/s, that does not depend on how much of the machine it was given.
    """
    checkers = [FloodChecker(frame_size) for _ in players]
    for player, checker in zip(players, checkers):
        player.transport.bufferSize = 256 * 1024
        player.start_flood(checker)
    yield sleep(min(1.0, window / 2))
    before = sum(c.bytes for c in checkers)
    cpu_before = cpu_total(pid) if pid else 0.0
    start = time.perf_counter()
    yield sleep(window)
    received = sum(c.bytes for c in checkers) - before
    elapsed = time.perf_counter() - start
    if pid and cpu is not None and received:
        cpu.append((cpu_total(pid) - cpu_before) / (received / 1e9))
    try:
        yield timed(defer.gatherResults([p.stop_flood() for p in players], consumeErrors=True), 30)
    except Exception as error:
        figure.errors.append(f"flood did not end: {error!r}")
    for player, checker in zip(players, checkers):
        figure.errors.extend(f"{player.name}: {e}" for e in checker.errors + player.errors)
        if not checker.errors and checker.floods != 1:
            figure.errors.append(f"{player.name}: no end frame")
        player.checker = None
    return received / elapsed / 1e6


@defer.inlineCallbacks
def status_round(port: int, concurrency: int, window: float, figure: Figure):
    """Completed status pings per second with ``concurrency`` clients pinging in a loop."""
    end = time.perf_counter() + window
    done = [0]

    @defer.inlineCallbacks
    def loop():
        while time.perf_counter() < end:
            probe = StatusProbe("127.0.0.1", port)
            try:
                yield timed(connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=10), probe), 10)
                yield timed(probe.done, 10)
                done[0] += 1
            except Exception as error:
                figure.errors.append(f"status ping: {error!r}")
                return

    start = time.perf_counter()
    yield defer.gatherResults([loop() for _ in range(concurrency)])
    return done[0] / (time.perf_counter() - start)


@defer.inlineCallbacks
def joins_round(port: int, concurrency: int, window: float, names: Names, figure: Figure):
    """Completed offline joins (to Play Login) per second, ``concurrency`` at a time."""
    end = time.perf_counter() + window
    done = [0]

    @defer.inlineCallbacks
    def loop():
        while time.perf_counter() < end:
            try:
                player = yield join(port, names(), timeout=15)
                player.transport.loseConnection()
                yield timed(player.lost, 10)
                done[0] += 1
            except Exception as error:
                figure.errors.append(f"join: {error!r}")
                return

    start = time.perf_counter()
    yield defer.gatherResults([loop() for _ in range(concurrency)])
    return done[0] / (time.perf_counter() - start)


@defer.inlineCallbacks
def joins_rounds(figure: Figure, rounds: int, window: float, names: Names,
                 ours: tuple[int, CpuSplit], base: tuple[int, CpuSplit]):
    """Rounds of 50 concurrent joins through ours, then the baseline, each port's processes'
    CPU split measured over its own round."""
    for _ in range(rounds):
        for (port, cpu), results in ((ours, figure.ours), (base, figure.base)):
            cpu.start()
            results.append((yield joins_round(port, 50, window, names, figure)))
            cpu.stop(results[-1] * window)


@defer.inlineCallbacks
def join_latency(port: int, names: Names, samples: list[float], figure: Figure):
    """Milliseconds from connect to Play Login of one join, then leave."""
    started = time.perf_counter()
    try:
        player = yield join(port, names(), timeout=15)
    except Exception as error:
        figure.errors.append(f"join: {error!r}")
        return
    samples.append((time.perf_counter() - started) * 1e3)
    player.transport.loseConnection()
    yield player.lost


@defer.inlineCallbacks
def paired_join_p50s(ours_port: int, base_port: int, count: int, names: Names, figure: Figure):
    """p50 join latency of each side, one join at a time, alternating sides."""
    ours: list[float] = []
    base: list[float] = []
    for _ in range(count):
        yield join_latency(ours_port, names, ours, figure)
        yield join_latency(base_port, names, base, figure)
    return (statistics.median(ours) if ours else 0.0), (statistics.median(base) if base else 0.0)


@defer.inlineCallbacks
def latency_round(groups: dict[str, list[BenchPlayer]], window: float, interval: float, figure: Figure):
    """Round-trip times (seconds) of echoed play frames, per path.

    Player ``i`` of every path takes turns: one echo direct, one through HAProxy, one
    through the proxy, then a pause of ``interval``; so all paths see the same moments
    of the machine's other load.
    """
    end = time.perf_counter() + window
    rtts: dict[str, list[float]] = {key: [] for key in groups}
    slots = len(next(iter(groups.values())))

    @defer.inlineCallbacks
    def loop(i: int):
        yield sleep(interval * i / slots)
        while time.perf_counter() < end:
            for key, players in groups.items():
                player = players[i]
                try:
                    rtts[key].append((yield timed(player.echo(), 10)))
                except Exception as error:
                    figure.errors.append(f"{player.name}: echo: {error!r}")
                    return
                if player.errors:
                    figure.errors.extend(player.errors)
                    return
            yield sleep(interval)

    yield defer.gatherResults([loop(i) for i in range(slots)])
    return rtts


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def raw_cipher_mbps(seconds: float) -> float:
    """AES-128-CFB8 encryption by ``cryptography`` on one core, in 64 KiB updates."""
    from mcproxy.wire.cipher import encryptor

    cipher = encryptor(os.urandom(16))
    chunk = os.urandom(65536)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        cipher.update(chunk)
        done += len(chunk)
    return done / (time.perf_counter() - start) / 1e6


# Figures ----------------------------------------------------------------------------


@defer.inlineCallbacks
def run_figures(opts, procs: Processes, selected: list[str]):
    rounds, window, players_n = opts.rounds, opts.window, opts.players
    names = Names()
    figures: list[Figure] = []
    backend = procs.backend()
    haproxy = procs.haproxy(backend)
    relay_figures = [f for f in ("relay-8k", "relay-64b", "status", "joins", "latency") if f in selected]
    if relay_figures:
        proxy, proxy_process = procs.proxy("proxy", backend)
        proxy_pid = proxy_process.pid if procs.profile_dir is None else _child_pid(proxy_process.pid)
    for name, size in (("relay-8k", 8192), ("relay-64b", 64)):
        if name not in selected:
            continue
        figure = Figure(f"relay MB/s, {size} B frames, {players_n} players", "MB/s", "HAProxy TCP",
                        "≥ 0.6 × HAProxy" if size > 64 else "≥ 0.15 × HAProxy",
                        ratio_min=0.6 if size > 64 else 0.15)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        ours = yield join_many(proxy, players_n, names)
        theirs = yield join_many(haproxy, players_n, names)
        cpu_ours: list[float] = []
        cpu_base: list[float] = []
        for _ in range(rounds):
            figure.ours.append((yield flood_round(ours, size, window, figure, proxy_pid, cpu_ours)))
            figure.base.append((yield flood_round(theirs, size, window, figure, procs.haproxy_pid, cpu_base)))
        if cpu_ours and cpu_base:
            figure.note = (f"CPU per GB relayed: proxy {statistics.median(cpu_ours):.2f} s, "
                           f"HAProxy {statistics.median(cpu_base):.2f} s")
        yield leave(ours + theirs)
    if "encryption" in selected:
        figure = Figure(f"relay MB/s, online mode (AES-CFB8), 8192 B frames, {players_n} players", "MB/s",
                        "raw AES-CFB8, one core", "≥ 0.5 × raw cipher", ratio_min=0.5)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        online, online_process = procs.proxy("proxy-online", backend, online=True)
        players = yield join_many(online, players_n, names)
        if not all(p.encrypted for p in players):
            figure.errors.append("a player was not encrypted")
        online_pid = online_process.pid if procs.profile_dir is None else _child_pid(online_process.pid)
        cpu_ours = []
        for _ in range(rounds):
            figure.ours.append((yield flood_round(players, 8192, window, figure, online_pid, cpu_ours)))
            figure.base.append(raw_cipher_mbps(min(window, 1.0)))
        if cpu_ours:
            figure.note = (f"proxy CPU per GB relayed {statistics.median(cpu_ours):.1f} s, "
                           f"i.e. {1e3 / statistics.median(cpu_ours):.1f} MB/s per core "
                           f"(raw cipher {statistics.median(figure.base):.1f} MB/s)")
        yield leave(players)
        procs.stop(online_process)
    if "status" in selected:
        figure = Figure("status pings/s, 16 concurrent", "pings/s", "direct status server",
                        "≥ 0.8 × direct", ratio_min=0.8)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        for _ in range(rounds):
            figure.ours.append((yield status_round(proxy, 16, window, figure)))
            figure.base.append((yield status_round(backend, 16, window, figure)))
    if "joins" in selected:
        figure = Figure("offline joins/s, 50 concurrent", "joins/s", "HAProxy → same backend",
                        "≥ 0.5 × HAProxy", ratio_min=0.5)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        bench, back = os.getpid(), procs.backend_pid
        ours_cpu = CpuSplit({"proxy": proxy_pid, "players": bench, "backend": back})
        base_cpu = CpuSplit({"haproxy": procs.haproxy_pid, "players": bench, "backend": back})
        yield joins_rounds(figure, rounds, window, names, (proxy, ours_cpu), (haproxy, base_cpu))
        figure.note = f"{ceiling_note(ours_cpu, base_cpu, 'proxy', 0.5)}; {load_average()}"
    if "latency" in selected:
        figure = Figure(f"added round-trip p99, {players_n} players", "ms", "HAProxy's added p99",
                        "≤ 3 × HAProxy's", ratio_max=3.0)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        groups = {}
        for key, port in (("direct", backend), ("haproxy", haproxy), ("proxy", proxy)):
            groups[key] = yield join_many(port, players_n, names)
        direct = []
        for _ in range(rounds):
            rtts = yield latency_round(groups, window, opts.echo_interval, figure)
            p = {key: p99(samples) * 1e3 for key, samples in rtts.items()}
            direct.append(p["direct"])
            figure.ours.append(p["proxy"] - p["direct"])
            figure.base.append(p["haproxy"] - p["direct"])
        figure.note = f"direct p99 {statistics.median(direct):.3f} ms; added = p99 via it − p99 direct"
        yield leave([p for group in groups.values() for p in group])
    if "cluster-join" in selected and shutil.which("redis-server") is None:
        figure = Figure("join latency p50, one at a time, [cluster] on", "ms", "the same proxy, no [cluster]",
                        "≤ +1 ms p50", added_max=1.0)
        figure.errors.append("redis-server is not installed (scripts/setup installs it)")
        figures.append(figure)
    elif "cluster-join" in selected:
        figure = Figure("join latency p50, one at a time, [cluster] on", "ms", "the same proxy, no [cluster]",
                        "≤ +1 ms p50", added_max=1.0)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        redis = procs.redis()
        cluster = (f'[cluster]\nenabled = true\nredis = "tcp:host=127.0.0.1:port={redis}"\n'
                   'proxy_id = "bench-1"\nheartbeat_interval = 1.0\n')
        clustered, clustered_process = procs.proxy("proxy-cluster", backend, extra=cluster)
        alone, alone_process = procs.proxy("proxy-alone", backend)
        yield sleep(1.5)  # the clustered proxy links to Redis and publishes once
        joins = max(20, int(window * 25))
        for _ in range(rounds):
            ours, base = yield paired_join_p50s(clustered, alone, joins, names, figure)
            figure.ours.append(ours)
            figure.base.append(base)
        figure.note = (f"{joins} joins per round and side, alternating sides one join at a time so both "
                       "see the same load, each left at once; added = "
                       f"{statistics.median(figure.ours) - statistics.median(figure.base):+.3f} ms")
        procs.stop(clustered_process)
        procs.stop(alone_process)
    if "workers-relay" in selected or "workers-joins" in selected:
        from bench.workers import workers_figures

        figures += yield workers_figures(opts, procs, backend, names, selected)
    if "rss" in selected:
        count = opts.idle_players
        figure = Figure(f"RSS per idle player, {count} players", "KiB", "—", "≤ 64 KiB", absolute_max=64.0)
        figures.append(figure)
        print(f"{figure.name} ...", flush=True)
        port, process = procs.proxy("proxy-rss", backend)
        pid = process.pid if procs.profile_dir is None else _child_pid(process.pid)
        warm = yield join_many(port, 50, names)
        yield leave(warm)
        yield sleep(1.0)
        before = rss_kib(pid)
        afters = []
        for _ in range(3):
            players = yield join_many(port, count, names)
            yield sleep(1.0)
            figure.ours.append((rss_kib(pid) - before) / count)
            yield leave(players, timeout=60)
            yield sleep(1.5)
            afters.append(rss_kib(pid) - before)
        figure.note = (f"RSS {before} KiB before; after {count} joined and left, three times over: "
                       + ", ".join(f"{after:+d}" for after in afters) + " KiB")
        procs.stop(process)
    return figures


def _child_pid(pid: int) -> int:
    """The profiled proxy's pid under py-spy."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0]) if children else pid


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "ours", "baseline", "ratio", "target", "met")]
    for f in figures:
        ours = statistics.median(f.ours) if f.ours else None
        base = statistics.median(f.base) if f.base else None
        ratio = f.ratio
        rows.append((
            f.name,
            f"{fmt(ours)} {f.unit}" if ours is not None else "—",
            f"{fmt(base)} {f.unit} ({f.baseline_name})" if base is not None else f.baseline_name,
            f"{ratio:.2f}" if ratio is not None else "—",
            f.target,
            ("yes" if f.met else "no") + (f" ({len(f.errors)} errors)" if f.errors else ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (under a minute)")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 5, quick 2)")
    parser.add_argument("--window", type=float, help="seconds measured per round (default 2, quick 1)")
    parser.add_argument("--players", type=int, default=50, help="players for relay and latency figures")
    parser.add_argument("--idle-players", type=int, help="players for the RSS figure (default 1000, quick 300)")
    parser.add_argument("--echo-interval", type=float, default=0.02, help="seconds between a player's echoes")
    parser.add_argument("--only", action="append", choices=FIGURES, help="run just this figure (repeatable)")
    parser.add_argument("--profile", metavar="DIR", help="run each proxy under py-spy, folded stacks in DIR")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (configs, logs)")
    parser.add_argument("--protocol", type=int, help="protocol the load speaks (default 767, 1.21.1; "
                        "e.g. 47 for 1.8.8, 340 for 1.12.2)")
    opts = parser.parse_args(argv)
    if opts.protocol is not None:
        if opts.protocol not in SERVED_PROTOCOLS:
            parser.error(f"--protocol {opts.protocol}: not a protocol the proxy serves")
        peers.configure(opts.protocol)
    opts.rounds = opts.rounds or (2 if opts.quick else 5)
    opts.window = opts.window or (1.0 if opts.quick else 2.0)
    opts.idle_players = opts.idle_players or (300 if opts.quick else 1000)
    selected = opts.only or list(FIGURES)
    workdir = Path(tempfile.mkdtemp(prefix="mcproxy-bench-"))
    profile_dir = Path(opts.profile).resolve() if opts.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    procs = Processes(workdir, profile_dir)
    info = machine()
    print("\n".join(info), flush=True)
    outcome: dict = {}
    started = time.monotonic()

    def done(result):
        outcome["result"] = result
        reactor.stop()

    def go():
        d = run_figures(opts, procs, selected)
        d.addBoth(done)

    reactor.callWhenRunning(go)
    # The whole run is bounded: a hung figure cannot keep it going.
    limit = reactor.callLater(opts.rounds * opts.window * 40 + 240, reactor.stop)
    try:
        reactor.run()
    finally:
        procs.stop_all()
        if limit.active():
            limit.cancel()
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work folder: {workdir}")
    result = outcome.get("result")
    if result is None:
        print("bench timed out")
        return 2
    if not isinstance(result, list):
        print(result.getTraceback(), file=sys.stderr)
        return 2
    print()
    print(table(result))
    for figure in result:
        if figure.note:
            print(f"- {figure.name}: {figure.note}")
        for error in figure.errors[:5]:
            print(f"- {figure.name}: ERROR {error}")
    print(f"({opts.rounds} rounds of {opts.window:g} s, medians; {time.monotonic() - started:.0f} s in all)")
    return 1 if any(f.errors for f in result) else 0
