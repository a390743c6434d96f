"""The GameSpy4 query listener (UDP): server lists ask it for MOTD, counts and names.

UDP sources can be forged, so a query listener is a classic amplification target.
Only the handshake is answered without a valid challenge token, and its answer is a
few bytes; stat answers need a token issued to that very address and port within the
last minute. Tokens are HMACs of the address and a time window under a key made at
start, so a flood of forged handshakes costs no memory. Answers are rate-limited per
address and in total; everything refused is counted by reason.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Callable

from twisted.application.service import Service
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from mcproxy.ops.health import CheckResult, CheckState
from mcproxy.proxy.throttle import TokenBucketLimiter, address_key
from mcproxy.wire.query import (
    QueryInfo, RequestKind, encode_basic, encode_full, encode_handshake, parse_request, with_session,
)
from mcproxy.wire.types import WireError

#: Seconds per token window; a token is good for the window it was issued in and the next.
TOKEN_WINDOW = 30.0
#: Answers per second (and burst) one address gets; a server list needs two per refresh.
PER_ADDRESS_RATE, PER_ADDRESS_BURST = 4.0, 8
#: Answers per second (and burst) the whole listener sends.
TOTAL_RATE, TOTAL_BURST = 500.0, 1000
#: Seconds a stat answer is reused: a full stat with 500 names costs about a millisecond.
STAT_CACHE_SECONDS = 1.0


class QueryProtocol(DatagramProtocol):
    """Answers query datagrams; ``info()`` is asked for the server's state on each stat."""

    def __init__(self, clock: IReactorTime, info: Callable[[], QueryInfo], metrics, log: Logger,
                 key: bytes | None = None) -> None:
        self._clock = clock
        self._info = info
        self._metrics = metrics
        self._log = log
        self._key = key or os.urandom(32)
        self._per_address = TokenBucketLimiter(clock, PER_ADDRESS_RATE, PER_ADDRESS_BURST)
        self._total = TokenBucketLimiter(clock, TOTAL_RATE, TOTAL_BURST, max_entries=1)
        self._stats: dict[RequestKind, tuple[float, bytes]] = {}

    def token(self, host: str, port: int, window: int | None = None) -> int:
        """The challenge token for ``host:port`` in ``window`` (now by default): 31 bits."""
        if window is None:
            window = self._window()
        digest = hmac.new(self._key, f"{host}|{port}|{window}".encode(), hashlib.sha256).digest()
        return struct.unpack(">I", digest[:4])[0] & 0x7FFFFFFF

    def _window(self) -> int:
        return int(self._clock.seconds() // TOKEN_WINDOW)

    def _token_valid(self, host: str, port: int, token: int) -> bool:
        now = self._window()
        return any(hmac.compare_digest(struct.pack(">i", token), struct.pack(">i", self.token(host, port, w)))
                   for w in (now, now - 1))

    def _refuse(self, reason: str) -> None:
        self._metrics.query_refusals.labels(reason).inc()

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:
        host, port = addr[0], addr[1]
        try:
            request = parse_request(datagram)
        except WireError as error:
            self._refuse(error.reason)
            return
        if request.kind is not RequestKind.HANDSHAKE and not self._token_valid(host, port, request.token):
            self._refuse("BAD_CHALLENGE")
            return
        if not self._per_address.allow(address_key(host)) or not self._total.allow("*"):
            self._refuse("QUERY_RATE")
            return
        self._metrics.query_requests.labels(request.kind.value).inc()
        if request.kind is RequestKind.HANDSHAKE:
            answer = encode_handshake(request.session_id, self.token(host, port))
        else:
            answer = with_session(self._stat(request.kind), request.session_id)
        self.transport.write(answer, addr)

    def _stat(self, kind: RequestKind) -> bytes:
        """The stat answer of ``kind``, encoded at most once a second."""
        now = self._clock.seconds()
        cached = self._stats.get(kind)
        if cached is not None and now - cached[0] < STAT_CACHE_SECONDS:
            return cached[1]
        encode = encode_basic if kind is RequestKind.BASIC else encode_full
        answer = encode(0, self._info())
        self._stats[kind] = (now, answer)
        return answer


def listener_interface(bind: str) -> str:
    """The interface a game listener endpoint string binds to ("" = every IPv4 one).

    The query listener shares it, so a proxy bound to one address answers queries on
    that address only. A listener with no address of its own (a UNIX socket) keeps the
    query listener on loopback.
    """
    parts = _split(bind)
    if parts and parts[0] == "haproxy":
        parts = parts[1:]
    kind = parts[0] if parts else "tcp"
    if kind not in ("tcp", "tcp6", "ssl"):
        return "127.0.0.1"
    default = "::" if kind == "tcp6" else ""
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if eq and key == "interface":
            return value
    return default


def _split(description: str) -> list[str]:
    """Split an endpoint string on ':' as Twisted does, honouring backslash escapes."""
    parts, current, escaped = [], [], False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


class QueryListener(Service):
    """The listener as a service of the proxy process: a port that cannot be bound is
    logged and shown in ``/health`` (``query``) instead of stopping the proxy."""

    name = "query"

    def __init__(self, reactor, port: int, interface: str, protocol: QueryProtocol, log: Logger) -> None:
        self._reactor = reactor
        self._port_number = port
        self._interface = interface
        self.protocol = protocol
        self._log = log
        self.port = None
        self.error: str | None = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        try:
            self.port = self._reactor.listenUDP(self._port_number, self.protocol, interface=self._interface)
        except CannotListenError as error:
            self.error = str(error.socketError)
            self._log.error("query listener failed: {error}", error=self.error)

    def stopService(self):
        super().stopService()
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
        return None

    def check(self) -> CheckResult:
        if self.port is not None:
            return CheckResult(CheckState.OK, f"udp {self.port.getHost().port}")
        return CheckResult(CheckState.FAILED, self.error or "not listening yet")
