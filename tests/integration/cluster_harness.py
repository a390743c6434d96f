"""A real redis-server per test, and proxies in the same network sharing it."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.logger import Logger

from mcproxy.config import load_proxy_config
from mcproxy.proxy.service import ProxyProcess
from tests.integration.deployment import TwistdProcess, http_json, wait_until
from tests.integration.harness import ProcessOutput, free_port, make_ca_and_server_cert, write_proxy_config

#: Short, so the faults' "within three heartbeats" fit a test; long enough for a loaded machine.
HEARTBEAT = 0.5


def redis_missing() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (scripts/setup installs it)"
    return None


class RedisServer:
    """``redis-server`` on a free loopback port: no persistence, so a restart starts empty."""

    def __init__(self, password: str | None = None, tls_dir: Path | None = None) -> None:
        self.port = free_port()
        self.password = password
        self.tls_dir = tls_dir
        self.hostname = "redis.test"
        self._process = None
        self._started = False
        if tls_dir is not None:
            (tls_dir / "trust").mkdir(parents=True)
            ca, cert, key = make_ca_and_server_cert(tls_dir, self.hostname)
            ca.rename(tls_dir / "trust" / "ca.pem")
            (tls_dir / "redis.pem").write_bytes(cert)
            (tls_dir / "redis.key").write_bytes(key)

    @defer.inlineCallbacks
    def start(self, timeout: float = 30.0):
        """Start (or restart, on the same port) and wait until it accepts connections. Its port
        was only probed free: on a first start that finds it taken, start again on another."""
        for attempt in range(3):
            self._spawn()
            yield wait_until(lambda: b"Ready to accept connections" in self._process.output
                             or self._process.ended.called, timeout, what="redis-server ready")
            if not self._process.ended.called:
                self._started = True
                return
            output = self._process.output.decode(errors="replace")
            if self._started or "Address already in use" not in output:
                break
            self.port = free_port()
        raise AssertionError(f"redis-server exited: {output[-2000:]}")

    def _spawn(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"]
        if self.tls_dir is not None:
            argv[1:3] = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no",
                         "--tls-cert-file", str(self.tls_dir / "redis.pem"),
                         "--tls-key-file", str(self.tls_dir / "redis.key")]
        if self.password:
            argv += ["--requirepass", self.password]
        self._process = ProcessOutput()
        self._transport = reactor.spawnProcess(self._process, shutil.which("redis-server"), argv, env={})

    @property
    def endpoint(self) -> str:
        if self.tls_dir is not None:
            return (f"ssl:host=127.0.0.1:port={self.port}:caCertsDir={self.tls_dir / 'trust'}:"
                    f"hostname={self.hostname}")
        return f"tcp:host=127.0.0.1:port={self.port}"

    def stop(self, signal: str = "TERM") -> defer.Deferred:
        if self._process is None or self._process.ended.called:
            return defer.succeed(None)
        self._transport.signalProcess(signal)
        timer = reactor.callLater(10, lambda: self._process.ended.called or self._transport.signalProcess("KILL"))
        return self._process.ended.addBoth(lambda r: (timer.active() and timer.cancel(), r)[1])



@defer.inlineCallbacks
def running_redis(case, password: str | None = None, tls_dir: Path | None = None):
    """A started redis-server that stops when ``case`` ends."""
    redis = RedisServer(password=password, tls_dir=tls_dir)
    yield redis.start()
    case.addCleanup(redis.stop)
    return redis

def cluster_config(directory: Path, port: int, servers: dict[str, int], redis: RedisServer, proxy_id: str,
                   admin_port: int = 0, proxy_keys: str = "", tables: str = "") -> Path:
    password = ""
    if redis.password:
        (directory / "redis.password").parent.mkdir(parents=True, exist_ok=True)
        (directory / "redis.password").write_text(redis.password + "\n")
        password = 'redis_password_file = "redis.password"'
    extra = f"""{proxy_keys}
[cluster]
enabled = true
redis = "{redis.endpoint}"
{password}
proxy_id = "{proxy_id}"
heartbeat_interval = {HEARTBEAT}

[permissions]
"mcproxy.command.send" = ["*"]
"mcproxy.command.alert" = ["Admin"]
"mcproxy.command.kick" = ["Admin"]
"mcproxy.command.ip" = ["Admin"]
{tables}
"""
    return write_proxy_config(directory, port, servers, admin_port=admin_port, extra=extra)


class ClusterProxy:
    """One proxy of the network, in this process (inspectable) or as ``twistd`` (killable)."""

    def __init__(self, case, directory: Path, servers: dict[str, int], redis: RedisServer, proxy_id: str,
                 proxy_keys: str = "", behind_haproxy: bool = False) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        self.proxy_id = proxy_id
        self.path = cluster_config(directory / proxy_id, self.port, servers, redis, proxy_id, self.admin_port,
                                   proxy_keys)
        if behind_haproxy:
            plain = f'bind = "tcp:{self.port}:interface=127.0.0.1"'
            self.path.write_text(self.path.read_text().replace(plain, "bind = \"haproxy:" + plain[8:]))
        self.events: list[dict] = []
        self.process: ProxyProcess | None = None
        self.twistd: TwistdProcess | None = None
        self._case = case

    @defer.inlineCallbacks
    def start(self, linked: bool = True):
        self.process = ProxyProcess(load_proxy_config(self.path), reactor, log=Logger(observer=self.events.append))
        self.process.privilegedStartService()
        self.process.startService()
        self._case.addCleanup(self.process.stopService)
        yield self.process.game.when_bound()
        if linked:
            yield wait_until(lambda: self.process.cluster._link.connected, 30,
                             what=f"{self.proxy_id} linked to redis")

    @defer.inlineCallbacks
    def start_twistd(self):
        self.twistd = TwistdProcess("mcproxy", self.path)
        self.twistd.start()
        self._case.addCleanup(self.twistd.stop)
        yield wait_until(lambda: self.health_of_cluster().addCallback(lambda state: state == "OK"),
                         90, what=f"{self.proxy_id} (twistd) linked to redis")

    def health_of_cluster(self) -> defer.Deferred:
        d = http_json(f"http://127.0.0.1:{self.admin_port}/health")
        d.addCallback(lambda answer: answer[1]["checks"]["cluster"]["state"])
        return d


class HAProxy:
    """HAProxy in TCP mode spreading players over proxies with PROXY protocol v2."""

    def __init__(self, directory: Path, proxy_ports: list[int]) -> None:
        self.port = free_port()
        servers = "\n".join(f"    server p{n} 127.0.0.1:{port} send-proxy-v2"
                            for n, port in enumerate(proxy_ports, 1))
        self.config = directory / "haproxy.cfg"
        self.config.write_text(f"""\
global
    maxconn 512
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend players
    bind 127.0.0.1:{self.port}
    default_backend proxies
backend proxies
    balance roundrobin
{servers}
""")
        self._process = None

    @defer.inlineCallbacks
    def start(self):
        self._process = ProcessOutput()
        self._transport = reactor.spawnProcess(self._process, shutil.which("haproxy") or "/usr/sbin/haproxy",
                                               ["haproxy", "-db", "-f", str(self.config)], env={})
        yield wait_until(self._listening, 30, what="haproxy listening",
                         abandon=lambda: self._process.ended.called and
                         f"haproxy exited: {self._process.output[-2000:].decode(errors='replace')}")

    def _listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> defer.Deferred:
        if self._process is None or self._process.ended.called:
            return defer.succeed(None)
        self._transport.signalProcess("TERM")
        return self._process.ended


def haproxy_missing() -> str | None:
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        return "haproxy is not installed (scripts/setup installs it)"
    return None
