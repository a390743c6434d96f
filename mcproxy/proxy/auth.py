"""Authenticated mode: the session server's hasJoined check over verified HTTPS."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from OpenSSL import SSL
from twisted.internet._sslverify import IOpenSSLTrustRoot
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol
from twisted.internet.ssl import optionsForClientTLS, platformTrust
from twisted.python.failure import Failure
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from mcproxy.wire.forwarding import ProfileProperty, offline_uuid
from mcproxy.wire.names import is_valid_username

#: A session-server profile answer is a few KiB; anything far larger is not one.
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class GameProfile:
    """Who a player is, as the session server (or offline mode) says."""

    id: uuid.UUID
    name: str
    properties: tuple[ProfileProperty, ...] = field(default=())
    authenticated: bool = False


def offline_profile(name: str) -> GameProfile:
    return GameProfile(offline_uuid(name), name)


class AuthenticationError(Exception):
    """The session server did not vouch for the player; ``reason`` names why."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def parse_profile(raw: bytes) -> GameProfile:
    try:
        data = json.loads(raw)
        profile_id = uuid.UUID(hex=data["id"])
        name = data["name"]
        properties = tuple(
            ProfileProperty(str(p["name"]), str(p["value"]), p.get("signature"))
            for p in data.get("properties", ())
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise AuthenticationError("BAD_SESSION_RESPONSE", "not a profile") from None
    if not is_valid_username(name):
        raise AuthenticationError("BAD_SESSION_RESPONSE", "bad name")
    return GameProfile(profile_id, name, properties, authenticated=True)


@implementer(IOpenSSLTrustRoot)
class _ExtraTrust:
    """Platform trust plus the certificates of one PEM file."""

    def __init__(self, ca_file: str) -> None:
        self._ca_file = ca_file

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        context.set_default_verify_paths()
        context.load_verify_locations(self._ca_file)


@implementer(IPolicyForHTTPS)
class _SessionTLSPolicy:
    def __init__(self, trust) -> None:
        self._trust = trust

    def creatorForNetloc(self, hostname: bytes, port: int):
        return optionsForClientTLS(hostname.decode("ascii"), trustRoot=self._trust)


def https_policy(ca_file: str = "") -> IPolicyForHTTPS:
    """Certificate checks by service-identity; ``ca_file`` adds trust, never removes it."""
    if ca_file:
        return _SessionTLSPolicy(_ExtraTrust(ca_file))
    return BrowserLikePolicyForHTTPS(platformTrust())


class SessionServerClient:
    """Asks ``base_url``/session/minecraft/hasJoined whether a player joined our server id."""

    def __init__(self, reactor: IReactorTime, base_url: str, ca_file: str = "", timeout: float = 10.0) -> None:
        self._reactor = reactor
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._agent = Agent(reactor, contextFactory=https_policy(ca_file), connectTimeout=timeout)

    @defer.inlineCallbacks
    def has_joined(self, username: str, server_hash: str):
        """The player's profile, or :class:`AuthenticationError`. ``timeout`` bounds the
        whole exchange, the body included: a server that sends headers and then dribbles
        has its connection aborted when time is up."""
        query = urlencode({"username": username, "serverId": server_hash})
        url = f"{self._base}/session/minecraft/hasJoined?{query}".encode("ascii")
        deadline = self._reactor.seconds() + self._timeout
        try:
            request = self._agent.request(b"GET", url, Headers({b"User-Agent": [b"mcproxy"]}))
            request.addTimeout(self._timeout, self._reactor)
            response = yield request
            if response.code == 204:
                _abandon(response)
                raise AuthenticationError("NOT_AUTHENTICATED", "session server does not know this session")
            if response.code != 200:
                _abandon(response)
                raise AuthenticationError("SESSION_SERVER_ERROR", f"HTTP {response.code}")
            if response.length is not None and response.length > MAX_PROFILE_BYTES:
                _abandon(response)
                raise AuthenticationError("BAD_SESSION_RESPONSE", "answer too large")
            reading = read_body(response, MAX_PROFILE_BYTES)
            reading.addTimeout(max(0.0, deadline - self._reactor.seconds()), self._reactor)
            body = yield reading
        except AuthenticationError:
            raise
        except defer.TimeoutError:
            raise AuthenticationError("SESSION_SERVER_TIMEOUT") from None
        except Exception as error:  # network and TLS failures all mean "cannot verify"
            raise AuthenticationError("SESSION_SERVER_UNREACHABLE", type(error).__name__) from None
        profile = parse_profile(body)
        if profile.name.lower() != username.lower():
            raise AuthenticationError("BAD_SESSION_RESPONSE", "name differs")
        return profile


class _BodyReader(Protocol):
    """Collects a response body of at most ``limit`` bytes into ``done``. Past the limit,
    or when ``done`` is cancelled (a timeout), the transfer is stopped, which aborts the
    connection: nothing waits on a server that will not finish."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.done: defer.Deferred[bytes] = defer.Deferred(lambda _: self.stop())

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.stop()
            self.done.errback(AuthenticationError("BAD_SESSION_RESPONSE", "answer too large"))
            return
        self.parts.append(data)

    def connectionLost(self, reason: Failure = None) -> None:
        if self.done.called:
            return
        if reason is None or reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


def read_body(response, limit: int) -> defer.Deferred[bytes]:
    """The body of ``response``, at most ``limit`` bytes; cancelling it aborts the transfer."""
    reader = _BodyReader(limit)
    response.deliverBody(reader)
    return reader.done


def _abandon(response) -> None:
    """Drop a body nobody needs: stop the transfer rather than read it to the end."""
    reader = _BodyReader(0)
    reader.done.addErrback(lambda _: None)
    response.deliverBody(reader)
    reader.stop()
    if not reader.done.called:
        reader.done.cancel()
