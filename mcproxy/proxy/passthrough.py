"""Status pass-through: answer the server list with a backend's own status, briefly cached.

With ``[proxy].status_passthrough`` set, the proxy asks that backend for its status over
the real protocol (handshake with next state 1, then a status request), keeps the answer
for ``ttl`` seconds and shows it to players with two fields of its own: the version (the
proxy decides which clients it supports, not the backend) and the live online count (the
network's players, not the backend's).  When the backend does not answer in time, or
answers nonsense, players get the proxy's own status instead; that outcome is cached too,
so a dead backend costs one timeout per ``ttl``, not one per ping.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mcproxy.interfaces import IStatusSource
from mcproxy.proxy.status import StatusResponder
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.packets import TIER1_PROTOCOLS
from mcproxy.wire.proxy_protocol import encode_header
from mcproxy.wire.types import STRING_MAX_CHARS, WireError, encode_string, encode_ushort, encode_varint

#: A status response is one string of at most 32767 characters, mostly ASCII; this bounds
#: what a misbehaving backend can make us buffer.
MAX_STATUS_FRAME = 4 * STRING_MAX_CHARS + 16


class BackendStatusError(Exception):
    """The backend's status could not be read; ``reason`` is a short stable name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BackendStatusQuery(Protocol):
    """One status exchange with a backend; ``result`` fires with the decoded JSON object."""

    def __init__(self, host: str, port: int, protocol_version: int, proxy_protocol: str = "") -> None:
        self.host = host
        self.port = port
        self.protocol_version = protocol_version
        #: A backend behind a PROXY-aware listener gets a header; no player is behind a
        #: status query, so it is v1's UNKNOWN or v2's LOCAL.
        self.proxy_protocol = proxy_protocol
        self.codec = PacketCodec(MAX_STATUS_FRAME)
        self.result: defer.Deferred[dict[str, Any]] = defer.Deferred(self._cancel)

    def _cancel(self, result: defer.Deferred) -> None:
        if self.transport is not None:
            self.transport.abortConnection()

    def connectionMade(self) -> None:
        handshake = (encode_varint(self.protocol_version) + encode_string(self.host, 255)
                     + encode_ushort(self.port) + encode_varint(1))
        header = encode_header(self.proxy_protocol, None, None) if self.proxy_protocol else b""
        self.transport.write(header + self.codec.encode(0x00, handshake) + self.codec.encode(0x00))

    def dataReceived(self, data: bytes) -> None:
        if self.result.called:
            return
        try:
            self.codec.feed(data)
            packet = self.codec.next_packet()
            if packet is None:
                return
            packet_id, reader = packet
            if packet_id != 0x00:
                raise BackendStatusError("UNEXPECTED_PACKET")
            status = json.loads(reader.string())
            if not isinstance(status, dict):
                raise BackendStatusError("NOT_AN_OBJECT")
        except WireError as error:
            self._finish(Failure(BackendStatusError(error.reason)))
        except ValueError:
            self._finish(Failure(BackendStatusError("BAD_JSON")))
        except BackendStatusError:
            self._finish(Failure())
        else:
            self._finish(status)

    def _finish(self, outcome: dict[str, Any] | Failure) -> None:
        self.transport.loseConnection()
        if isinstance(outcome, Failure):
            self.result.errback(outcome)
        else:
            self.result.callback(outcome)

    def connectionLost(self, reason: Failure = None) -> None:
        if not self.result.called:
            self.result.errback(Failure(BackendStatusError("CLOSED")))


@implementer(IStatusSource)
class StatusPassthrough:
    """A status source for :class:`~mcproxy.proxy.core.ProxyCore` that shows a backend's status.

    ``response_json`` returns the text at once while the cache is fresh, otherwise a
    ``Deferred`` that fires with it; concurrent pings share one query to the backend.
    """

    def __init__(self, clock: IReactorTime, endpoint: IStreamClientEndpoint, host: str, port: int,
                 own: StatusResponder, ttl: float = 5.0, timeout: float = 2.0,
                 log: Logger | None = None, proxy_protocol: str = "") -> None:
        self._clock = clock
        self._proxy_protocol = proxy_protocol
        self._endpoint = endpoint
        self._host = host
        self._port = port
        self.own = own
        self.ttl = ttl
        self.timeout = timeout
        self._log = log or Logger()
        self._cached: dict[str, Any] | None = None
        self._expires = float("-inf")
        self._waiting: list[tuple[defer.Deferred, int, str]] | None = None
        self._rendered: dict[tuple[int, str, int], str] = {}
        self.queries = 0

    @property
    def max_players(self) -> int:
        return self.own.max_players

    def legacy_fields(self) -> tuple[str, int, int]:
        """Pre-1.7 clients get the proxy's own answer: their format has no room for more."""
        return self.own.legacy_fields()

    def response(self, protocol: int, host: str = "") -> dict[str, Any]:
        """The status to show from what is cached now (the proxy's own when nothing is)."""
        mine = self.own.response(protocol, host)
        backend = self._cached
        if backend is None:
            return mine
        status = dict(backend)
        players = backend.get("players")
        players = dict(players) if isinstance(players, dict) else {"max": mine["players"]["max"]}
        players["online"] = mine["players"]["online"]
        status["players"] = players
        status["version"] = mine["version"]
        return status

    def _render(self, protocol: int, host: str) -> str:
        """The text to send, encoded once per answer, version, host and online count."""
        key = self.own.answer_key(protocol, host)
        text = self._rendered.get(key)
        if text is None:
            if len(self._rendered) >= self.own.CACHE_ENTRIES:
                self._rendered.clear()
            protocol, host, _ = key
            text = json.dumps(self.response(protocol, host), separators=(",", ":"))
            # json.dumps escapes to ASCII, so characters are UTF-16 units here.
            if len(text) > STRING_MAX_CHARS:
                text = self.own.response_json(protocol, host)
            self._rendered[key] = text
        return text

    def response_json(self, protocol: int, host: str = "") -> str | defer.Deferred[str]:
        if self._clock.seconds() < self._expires:
            return self._render(protocol, host)
        waiter: defer.Deferred[str] = defer.Deferred()
        if self._waiting is None:
            self._waiting = [(waiter, protocol, host)]
            self._query()
        else:
            self._waiting.append((waiter, protocol, host))
        return waiter

    def _query(self) -> None:
        self.queries += 1
        query = BackendStatusQuery(self._host, self._port, max(TIER1_PROTOCOLS), self._proxy_protocol)
        d = self._endpoint.connect(Factory.forProtocol(lambda: query))
        d.addCallback(lambda _: query.result)
        d.addTimeout(self.timeout, self._clock)
        d.addBoth(self._answered)

    def _answered(self, outcome: dict[str, Any] | Failure) -> None:
        if isinstance(outcome, Failure):
            error = outcome.value
            reason = error.reason if isinstance(error, BackendStatusError) else type(error).__name__
            self._log.info("status pass-through: backend did not answer: {reason}", reason=reason)
            self._cached = None
        else:
            self._cached = outcome
        self._rendered.clear()
        self._expires = self._clock.seconds() + self.ttl
        waiting, self._waiting = self._waiting or [], None
        for waiter, protocol, host in waiting:
            waiter.callback(self._render(protocol, host))
