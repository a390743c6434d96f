"""Picking a backend for a player and logging in to it, falling through the list."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

from twisted.internet import defer
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import ConnectError, ConnectionRefusedError, TimeoutError as ConnectTimeout
from twisted.logger import Logger

from mcproxy.proxy.backend import BackendConnection, BackendFactory, BackendLogin, BackendRefused
from mcproxy.wire.packets import packet_ids

#: A server forwards in ``modern`` mode and the player's version (1.8 – 1.12.2) has no
#: login plugin messages to carry it: that server cannot take them.
FORWARDING_UNSUPPORTED = "FORWARDING_UNSUPPORTED"


def supports_modern_forwarding(protocol: int) -> bool:
    """Modern forwarding rides on login plugin messages, which 1.13 introduced."""
    return packet_ids(protocol).login_plugin_request is not None


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    #: This server's own forwarding mode; "" keeps the player's (``[proxy].forwarding``).
    forwarding: str = ""
    #: "v1" or "v2" sends a PROXY header with the player's address first; "" none.
    proxy_protocol: str = ""
    #: An IP literal is dialled directly; a name is resolved first (decided once, not per join).
    literal: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "literal", isIPAddress(self.host) or isIPv6Address(self.host))

    def login_for(self, login: BackendLogin) -> BackendLogin:
        """``login`` as this server is to receive it."""
        if not self.forwarding and not self.proxy_protocol:
            return login
        return replace(login, mode=self.forwarding or login.mode, proxy_protocol=self.proxy_protocol)


class NoServerAvailable(Exception):
    """Every server in the list refused; ``attempts`` says who and why."""

    def __init__(self, attempts: Sequence[tuple[str, BackendRefused]]) -> None:
        super().__init__(", ".join(f"{name}: {refusal.reason}" for name, refusal in attempts))
        self.attempts = tuple(attempts)

    @property
    def reason(self) -> str:
        """The refusal to count: FORWARDING_UNSUPPORTED when that is why every server
        said no (the player's version is too old for them all), else NO_SERVER_AVAILABLE."""
        if self.attempts and all(refusal.reason == FORWARDING_UNSUPPORTED for _, refusal in self.attempts):
            return FORWARDING_UNSUPPORTED
        return "NO_SERVER_AVAILABLE"

    def player_message(self) -> str:
        for _, refusal in reversed(self.attempts):
            if refusal.message and refusal.reason in ("BACKEND_KICKED", FORWARDING_UNSUPPORTED):
                return refusal.message
        return "No server is available to join right now. Please try again later."


class Router:
    """Chooses servers by forced host or the ``try`` list and connects to them in turn.

    At most ``concurrent_max`` backend logins run at once; the rest wait their turn
    (they are already bounded by the front door's limit on connections before login).
    """

    def __init__(
        self,
        reactor,
        servers: Mapping[str, ServerAddress],
        try_order: Sequence[str],
        forced_hosts: Mapping[str, Sequence[str]],
        concurrent_max: int,
        connect_timeout: float,
        login_timeout: float,
        max_frame_size: int,
        metrics=None,
        log: Logger | None = None,
        observe: Callable[[str, bool, str], None] | None = None,
    ) -> None:
        self._reactor = reactor
        self.servers = dict(servers)
        self.try_order = tuple(try_order)
        self.forced_hosts = {host.lower(): tuple(names) for host, names in forced_hosts.items()}
        self._semaphore = defer.DeferredSemaphore(concurrent_max)
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.max_frame_size = max_frame_size
        self._metrics = metrics
        self._log = log or Logger()
        #: Told ``(server, reachable, detail)`` whenever a connect to a server worked or
        #: failed: a player's connect is the freshest evidence of a backend's health.
        self.observe = observe or (lambda name, reachable, detail: None)

    @property
    def in_flight(self) -> int:
        return self._semaphore.limit - self._semaphore.tokens

    def candidates(self, host: str) -> tuple[str, ...]:
        return self.forced_hosts.get(host, self.try_order)

    @defer.inlineCallbacks
    def connect(self, login: BackendLogin, names: Sequence[str], correlation_id: str = ""):
        """Log in to the first server of ``names`` that takes the player.

        Fires with ``(server name, BackendConnection)``; fails with NoServerAvailable.
        """
        attempts: list[tuple[str, BackendRefused]] = []
        for name in names:
            address = self.servers.get(name)
            if address is None:
                continue
            try:
                backend = yield self._semaphore.run(self._login, name, address, login)
            except BackendRefused as refusal:
                attempts.append((name, refusal))
                self._log.info(
                    "backend {server} refused player: {reason}", server=name, reason=refusal.reason,
                    correlation_id=correlation_id)
                if self._metrics is not None:
                    self._metrics.routing_attempts.labels(name, refusal.reason).inc()
                    self._metrics.routing_fallbacks.labels(name).inc()
                continue
            if self._metrics is not None:
                self._metrics.routing_attempts.labels(name, "ok").inc()
            return name, backend
        raise NoServerAvailable(attempts)

    @defer.inlineCallbacks
    def _login(self, name: str, address: ServerAddress, login: BackendLogin):
        login = address.login_for(login)
        if login.mode == "modern" and not supports_modern_forwarding(login.protocol):
            raise BackendRefused(FORWARDING_UNSUPPORTED, "This server requires Minecraft 1.13 or newer.")
        factory = BackendFactory(login, packet_ids(login.protocol), self.max_frame_size)
        try:
            protocol: BackendConnection = yield _dial(self._reactor, address, factory, self.connect_timeout)
        except ConnectTimeout:
            self.observe(name, False, "a player's connect timed out")
            raise BackendRefused("BACKEND_CONNECT_TIMEOUT", "") from None
        except ConnectError as error:
            self.observe(name, False, f"a player's connect failed: {_connect_failure(error)}")
            raise BackendRefused("BACKEND_UNREACHABLE", type(error).__name__) from None
        self.observe(name, True, "a player connected")
        ready = protocol.ready
        ready.addTimeout(self.login_timeout, self._reactor, onTimeoutCancel=lambda *_: _timed_out(protocol))
        try:
            yield ready
        except BackendRefused:
            protocol.transport.loseConnection()
            raise
        return protocol


def _dial(reactor, address: ServerAddress, factory: BackendFactory, timeout: float) -> defer.Deferred:
    """Connect ``factory``'s protocol to ``address``; fires with it once connected.

    An IP literal is dialled at once: ``HostnameEndpoint`` resolves even a literal through
    a thread-pool round trip, which was a fifth of the proxy's time per join.
    """
    if address.literal:
        reactor.connectTCP(address.host, address.port, factory, timeout=timeout)
        return factory.connected
    return HostnameEndpoint(reactor, address.host, address.port, timeout=timeout).connect(factory)


def _connect_failure(error: ConnectError) -> str:
    return "connection refused" if isinstance(error, ConnectionRefusedError) else type(error).__name__


def _timed_out(protocol: BackendConnection):
    protocol.transport.abortConnection()
    raise BackendRefused("BACKEND_LOGIN_TIMEOUT", "")
