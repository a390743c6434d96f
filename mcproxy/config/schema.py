"""The validated shape of both config files: frozen dataclasses, limits, and the error type."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Mapping


MIN_SECRET_BYTES = 32


MAX_SECRET_FILE_BYTES = 4096


# The status response is one protocol string of at most 32767 characters; a
# larger PNG would not fit once base64-encoded beside the MOTD.
MAX_FAVICON_BYTES = 18432


FILE_KEY = "(file)"


# Probing faster than this would only load the backends, not inform /health sooner.
MIN_PROBE_INTERVAL = 0.5


# The backend's admin listener must not collide with the proxy's on one host.
BACKEND_ADMIN_BIND = "tcp:8766:interface=127.0.0.1"


def format_config_error(file: str, key: str, reason: str) -> str:
    """
    The one place the operator-facing error form is defined, so the loader,
    twistd and mcproxyctl print exactly the same line.
    """
    return f"{file}: {key}: {reason}"


class ConfigError(Exception):
    """
    A config that must not be started with; ``str()`` is the
    ``file: key: reason`` line meant for the operator, one line per mistake
    when a file has several (``file``, ``key`` and ``reason`` are the first's).
    """

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(file, key, reason)
        self.file = file
        self.key = key
        self.reason = reason
        self.others: tuple[ConfigError, ...] = ()

    @classmethod
    def all_of(cls, errors: "list[ConfigError]") -> "ConfigError":
        """One error standing for several, so every mistake costs one restart."""
        first, *rest = errors
        combined = cls(first.file, first.key, first.reason)
        combined.others = tuple(rest)
        return combined

    @property
    def errors(self) -> "tuple[ConfigError, ...]":
        return (self, *self.others)

    def __str__(self) -> str:
        return "\n".join(format_config_error(e.file, e.key, e.reason) for e in self.errors)


class Secret:
    """
    Key material that cannot leak by being printed, logged or put in a repr.

    Comparison is constant-time so a secret can be checked against another
    without a timing side channel.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError("Secret wants bytes")
        self._value = value

    @property
    def value(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not serialised")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        """Immutable, so a deep copy of a config may share it."""
        return self


@dataclass(frozen=True)
class Server:
    """A backend from ``[servers]``: its address and, from a ``[servers.NAME]`` table,
    its own forwarding mode ("" = ``[proxy].forwarding``) and PROXY header version."""

    host: str
    port: int
    forwarding: str = ""
    proxy_protocol: str = ""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ProxySection:
    """``[proxy]``: the player-facing listener and login behaviour."""

    bind: str = "tcp:25565"
    #: Every player listener; ``bind`` is the first.  ``bind`` may be written as an array
    #: to listen on several endpoints (say plain TCP and a ``haproxy:`` one).
    binds: tuple[str, ...] = ("tcp:25565",)
    motd: str = "A mcproxy network"
    max_players: int = 500
    online_mode: bool = True
    session_server: str = "https://sessionserver.mojang.com"
    session_server_ca_file: str = ""
    compression_threshold: int = 256
    forwarding: str = "modern"
    favicon: str = ""
    favicon_png: bytes = field(default=b"", repr=False)
    accept_transfers: bool = False
    status_passthrough: str = ""
    handshake_timeout: float = 10.0
    login_timeout: float = 30.0
    connect_timeout: float = 5.0
    #: Seconds without a byte from a player past login, or from their backend, before
    #: that side is given up on (Velocity's ``read-timeout``).
    read_timeout: float = 30.0
    #: Seconds a player whose server went away (or kicked them) is held while every
    #: fallback refuses, tried again with growing pauses.
    fallback_hold: float = 60.0
    # Nothing a client sends before login needs more (a cookie response is at most
    # 5 KiB); 2 MiB per unauthenticated connection would let a flood of them
    # hold handshake_concurrent_max * 2 MiB.
    max_frame_size_prelogin: int = 32768
    kick_existing_players: bool = False
    status_player_sample: int = 0
    bungee_plugin_channel: bool = True
    #: Networks allowed to send a PROXY header to a ``haproxy:`` listener; empty trusts
    #: every peer, which the loader allows only on a loopback-bound listener.
    proxy_protocol_trusted: tuple[str, ...] = ()
    #: Processes sharing the game port; more than one needs ``[cluster]``.
    workers: int = 1

    def __post_init__(self) -> None:
        # Built in code with only ``bind`` given, the section has that one listener.
        if not self.binds or self.binds[0] != self.bind:
            object.__setattr__(self, "binds", (self.bind,))


@dataclass(frozen=True)
class QuerySection:
    """``[query]``: the GameSpy4 query listener (UDP) on the game listener's interface."""

    enabled: bool = False
    port: int = 25565
    map: str = "world"
    show_plugins: bool = False


@dataclass(frozen=True)
class SecuritySection:
    """``[security]``: the secret shared with the backends."""

    proxy_secret: Secret | None = None
    proxy_secret_file: str = ""
    proxy_secret_previous: Secret | None = None
    proxy_secret_previous_file: str = ""


@dataclass(frozen=True)
class MessagingSection:
    """``[messaging]`` on the proxy: the control-plane listener."""

    enabled: bool = True
    bind: str = "tcp:25580:interface=127.0.0.1"
    control_sender_id: str = "proxy"
    control_max_payload: int = 1048576
    control_max_clock_skew: float = 30.0


@dataclass(frozen=True)
class RateLimitsSection:
    """``[rate_limits]``: bounds that keep a flood from exhausting the proxy."""

    handshake_concurrent_max: int = 256
    handshake_per_address_max: int = 32
    routing_concurrent_max: int = 256
    connections_per_address_rate: float = 5.0
    connections_per_address_burst: int = 20
    logins_per_address_rate: float = 1.0
    logins_per_address_burst: int = 5


@dataclass(frozen=True)
class AdminSection:
    """``[admin]``: the /health, /status and /metrics listener."""

    bind: str = "tcp:8765:interface=127.0.0.1"
    token: Secret | None = None
    token_file: str = ""
    # Proxy only: seconds between backend reachability probes behind /health.
    probe_interval: float = 10.0
    # Rolling history of /status and /metrics samples on disk ("" keeps it in memory only).
    history_dir: str = "history"
    history_period: float = 60.0
    history_retention: float = 21600.0


@dataclass(frozen=True)
class LoggingSection:
    """``[logging]``: JSON-lines log destination and threshold."""

    level: str = "info"
    file: str = ""


@dataclass(frozen=True)
class PluginsSection:
    """``[plugins]``: whether third-party proxy plugins load, and which."""

    enabled: bool = False
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterSection:
    """``[cluster]``: several proxies sharing one player directory in Redis."""

    enabled: bool = False
    redis: str = "tcp:host=127.0.0.1:port=6379"
    redis_password: Secret | None = None
    redis_password_file: str = ""
    proxy_id: str = "proxy-1"
    heartbeat_interval: float = 5.0


@dataclass(frozen=True)
class ProxyConfig:
    """A validated ``proxy.toml``."""

    path: str
    proxy: ProxySection
    security: SecuritySection
    servers: Mapping[str, Server]
    try_order: tuple[str, ...]
    forced_hosts: Mapping[str, tuple[str, ...]]
    motd_by_host: Mapping[str, str]
    permissions: Mapping[str, tuple[str, ...]]
    messaging: MessagingSection
    rate_limits: RateLimitsSection
    admin: AdminSection
    logging: LoggingSection
    plugins: PluginsSection = PluginsSection()
    query: QuerySection = QuerySection()
    cluster: ClusterSection = ClusterSection()

    @property
    def process_name(self) -> str:
        """The name this process goes by on the control plane, in tools and reports."""
        return self.messaging.control_sender_id


@dataclass(frozen=True)
class BackendSection:
    """``[backend]``: the listener, identity and trust policy of a backend."""

    bind: str = "tcp:25566:interface=127.0.0.1"
    server_id: str = "lobby"
    enforce_proxy: bool = True
    #: Which forwarding ``enforce_proxy`` reads: modern, legacy or bungeeguard.
    forwarding: str = "modern"
    require_authenticated_mode: bool = True
    proxy_secret: Secret | None = None
    proxy_secret_file: str = ""
    proxy_secret_previous: Secret | None = None
    proxy_secret_previous_file: str = ""
    control_expected_sender_id: str = "proxy"
    motd: str = "A mcproxy backend"
    max_players: int = 100
    compression_threshold: int = 256
    spawn: tuple[float, float, float] = (0.5, 64.0, 0.5)


@dataclass(frozen=True)
class BackendMessagingSection:
    """``[messaging]`` on a backend: the control-plane link to the proxy."""

    enabled: bool = True
    proxy: str = "tcp:host=127.0.0.1:port=25580"
    reconnect_max_delay: float = 30.0
    control_max_payload: int = 1048576
    control_max_clock_skew: float = 30.0


@dataclass(frozen=True)
class BackendConfig:
    """A validated ``backend.toml``."""

    path: str
    backend: BackendSection
    messaging: BackendMessagingSection
    admin: AdminSection
    logging: LoggingSection

    @property
    def process_name(self) -> str:
        """The name this process goes by on the control plane, in tools and reports."""
        return self.backend.server_id
