"""Real processes and sockets for integration tests, all on 127.0.0.1 and all bounded.

CI runs them on a small machine other test runs share, so they wait for conditions, never for
time: each child reports through its own pipe, so what one process reported is not ordered
against another's (wait for the event itself with ``wait_for``, or for the last one of that
connection, such as a backend's "leave"); a join can take 10 s and more; and a port probed free
for a child to bind later can be taken meanwhile (``free_port`` keeps clear of the ports the
kernel hands out, and ``listening_peer`` starts a server again elsewhere when it happens).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import random
import shutil
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import defer, protocol, reactor
from twisted.python.failure import Failure

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "tests" / "peers"
NODE_MODULES = REPO / "peers" / "node_modules"

#: A strong test secret (never a real deployment's): 64 random-looking hex characters.
TEST_SECRET = "5f0c2b7a9d4e61f83a27c5d90b1e4f6a8c3d2e7b9f0a1c4d6e8b2a5f7c9d0e13"


def node_missing() -> str | None:
    """Why real-peer tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (scripts/setup installs the peers)"
    if not (NODE_MODULES / "minecraft-protocol").is_dir():
        return "peers/node_modules is missing: run scripts/setup"
    return None


#: Ports the examples and tests name outright (the quickstart's defaults among them).
_NAMED_PORTS = frozenset({25565, 25566, 25580, 25599, 25999})
_handed_out: set[int] = set()
_choice = random.Random()


def _below_ephemeral() -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(consecutive: int = 1) -> int:
    """A port (the first of ``consecutive`` in a row) free now, for a child process to bind later.

    Drawn from below the kernel's ephemeral range: every outgoing connection and every bind to
    port 0 on the machine (other test runs' included) takes its port from that range, so a port
    probed free there can be gone by the time the child binds it. None is handed out twice in
    one run, so two children never race for the same one.
    """
    low, high = 10000, _below_ephemeral()
    for _ in range(500):
        first = _choice.randrange(low, max(low + 1, high - consecutive))
        ports = range(first, first + consecutive)
        if any(p in _handed_out or p in _NAMED_PORTS for p in ports):
            continue
        if all(_bindable(p) for p in ports):
            _handed_out.update(ports)
            return first
    raise AssertionError(f"no {consecutive} free port(s) in a row between {low} and {high}")


class ProcessOutput(protocol.ProcessProtocol):
    """Collects a child's stdout and stderr together; ``ended`` fires when it exits."""

    def __init__(self) -> None:
        self.output = b""
        self.ended: defer.Deferred = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason) -> None:
        self.ended.callback(None)


class _JSONLines(protocol.ProcessProtocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[dict] = []
        self.stderr = bytearray()
        self._partial = b""
        self._waiters: list[tuple[callable, defer.Deferred]] = []
        self.ended: defer.Deferred = defer.Deferred()
        self.exit_code: int | None = None

    def outReceived(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            for waiter in list(self._waiters):
                match, d = waiter
                if match(event):
                    self._waiters.remove(waiter)
                    d.callback(event)

    def errReceived(self, data: bytes) -> None:
        if len(self.stderr) < 65536:
            self.stderr += data

    def processEnded(self, reason: Failure) -> None:
        self.exit_code = getattr(reason.value, "exitCode", None)
        for _, d in self._waiters:
            d.errback(RuntimeError(f"{self.name} exited ({self.exit_code}) before the awaited event; "
                                   f"stderr: {self.stderr[-2000:].decode(errors='replace')}"))
        self._waiters.clear()
        self.ended.callback(self.exit_code)

    def wait_for(self, match, timeout: float = 20.0, what: str = "awaited event") -> defer.Deferred:
        """The first event ``match`` accepts, now or when it comes; after ``timeout`` an
        AssertionError naming what was awaited and the last events seen."""
        for event in self.events:
            if match(event):
                return defer.succeed(event)
        d: defer.Deferred = defer.Deferred()
        waiter = (match, d)
        self._waiters.append(waiter)

        def timed_out(result, seconds):
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            raise AssertionError(f"{self.name}: no {what} within {seconds} s; its last events: {self.events[-8:]}")
        d.addTimeout(timeout, reactor, onTimeoutCancel=timed_out)
        return d


class NodePeer:
    """A node script from tests/peers run as a subprocess that reports JSON lines."""

    def __init__(self, script: str, *args: object, env: dict | None = None) -> None:
        self.protocol = _JSONLines(script)
        environment = dict(os.environ, NODE_PATH=str(NODE_MODULES))
        environment.update(env or {})
        self.transport = reactor.spawnProcess(
            self.protocol, shutil.which("node"), ["node", str(PEERS / script), *map(str, args)],
            env=environment, path=str(REPO))

    @property
    def events(self) -> list[dict]:
        return self.protocol.events

    def wait_for(self, event: str, timeout: float = 20.0, **fields) -> defer.Deferred:
        return self.protocol.wait_for(
            lambda e: e.get("event") == event and all(e.get(k) == v for k, v in fields.items()), timeout,
            what=" ".join([repr(event), *(f"{k}={v!r}" for k, v in fields.items())]))

    def finished(self, timeout: float = 30.0) -> defer.Deferred:
        """Fires with the exit code; kills the process if it overruns ``timeout``."""
        if self.protocol.exit_code is not None or self.protocol.ended.called:
            return defer.succeed(self.protocol.exit_code)
        d = defer.Deferred()
        self.protocol.ended.addBoth(lambda code: (d.called or d.callback(code), code)[1])
        call = reactor.callLater(timeout, self.stop)
        d.addBoth(lambda result: (call.active() and call.cancel(), result)[1])
        return d

    def stop(self) -> defer.Deferred:
        if not self.protocol.ended.called:
            try:
                self.transport.signalProcess("KILL")
            except Exception:
                pass
        d = defer.Deferred()
        self.protocol.ended.addBoth(lambda r: (d.called or d.callback(None), r)[1])
        return d


@defer.inlineCallbacks
def listening_peer(case, script: str, *args: object, env: dict | None = None, timeout: float = 60.0):
    """A node server from tests/peers (its first argument a port) listening on a free port,
    stopped at ``case``'s cleanup: ``(peer, port)``. The port was only probed free, so when
    another process took it in between the server is started again on another one; loading
    minecraft-data on a loaded machine can take many seconds, hence the generous wait."""
    for attempt in range(3):
        port = free_port()
        peer = NodePeer(script, port, *args, env=env)
        case.addCleanup(peer.stop)
        try:
            yield peer.wait_for("listening", timeout)
        except RuntimeError:
            if attempt < 2 and b"EADDRINUSE" in peer.protocol.stderr:
                continue
            raise
        return peer, port


def write_proxy_config(directory: Path, port: int, servers: dict[str, int], *, admin_port: int = 0,
                       online_mode: bool = False, forwarding: str = "none", extra: str = "",
                       try_order: list[str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "proxy.secret").write_text(TEST_SECRET)
    server_lines = "\n".join(f'{name} = "127.0.0.1:{p}"' for name, p in servers.items())
    order = json.dumps(try_order or list(servers))
    admin = f'bind = "tcp:{admin_port}:interface=127.0.0.1"' if admin_port else 'bind = ""'
    # Keys for [proxy] come first in ``extra``; any tables after them go at the end.
    proxy_extra, _, tables = extra.partition("[")
    tables = "[" + tables if tables else ""
    text = f"""
[proxy]
bind = "tcp:{port}:interface=127.0.0.1"
online_mode = {str(online_mode).lower()}
forwarding = "{forwarding}"
{proxy_extra}

[security]
proxy_secret_file = "proxy.secret"

[servers]
{server_lines}
try = {order}

[messaging]
enabled = false

[admin]
{admin}

{tables}
"""
    path = directory / "proxy.toml"
    path.write_text(text)
    return path


def sleep(seconds: float) -> defer.Deferred:
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


def temp_dir(case) -> Path:
    """A fresh absolute folder removed after the test (trial's mktemp is cwd-relative)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mcproxy-test-"))
    case.addCleanup(shutil.rmtree, path, True)
    return path


def make_ca_and_server_cert(directory: Path, name: str = "localhost") -> tuple[Path, bytes, bytes]:
    """A throwaway CA (``ca.pem`` in ``directory``) and a certificate for ``name`` and
    127.0.0.1 signed by it: ``(CA path, certificate PEM, key PEM)``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcproxy test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ca_path, cert.public_bytes(serialization.Encoding.PEM), key_pem
