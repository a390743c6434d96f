"""The state every player connection shares: limits, routing, players, counters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Iterator

from cryptography.hazmat.primitives.asymmetric import rsa
from twisted.logger import Logger

from mcproxy.config import ProxyConfig, RateLimitsSection, Secret
from mcproxy.proxy.bungee import BungeeResponder
from mcproxy.ops.logging import new_correlation_id
from mcproxy.proxy.command_tree import ProxyCommandTree
from mcproxy.proxy.deadlines import Deadlines
from mcproxy.proxy.silence import ReadWatch
from mcproxy.proxy.directory import ProxyDirectory
from mcproxy.proxy.play_session import PlaySessionId
from mcproxy.proxy.probes import ProbeNames
from mcproxy.proxy.events import EventBus, PluginMessageEvent
from mcproxy.proxy.status import StatusResponder
from mcproxy.proxy.admission import PreloginGate
from mcproxy.proxy.throttle import TokenBucketLimiter
from mcproxy.wire.cipher import generate_private_key, public_key_der
from mcproxy.wire.framing import MAX_FRAME_SIZE


@dataclass(frozen=True)
class ProxySettings:
    """The parts of ``[proxy]`` a connection consults, already validated."""

    online_mode: bool = True
    compression_threshold: int = 256
    forwarding: str = "modern"
    secret: bytes = field(default=b"", repr=False)
    #: Still accepted on routing cookies during a secret rotation, never used to sign.
    secret_previous: bytes = field(default=b"", repr=False)
    max_players: int = 500
    handshake_timeout: float = 10.0
    login_timeout: float = 30.0
    #: Seconds of silence from a player in configuration or play, or from their backend.
    read_timeout: float = 30.0
    accept_transfers: bool = False
    #: A second login with an online UUID: True disconnects the first, False refuses the second.
    kick_existing_players: bool = False
    #: Answer the BungeeCord plugin-message channel for backend plugins.
    bungee_plugin_channel: bool = True
    #: Seconds a player is held while a fallback every server refused is tried again.
    fallback_hold: float = 60.0
    max_prelogin_frame: int = 32 * 1024
    max_frame_size: int = MAX_FRAME_SIZE

    @classmethod
    def from_config(cls, config: ProxyConfig) -> "ProxySettings":
        """The settings a validated ``proxy.toml`` asks for, secrets as raw bytes."""
        section, security = config.proxy, config.security
        return cls(
            online_mode=section.online_mode,
            compression_threshold=section.compression_threshold,
            forwarding=section.forwarding,
            secret=_secret_bytes(security.proxy_secret),
            secret_previous=_secret_bytes(security.proxy_secret_previous),
            max_players=section.max_players,
            handshake_timeout=section.handshake_timeout,
            login_timeout=section.login_timeout,
            read_timeout=section.read_timeout,
            accept_transfers=section.accept_transfers,
            kick_existing_players=section.kick_existing_players,
            bungee_plugin_channel=section.bungee_plugin_channel,
            fallback_hold=section.fallback_hold,
            max_prelogin_frame=section.max_frame_size_prelogin,
        )


def _secret_bytes(secret: Secret | None) -> bytes:
    return secret.value if secret is not None else b""


@dataclass(frozen=True)
class KeyPair:
    """The RSA key pair of one proxy process, made at start for the login handshake."""

    private_key: rsa.RSAPrivateKey
    public_der: bytes

    @classmethod
    def generate(cls) -> "KeyPair":
        key = generate_private_key()
        return cls(key, public_key_der(key))


class PlayerDirectory:
    """Players in the relay phase, by UUID and by lower-cased name."""

    def __init__(self) -> None:
        self._by_id: dict[uuid.UUID, object] = {}
        self._by_name: dict[str, object] = {}

    def add(self, connection) -> None:
        self._by_id[connection.profile.id] = connection
        self._by_name[connection.profile.name.lower()] = connection

    def remove(self, connection) -> None:
        profile = connection.profile
        if self._by_id.get(profile.id) is connection:
            del self._by_id[profile.id]
        if self._by_name.get(profile.name.lower()) is connection:
            del self._by_name[profile.name.lower()]

    def get(self, player_id: uuid.UUID):
        return self._by_id.get(player_id)

    def find(self, name: str):
        return self._by_name.get(name.lower())

    def __iter__(self) -> Iterator:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def by_protocol(self) -> dict[int, int]:
        """How many players each protocol version has, for /status."""
        counts: dict[int, int] = {}
        for connection in self._by_id.values():
            protocol = connection.handshake.protocol
            counts[protocol] = counts.get(protocol, 0) + 1
        return dict(sorted(counts.items()))

    def by_server(self) -> dict[str, list[str]]:
        servers: dict[str, list[str]] = {}
        for connection in self._by_id.values():
            servers.setdefault(connection.server or "", []).append(connection.profile.name)
        return servers


class ProxyCore:
    """Everything a :class:`~mcproxy.proxy.client.PlayerConnection` reaches through ``proxy``."""

    def __init__(self, reactor, settings: ProxySettings, status: StatusResponder, router, metrics,
                 log: Logger, session_server=None, commands=None,
                 limits: RateLimitsSection = RateLimitsSection(),
                 keypair: KeyPair | None = None) -> None:
        self.reactor = reactor
        self.settings = settings
        self.status = status
        self.router = router
        self.metrics = metrics
        self.log = log
        self.session_server = session_server
        self.players = PlayerDirectory()
        self.play_session = PlaySessionId(self.players)
        #: Smoke bot names an operator armed (admin action ``arm_probe_players``).
        self.probe_names = ProbeNames(reactor)
        #: The network's players (this proxy's alone unless [cluster] replaces it).
        self.network = ProxyDirectory(self)
        self.events = EventBus(log)
        self.events.on_first_subscriber(PluginMessageEvent, self._watch_plugin_messages)
        self.commands = commands
        #: Answers backend plugins on the BungeeCord channel; None when it is turned off.
        self.bungee = BungeeResponder(self) if settings.bungee_plugin_channel else None
        self.command_tree = ProxyCommandTree(commands, log) if commands is not None else None
        self.keypair = keypair or (KeyPair.generate() if settings.online_mode else None)
        self.prelogin_gate = PreloginGate(limits.handshake_concurrent_max, limits.handshake_per_address_max)
        self.connection_limiter = TokenBucketLimiter(
            reactor, limits.connections_per_address_rate, limits.connections_per_address_burst)
        self.login_limiter = TokenBucketLimiter(
            reactor, limits.logins_per_address_rate, limits.logins_per_address_burst)
        self.deadlines = Deadlines(reactor)
        #: Players past login and their backends, given up on after ``read_timeout`` of silence.
        self.read_watch = ReadWatch(reactor)
        self.connections = 0

    def start(self) -> None:
        self.deadlines.start()
        self.read_watch.start()

    def stop(self) -> None:
        self.deadlines.stop()
        self.read_watch.stop()

    def online_count(self) -> int:
        return self.network.online_count()

    def refused(self, reason: str, connection) -> None:
        self.metrics.refusals.labels(reason).inc()
        phase = getattr(connection, "phase", None)
        self.log.info("refused {peer}: {reason}", peer=getattr(connection, "address", ""), reason=reason,
                      phase=getattr(phase, "value", ""), correlation_id=getattr(connection, "correlation_id", ""))

    def refused_source(self, address: str) -> None:
        """A peer outside ``proxy_protocol_trusted`` tried a ``haproxy:`` listener."""
        self.metrics.refusals.labels("UNTRUSTED_PROXY").inc()
        self.log.info("refused {peer}: {reason}", peer=address, reason="UNTRUSTED_PROXY",
                      correlation_id=new_correlation_id())

    def count_handshake(self, intent: str) -> None:
        self.metrics.count_handshake(intent)

    def connection_opened(self, connection) -> None:
        self.connections += 1
        self.metrics.connection_opened("prelogin")

    def connection_closed(self, connection, phase) -> None:
        self.connections -= 1
        self.metrics.connection_closed("play" if phase.value == "relay" else "prelogin")
        if connection.profile is not None and self.players.get(connection.profile.id) is connection:
            self.players.remove(connection)
            self.metrics.player_left(connection.handshake.protocol, connection.probe)
            self.log.info("player {player} left", player=connection.profile.name,
                          correlation_id=connection.correlation_id)
        if connection.profile is not None:
            self.network.left(connection)

    def _watch_plugin_messages(self) -> None:
        """A plugin now wants plugin messages: the relays of players already on look too."""
        for connection in self.players:
            watchers = getattr(connection.handler, "watchers", None)
            if watchers is not None:
                watchers.watch_plugin_messages()

    def take_over(self, existing) -> bool:
        """Whether a new login may replace ``existing``, a player online with the same UUID.

        With ``kick_existing_players`` the old session is disconnected and forgotten at
        once, so the newcomer's join is not undone when the old connection closes.
        """
        if not self.settings.kick_existing_players:
            return False
        self.log.info("player {player} logged in again; closing the old session", player=existing.profile.name,
                      correlation_id=existing.correlation_id)
        self.players.remove(existing)
        self.metrics.player_left(existing.handshake.protocol, existing.probe)
        existing.disconnect("You logged in from another location.", why="replaced")
        return True

    def player_joined(self, connection) -> None:
        self.players.add(connection)
        self.network.joined(connection)
        self.metrics.player_joined(connection.handshake.protocol, connection.probe)
        self.metrics.connection_changed("prelogin", "play")
        self.metrics.logins.labels("success").inc()
        self.log.info("player {player} joined {server}", player=connection.profile.name,
                      server=connection.server, correlation_id=connection.correlation_id)

    def player_moved(self, connection, previous: str | None, server: str) -> None:
        self.network.moved(connection)
        self.log.info("player {player} moved from {previous} to {server}", player=connection.profile.name,
                      previous=previous, server=server, correlation_id=connection.correlation_id)

    def metrics_login_latency(self, seconds: float) -> None:
        self.metrics.login_seconds.observe(seconds)

    def count_relayed(self, direction: str, nbytes: int, nframes: int) -> None:
        self.metrics.add_relayed(direction, nbytes, nframes)
