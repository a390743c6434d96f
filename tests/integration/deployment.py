"""A whole deployment as separate processes: twistd mcproxy, twistd mcbackend, mcproxyctl."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

from twisted.internet import defer, protocol, reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.web.client import Agent, FileBodyProducer
from twisted.web.http_headers import Headers

from mcproxy.proxy.auth import read_body

from tests.integration.harness import REPO, TEST_SECRET, free_port, make_ca_and_server_cert, sleep

#: Larger than any admin answer a test reads (/status with a hundred players is ~100 KiB).
ADMIN_BODY_LIMIT = 16 * 1024 * 1024

BIN = Path(sys.executable).parent


class _Output(protocol.ProcessProtocol):
    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log = open(log_path, "ab")
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        # Flushed at once: tests read the log while the process runs.
        self.log.write(data)
        self.log.flush()

    errReceived = outReceived

    def processEnded(self, reason) -> None:
        self.log.close()
        self.ended.callback(getattr(reason.value, "exitCode", None))


class TwistdProcess:
    """``twistd -n <plugin> -c <config>`` as a child process, its output in ``log_path``."""

    def __init__(self, plugin: str, config: Path) -> None:
        self.plugin = plugin
        self.config = config
        self.log_path = config.with_suffix(".log")
        self.protocol: _Output | None = None

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The twistd arguments and environment; a subclass may start another application."""
        return (["twistd", "-n", "--pidfile=", self.plugin, "-c", str(self.config)],
                dict(os.environ, PYTHONPATH=str(REPO)))

    def start(self) -> None:
        self.protocol = _Output(self.plugin, self.log_path)
        argv, env = self.command()
        self.transport = reactor.spawnProcess(
            self.protocol, str(BIN / "twistd"), argv, env=env, path=str(self.config.parent))

    @property
    def running(self) -> bool:
        return self.protocol is not None and not self.protocol.ended.called

    def stop(self) -> defer.Deferred:
        if not self.running:
            return defer.succeed(None)
        self.transport.signalProcess("TERM")
        ended = self.protocol.ended
        timer = reactor.callLater(10, lambda: self.running and self.transport.signalProcess("KILL"))
        ended.addBoth(lambda r: (timer.active() and timer.cancel(), r)[1])
        return ended

    def tail(self, count: int = 15) -> str:
        """The last lines of its output, for a failure message."""
        if not self.log_path.exists():
            return f"{self.plugin}: no output"
        lines = self.log_path.read_text(errors="replace").splitlines()[-count:]
        return f"{self.plugin} ({self.config.name}), last lines:\n" + "\n".join(lines)

    def log_lines(self) -> list[dict]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pass
        return lines


@defer.inlineCallbacks
def http_json(url: str, method: bytes = b"GET", body: dict | None = None):
    """``(status, decoded JSON)`` of one admin request; ``body`` is sent as JSON."""
    headers = producer = None
    if body is not None:
        headers = Headers({b"content-type": [b"application/json"]})
        producer = FileBodyProducer(io.BytesIO(json.dumps(body).encode()))
    response = yield Agent(reactor).request(method, url.encode(), headers, producer)
    body = yield read_body(response, ADMIN_BODY_LIMIT)
    try:
        return response.code, json.loads(body)
    except ValueError:
        return response.code, body.decode(errors="replace")


@defer.inlineCallbacks
def wait_until(check, timeout: float = 20.0, interval: float = 0.2, what: str = "condition", abandon=None):
    """Poll ``check()`` (may return a Deferred) until it is truthy; fail after ``timeout``, or at
    once when ``abandon()`` gives a reason (say, the process that would answer has exited)."""
    deadline = reactor.seconds() + timeout
    last = None
    while reactor.seconds() < deadline:
        reason = abandon() if abandon is not None else None
        if reason:
            raise AssertionError(f"gave up waiting for {what}: {reason}")
        try:
            last = yield check()
        except Exception as error:  # a listener not up yet refuses the connection
            last = error
        else:
            if last:
                return last
        yield sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@defer.inlineCallbacks
def mcproxyctl(*args: str):
    """Run mcproxyctl; ``(exit code, stdout + stderr)``."""
    out, err, code = yield getProcessOutputAndValue(
        str(BIN / "mcproxyctl"), list(args), env=dict(os.environ, PYTHONPATH=str(REPO)), path=str(REPO))
    return code, (out + err).decode(errors="replace")


class Deployment:
    """Configs for a proxy and named backends in one folder, sharing one secret."""

    def __init__(self, directory: Path, backends: tuple[str, ...] = ("lobby", "game"), *,
                 online_mode: bool = False, require_authenticated_mode: bool = False, tls: bool = False,
                 log_files: bool = False) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "proxy.secret").write_text(TEST_SECRET)
        self.proxy_port = free_port()
        self.proxy_admin = free_port()
        self.messaging_port = free_port()
        self.backend_ports = {name: free_port() for name in backends}
        self.backend_admin = {name: free_port() for name in backends}
        # With log_files, each process writes JSON lines to <config name>.jsonl beside its config.
        logging = (lambda name: f'\n[logging]\nfile = "{name}.jsonl"\n') if log_files else (lambda name: "")
        servers = "\n".join(f'{name} = "127.0.0.1:{port}"' for name, port in self.backend_ports.items())
        messaging_bind = f"tcp:{self.messaging_port}:interface=127.0.0.1"
        messaging_client = f"tcp:host=127.0.0.1:port={self.messaging_port}"
        if tls:
            # The control link over TLS: the backends trust only a test CA and check the
            # proxy's certificate is for "proxy.test".
            cas = directory / "cas"
            _, cert_pem, key_pem = make_ca_and_server_cert(cas, "proxy.test")
            (directory / "proxy-cert.pem").write_bytes(cert_pem)
            (directory / "proxy-key.pem").write_bytes(key_pem)
            messaging_bind = (f"ssl:{self.messaging_port}:interface=127.0.0.1:"
                              f"privateKey={directory / 'proxy-key.pem'}:certKey={directory / 'proxy-cert.pem'}")
            messaging_client = (f"ssl:host=127.0.0.1:port={self.messaging_port}:"
                                f"caCertsDir={cas}:hostname=proxy.test")
        self.proxy_config = directory / "proxy.toml"
        self.proxy_config.write_text(f"""
[proxy]
bind = "tcp:{self.proxy_port}:interface=127.0.0.1"
online_mode = {str(online_mode).lower()}
forwarding = "modern"

[security]
proxy_secret_file = "proxy.secret"

[servers]
{servers}
try = {json.dumps(list(backends))}

[messaging]
bind = "{messaging_bind}"

[admin]
bind = "tcp:{self.proxy_admin}:interface=127.0.0.1"
history_period = 1.0
{logging("proxy")}""")
        self.backend_configs = {}
        for name in backends:
            path = directory / f"backend-{name}.toml"
            path.write_text(f"""
[backend]
bind = "tcp:{self.backend_ports[name]}:interface=127.0.0.1"
server_id = "{name}"
require_authenticated_mode = {str(require_authenticated_mode).lower()}
proxy_secret_file = "proxy.secret"

[messaging]
proxy = "{messaging_client}"
reconnect_max_delay = 2.0

[admin]
bind = "tcp:{self.backend_admin[name]}:interface=127.0.0.1"
history_period = 1.0
{logging(f"backend-{name}")}""")
            self.backend_configs[name] = path
        self.proxy = TwistdProcess("mcproxy", self.proxy_config)
        self.backends = {name: TwistdProcess("mcbackend", path) for name, path in self.backend_configs.items()}

    def admin(self, port: int, path: str) -> defer.Deferred:
        return http_json(f"http://127.0.0.1:{port}{path}")

    @defer.inlineCallbacks
    def start(self, case):
        """Start everything and wait until the proxy reports every link synchronized."""
        self.proxy.start()
        case.addCleanup(self.proxy.stop)
        for backend in self.backends.values():
            backend.start()
            case.addCleanup(backend.stop)
        yield self.wait_ready()

    @defer.inlineCallbacks
    def wait_ready(self, timeout: float = 90.0):
        """Wait for the proxy's /health READY: three cold Python processes on a loaded machine
        can take most of a minute. A proxy that exited fails the wait at once; either failure
        shows each process's last output lines."""
        answers = []

        @defer.inlineCallbacks
        def ready():
            code, body = yield self.admin(self.proxy_admin, "/health")
            answers.append(body)
            return code == 200 and body["status"] == "READY"

        def cannot_become_ready():
            if not self.proxy.running:
                return "the proxy exited"
            last = answers[-1] if answers and isinstance(answers[-1], dict) else {}
            listener = last.get("checks", {}).get("listener", {})
            if listener.get("state") == "FAILED" and listener.get("detail") != "not listening yet":
                return f"the proxy's game listener failed: {listener.get('detail')}"
            return None
        try:
            yield wait_until(ready, timeout, what="proxy /health READY", abandon=cannot_become_ready)
        except AssertionError as error:
            tails = "\n".join(process.tail() for process in (self.proxy, *self.backends.values()))
            raise AssertionError(f"{error}\n{tails}") from None
