"""What the operations tests share: a configurable proxy/backend pair as twistd processes,
admin requests with a bearer token, and a test-side control-plane client that sends
exactly the message a test wants to the proxy's messaging port.
"""

from __future__ import annotations

import json
import secrets
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent
from twisted.web.http_headers import Headers

from mcproxy.proxy.auth import read_body
from mcproxy.control.peer import ControlPeer, ControlProtocol
from mcproxy.wire.framing import encode_frame
from mcproxy.wire.types import encode_string, encode_ushort, encode_uuid, encode_varint
from tests.integration.deployment import TwistdProcess, wait_until
from tests.integration.harness import free_port

#: Larger than any admin answer a test reads (/status with a hundred players is ~100 KiB).
ADMIN_BODY_LIMIT = 16 * 1024 * 1024

#: A protocol every tier-1 client speaks (1.21.4).
PROTOCOL = 769


class Network:
    """A proxy and one backend ("lobby") configured in ``directory``, not started yet.

    ``ghost`` is a second [servers] entry with nothing behind it: a test-side control client
    may claim that server id without displacing the real backend's link.
    """

    def __init__(self, directory: Path, *, token: bool = False, previous_secret: bool = False,
                 probe_interval: float = 10.0, ghost: bool = False, proxy_extra: str = "",
                 log_file: bool = False) -> None:
        self.directory = directory
        self.secret = secrets.token_hex(32)
        self.previous = secrets.token_hex(32) if previous_secret else None
        self.token = secrets.token_hex(32) if token else None
        (directory / "proxy.secret").write_text(self.secret + "\n")
        ports = ("proxy_port", "proxy_admin", "messaging_port", "backend_port", "backend_admin", "ghost_port")
        for name in ports:
            setattr(self, name, free_port())
        security = 'proxy_secret_file = "proxy.secret"\n'
        if self.previous:
            (directory / "proxy.secret.old").write_text(self.previous + "\n")
            security += 'proxy_secret_previous_file = "proxy.secret.old"\n'
        admin_token = ""
        if self.token:
            (directory / "admin.token").write_text(self.token + "\n")
            admin_token = 'token_file = "admin.token"\n'
        servers = f'lobby = "127.0.0.1:{self.backend_port}"\n'
        if ghost:
            servers += f'ghost = "127.0.0.1:{self.ghost_port}"\n'
        proxy_logging = '[logging]\nfile = "proxy-json.log"\n' if log_file else ""
        backend_logging = '[logging]\nfile = "backend-json.log"\n' if log_file else ""
        backend_previous = 'proxy_secret_previous_file = "proxy.secret.old"' if self.previous else ""
        self.proxy_config = directory / "proxy.toml"
        self.proxy_config.write_text(f"""
[proxy]
bind = "tcp:{self.proxy_port}:interface=127.0.0.1"
online_mode = false
forwarding = "modern"
{proxy_extra}

[security]
{security}
[servers]
{servers}try = ["lobby"]

[messaging]
bind = "tcp:{self.messaging_port}:interface=127.0.0.1"
control_max_payload = 65536

[admin]
bind = "tcp:{self.proxy_admin}:interface=127.0.0.1"
probe_interval = {probe_interval}
{admin_token}
{proxy_logging}
""")
        self.backend_config = directory / "backend.toml"
        self.backend_config.write_text(f"""
[backend]
bind = "tcp:{self.backend_port}:interface=127.0.0.1"
server_id = "lobby"
require_authenticated_mode = false
proxy_secret_file = "proxy.secret"
{backend_previous}

[messaging]
proxy = "tcp:host=127.0.0.1:port={self.messaging_port}"
reconnect_max_delay = 1.0

[admin]
bind = "tcp:{self.backend_admin}:interface=127.0.0.1"
{admin_token}
{backend_logging}
""")
        self.proxy = TwistdProcess("mcproxy", self.proxy_config)
        self.backend = TwistdProcess("mcbackend", self.backend_config)

    def configured_secrets(self) -> list[str]:
        """Every secret the processes hold, as written in their files."""
        return [s for s in (self.secret, self.previous, self.token) if s]

    def start(self, case: Any, backend: bool = True) -> None:
        self.proxy.start()
        case.addCleanup(self.proxy.stop)
        if backend:
            self.backend.start()
            case.addCleanup(self.backend.stop)

    def admin(self, port: int, path: str, token: str | None = "configured") -> defer.Deferred:
        if token == "configured":
            token = self.token
        return admin_request(f"http://127.0.0.1:{port}{path}", token)

    def proxy_health(self) -> defer.Deferred:
        return self.admin(self.proxy_admin, "/health")

    def backend_health(self) -> defer.Deferred:
        return self.admin(self.backend_admin, "/health")

    @defer.inlineCallbacks
    def wait_health(self, port: int, status: str, timeout: float = 90.0,
                    check: Callable[[dict], bool] = lambda body: True):
        """Poll one process's /health until its status (and ``check``) match; the last body.

        The default allows for a cold start on a loaded machine; a process that exited fails
        the wait at once, and either failure shows both processes' last output lines."""
        process = self.proxy if port == self.proxy_admin else self.backend

        @defer.inlineCallbacks
        def matches():
            code, body = yield self.admin(port, "/health")
            return body if isinstance(body, dict) and body.get("status") == status and check(body) else None

        def exited():
            return None if process.running else f"{process.plugin} exited"
        try:
            body = yield wait_until(matches, timeout, what=f"/health {status} on port {port}", abandon=exited)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.proxy.tail()}\n{self.backend.tail()}") from None
        return body

    @defer.inlineCallbacks
    def metric_samples(self, port: int, name: str):
        """``{label values joined with ',': value}`` of one sample name on a process's /metrics."""
        code, text = yield self.admin(port, "/metrics")
        assert code == 200, (code, text)
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    samples[",".join(sample.labels.values())] = sample.value
        return samples


@defer.inlineCallbacks
def admin_request(url: str, token: str | None = None, method: bytes = b"GET"):
    """``(status, JSON or text body)`` of one admin request, with the bearer token if given."""
    headers = Headers()
    if token:
        headers.addRawHeader(b"Authorization", f"Bearer {token}".encode())
    response = yield Agent(reactor).request(method, url.encode(), headers)
    body = yield read_body(response, ADMIN_BODY_LIMIT)
    text = body.decode("utf-8", "replace")
    if response.headers.getRawHeaders(b"content-type", [b""])[0].startswith(b"application/json"):
        return response.code, json.loads(text)
    return response.code, text


class TestBackend(ControlProtocol):
    """A control-plane client under the test's command: signs as a backend would, with
    whatever sender, secret, clock or nonce source the test chose."""

    def __init__(self, peer: ControlPeer) -> None:
        super().__init__()
        self.peer = peer

    def expected_senders(self) -> tuple[str, ...]:
        return ("proxy",)


def control_client(port: int, secret: str, sender: str = "ghost", clock: IReactorTime | None = None,
                   **peer_kw: Any) -> defer.Deferred:
    """Connect a :class:`TestBackend` to a proxy's messaging port."""
    peer = ControlPeer(sender, secret.encode(), None, clock or reactor, CollectorRegistry(),
                       Logger(observer=lambda event: None), **peer_kw)
    return connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), TestBackend(peer))


@dataclass(frozen=True)
class Outcome:
    """What a control call came back with: an answer, or the failure it was refused with."""

    answer: Any = None
    failure: Failure | None = None

    @property
    def reason(self) -> str | None:
        """The reject reason the call was refused with (None for an answer or a lost link)."""
        if self.failure is None:
            return None
        code = getattr(self.failure.value, "errorCode", None)
        if code is not None:
            return code.decode()
        reason = getattr(self.failure.value, "reason", None)
        return getattr(reason, "value", None)


def outcome(d: defer.Deferred, timeout: float = 10.0) -> defer.Deferred:
    """Fires with the call's :class:`Outcome`, never errbacks (refusals are the point)."""
    d.addTimeout(timeout, reactor)
    return d.addCallbacks(lambda answer: Outcome(answer=answer), lambda failure: Outcome(failure=failure))


def handshake(intent: int, protocol: int = PROTOCOL, port: int = 25565) -> bytes:
    return encode_frame(encode_varint(0) + encode_varint(protocol) + encode_string("localhost")
                        + encode_ushort(port) + encode_varint(intent))


def login_start(name: str) -> bytes:
    return encode_frame(encode_varint(0) + encode_string(name) + encode_uuid(uuid.UUID(int=0)))


#: Raw bytes that make the proxy's front door refuse a connection, by the reason it counts.
FRONT_DOOR_REFUSALS: dict[str, bytes] = {
    "NOT_A_HANDSHAKE": encode_frame(encode_varint(0x05) + b"hello"),
    "BAD_INTENT": handshake(9),
    "UNSUPPORTED_VERSION": handshake(2, protocol=5),
    "BAD_USERNAME": handshake(2) + login_start("no spaces!"),
}


def send_raw(port: int, data: bytes, timeout: float = 5.0) -> defer.Deferred:
    """Send ``data`` on a fresh connection and read until the proxy closes it (in a thread,
    so a blocking socket cannot stall the reactor)."""
    def run() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(data)
            received = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return received
                received += chunk

    return deferToThread(run)
