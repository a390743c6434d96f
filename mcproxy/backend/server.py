"""The reference backend: a limbo server real clients can join and stay on.

One :class:`LimboProtocol` per connection walks an explicit state machine (:class:`Phase`)
from handshake through login and configuration to play; a packet that is not legal in the
current phase closes the connection with a reason and a counter.  The
:class:`LimboFactory` owns what connections share: the player list, the login cap, the
metrics, and a single ``LoopingCall`` that sends keep-alives and enforces deadlines for
every connection (no per-connection timers).
"""

from __future__ import annotations

import enum
import itertools
from operator import attrgetter
import uuid as _uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from mcproxy.backend.chat import KeepAlive, LimboChat
from mcproxy.backend.commands import BUILTIN_COMMANDS
from mcproxy.backend.configuration import LimboConfiguration
from mcproxy.backend.join import JoinSettings, play_entry
from mcproxy.wire.forwarding import CHANNEL, ForwardedPlayer, ProfileProperty, Refused, without_probe
from mcproxy.backend.packets import GAMEMODES, ServerPackets, Spawn
from mcproxy.backend.registries import RegistryStore
from mcproxy.backend.status import served_protocols, served_range, status_json
from mcproxy.interfaces import IBackendModule
from mcproxy.ops.logging import correlated, new_correlation_id
from mcproxy.ops.metrics import BackendMetrics
from mcproxy.wire.chat import component_to_json, component_to_nbt
from mcproxy.wire.compression import decompress_packet, frame_packet
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.handshake import Handshake, Intent, parse_handshake
from mcproxy.wire.legacy_forwarding import FORWARDED_HOST_MAX_CHARS
from mcproxy.wire.legacy import encode_legacy_reply, legacy_status, sniff_legacy_ping
from mcproxy.wire.names import USERNAME_MAX_CHARS, is_valid_username
from mcproxy.wire.packets import LOGIN_DISCONNECT_ANY_VERSION, State
from mcproxy.wire.types import Reader, WireError, encode_string, encode_varint


def _chat(text: str, color: str | None = None) -> dict:
    return {"text": text, "color": color} if color else {"text": text}


def chat_json(text: str, color: str | None = None) -> str:
    """A login-state chat component (JSON string)."""
    return component_to_json(_chat(text, color))


def chat_nbt(text: str, color: str | None = None) -> bytes:
    """A configuration/play chat component (network NBT, 1.20.3+)."""
    return component_to_nbt(_chat(text, color))


class Phase(enum.Enum):
    """Where a connection is; each phase accepts only its own packets."""

    HANDSHAKE = "handshake"
    STATUS = "status"
    LOGIN_START = "login_start"
    LOGIN_FORWARDING = "login_forwarding"
    LOGIN_ACKNOWLEDGE = "login_acknowledge"
    CONFIGURATION_PACKS = "configuration_packs"
    CONFIGURATION_FINISH = "configuration_finish"
    PLAY = "play"
    CLOSED = "closed"


_WIRE_STATE = {
    Phase.HANDSHAKE: State.HANDSHAKING,
    Phase.STATUS: State.STATUS,
    Phase.LOGIN_START: State.LOGIN,
    Phase.LOGIN_FORWARDING: State.LOGIN,
    Phase.LOGIN_ACKNOWLEDGE: State.LOGIN,
    Phase.CONFIGURATION_PACKS: State.CONFIGURATION,
    Phase.CONFIGURATION_FINISH: State.CONFIGURATION,
    Phase.PLAY: State.PLAY,
}

#: Serverbound packets each phase acts on (name -> handler method, dotted for a helper's).
_HANDLERS: dict[Phase, dict[str, str]] = {
    Phase.LOGIN_START: {"login_start": "_on_login_start"},
    Phase.LOGIN_FORWARDING: {"login_plugin_response": "_on_plugin_response"},
    Phase.LOGIN_ACKNOWLEDGE: {"login_acknowledged": "configuration.on_login_acknowledged"},
    Phase.CONFIGURATION_PACKS: {"select_known_packs": "configuration.on_known_packs",
                                "keep_alive": "_on_keep_alive"},
    Phase.CONFIGURATION_FINISH: {"finish_configuration": "configuration.on_finish_configuration",
                                 "keep_alive": "_on_keep_alive"},
    Phase.PLAY: {"keep_alive": "_on_keep_alive", "teleport_confirm": "_on_teleport_confirm",
                 "chat_message": "chat.on_chat_message", "chat_command": "chat.on_chat_command",
                 "chat_command_signed": "chat.on_chat_command", "chat": "chat.on_legacy_chat"},
}

_HANDLERS = {phase: {name: attrgetter(method) for name, method in handlers.items()}
             for phase, handlers in _HANDLERS.items()}

#: Serverbound packets a phase tolerates without acting on them (client settings, brand,
#: movement, ...).  Anything neither handled nor ignored is an illegal transition.
_IGNORED: dict[Phase, frozenset[str]] = {
    Phase.CONFIGURATION_PACKS: frozenset({"settings", "custom_payload", "pong",
                                          "resource_pack_receive", "cookie_response",
                                          "custom_report_details", "server_links",
                                          "custom_click_action", "accept_code_of_conduct"}),
}
_IGNORED[Phase.CONFIGURATION_FINISH] = _IGNORED[Phase.CONFIGURATION_PACKS]
#: Play packets that would change the state machine and so are not merely ignored.
_PLAY_ILLEGAL = frozenset({"configuration_acknowledged"})
#: Keep-alive ids are VarInts before 1.12.2: kept within 31 bits there.
VARINT_KEEPALIVE_MASK = 0x7FFFFFFF
#: Keep-alive ids are longs from 1.12.2 (and in configuration).
LONG_KEEPALIVE_MASK = 0x7FFFFFFFFFFFFFFF


@dataclass(frozen=True)
class LimboSettings:
    """Everything an operator can tune about the limbo; defaults suit a small lobby."""

    server_id: str = "limbo"
    motd: str = "An mcproxy limbo"
    max_players: int = 100
    #: Packets at least this large are compressed; -1 disables compression.
    compression_threshold: int = 256
    #: Largest serverbound frame (and decompressed packet) accepted, in bytes.
    max_packet_size: int = 65536
    #: Seconds a connection may take from connecting to reaching play (or finishing status).
    login_timeout: float = 30.0
    keepalive_interval: float = 15.0
    keepalive_timeout: float = 30.0
    #: How often the shared housekeeping loop runs; deadlines are this precise.
    tick_interval: float = 1.0
    #: Connections allowed between Login Start and play at once.
    login_concurrent_max: int = 64
    view_distance: int = 2
    gamemode: str = "spectator"
    spawn: Spawn = field(default_factory=Spawn)


class LimboProtocol(Protocol):
    """One client connection to the limbo."""

    def __init__(self, factory: "LimboFactory", connection_id: str) -> None:
        self.factory = factory
        #: Correlation id of this connection in every log line about it.
        self.connection_id = connection_id
        self.log = correlated(factory.log, connection_id)
        self.phase = Phase.HANDSHAKE
        self.protocol_version = 0
        self.packets: ServerPackets | None = None
        self.decoder = FrameDecoder(factory.settings.max_packet_size)
        self.compression = -1
        self.connected_at = 0.0
        self.name = ""
        self.uuid: _uuid.UUID | None = None
        self.properties: tuple[ProfileProperty, ...] = ()
        self.probe = False
        self.address = ""
        #: The handshake's host field (legacy forwarding carries the identity in it).
        self.host_field = ""
        self.entity_id = 0
        self._plugin_message_id = 0
        self._counted_login = False
        self.keepalive = KeepAlive(0.0)
        self.chat = LimboChat(self)
        self.configuration = LimboConfiguration(self)
        self._teleport_id: int | None = None
        #: The first read decides whether this is a pre-1.7 ping.
        self._first_read = True

    # Twisted callbacks

    def connectionMade(self) -> None:
        self.connected_at = self.factory.clock.seconds()
        self.keepalive = KeepAlive(self.connected_at)
        peer = self.transport.getPeer()
        self.address = getattr(peer, "host", str(peer))
        self.log = correlated(self.factory.log, self.connection_id, peer=self.address)
        self.factory.connections.add(self)

    def connectionLost(self, reason: object = None) -> None:
        was_playing = self.phase is Phase.PLAY
        self._leave_login()
        self.phase = Phase.CLOSED
        self.factory.connections.discard(self)
        if self.uuid is not None and self.factory.players.get(self.uuid) is self:
            del self.factory.players[self.uuid]
            self.factory.count_players()
            if was_playing:
                self.log.info("{player} left", player=self.name)
                if not self.probe:
                    self.factory.broadcast(f"{self.name} left the limbo", "yellow")

    def dataReceived(self, data: bytes) -> None:
        if self.phase is Phase.CLOSED:
            return
        if self._first_read:
            data = self._sniff_legacy(data)
            if not data:
                return
        try:
            for frame in self.decoder.frames(data):
                if self.phase is Phase.CLOSED:
                    return
                if self.compression >= 0:
                    frame = decompress_packet(frame, self.compression,
                                              self.factory.settings.max_packet_size)
                self._packet(frame)
        except WireError as error:
            self.fail(error.reason, f"Protocol error ({error.reason})")

    # Dispatch

    def _packet(self, frame: bytes) -> None:
        if self.phase is Phase.HANDSHAKE:
            reads_host = self.factory.module.reads_host_field
            self._on_handshake(parse_handshake(
                frame, FORWARDED_HOST_MAX_CHARS) if reads_host else parse_handshake(frame))
            return
        reader = Reader(frame)
        packet_id = reader.varint()
        if self.phase is Phase.STATUS:
            self._on_status_packet(packet_id, reader)
            return
        assert self.packets is not None
        name = self.packets.serverbound_name(_WIRE_STATE[self.phase], packet_id)
        handler = _HANDLERS.get(self.phase, {}).get(name or "")
        if handler is not None:
            handler(self)(reader)
            return
        if self.phase is Phase.PLAY and name not in _PLAY_ILLEGAL \
                and (name is not None or self.packets.table is None):
            # Before 1.20.5 only the packets we watch have names: movement and the like
            # come in unnamed and are as harmless as they are in tier 1.
            return
        if name is not None and name in _IGNORED.get(self.phase, ()):
            return
        self.fail("ILLEGAL_PACKET", "Unexpected packet",
                  detail=f"{name or hex(packet_id)} in {self.phase.value}")

    def _enter(self, phase: Phase) -> None:
        self.log.debug("{old} -> {state}", old=self.phase.value, state=phase.value)
        self.phase = phase

    # Handshake and status

    def _on_handshake(self, handshake: Handshake) -> None:
        self.protocol_version = handshake.protocol
        self.host_field = handshake.raw_host
        if handshake.intent is Intent.STATUS:
            self._enter(Phase.STATUS)
            return
        if self.protocol_version not in self.factory.served_protocols:
            self.factory.module.record_login("UNSUPPORTED_VERSION")
            self._send_raw(encode_varint(LOGIN_DISCONNECT_ANY_VERSION) + encode_string(chat_json(
                f"Unsupported Minecraft version: use {self.factory.served_range}.", "red")))
            self.close("UNSUPPORTED_VERSION")
            return
        self.packets = ServerPackets.for_protocol(self.protocol_version)
        self._enter(Phase.LOGIN_START)

    def _on_status_packet(self, packet_id: int, reader: Reader) -> None:
        # Status ids are the same in every version, so unsupported clients get answers too.
        if packet_id == 0:
            reader.expect_end()
            self.factory.status_requests.inc()
            self._send_raw(encode_varint(0) + encode_string(self.factory.status(
                self.protocol_version)))
        elif packet_id == 1:
            payload = reader.raw(8)
            reader.expect_end()
            self._send_raw(encode_varint(1) + payload)
            self.close("STATUS_DONE")
        else:
            self.fail("ILLEGAL_PACKET", "Unexpected status packet")

    def _sniff_legacy(self, data: bytes) -> bytes:
        """Answer a pre-1.7 ping, or hand back the bytes when they are a modern frame.

        The first read decides, through the same function the proxy uses.
        """
        self._first_read = False
        try:
            ping = sniff_legacy_ping(data)
        except WireError as error:
            self.fail(error.reason, "")
            return b""
        if ping is None:
            return data
        settings = self.factory.settings
        self.transport.write(encode_legacy_reply(ping, legacy_status(
            settings.motd, len(self.factory.players), settings.max_players, self.factory.served_protocols)))
        self.factory.status_requests.inc()
        self.close("LEGACY_PING")
        return b""

    # Login

    def _on_login_start(self, reader: Reader) -> None:
        name = reader.string(USERNAME_MAX_CHARS)
        if self.packets.facts.get("login_start_fields") == ["username"]:
            reader.expect_end()
        elif self.packets.facts.get("configuration_state"):
            reader.uuid()
            reader.expect_end()
        # 1.19 - 1.20.1 follow the name with an optional signing key and UUID we do not use.
        factory = self.factory
        if factory.logins_in_progress >= factory.settings.login_concurrent_max:
            self.refuse_login("LOGIN_CAP", "The server is busy, try again in a moment.")
            return
        if factory.playing + factory.logins_in_progress >= factory.settings.max_players:
            self.refuse_login("SERVER_FULL", "The server is full.")
            return
        factory.logins_in_progress += 1
        self._counted_login = True
        self.name = name
        module = factory.module
        if module.reads_host_field:
            if not is_valid_username(name):
                self.refuse_login("INVALID_NAME", "Invalid player name.")
                return
            self._verified(module.verify_host_field(self.host_field, name))
            return
        request = module.forwarding_request()
        if request is not None and not self.packets.facts.get("login_plugin_messages"):
            reason = module.refuse_modern_for_old_client()
            self._disconnect(reason, module.refusal_message(reason))
            return
        if request is not None:
            self._plugin_message_id = next(factory.message_ids)
            self._send(self.packets.login_plugin_request(self._plugin_message_id, CHANNEL,
                                                         request))
            self._enter(Phase.LOGIN_FORWARDING)
            return
        if not is_valid_username(name):
            self.refuse_login("INVALID_NAME", "Invalid player name.")
            return
        result = factory.module.verify_direct_login(name)
        if not isinstance(result, ForwardedPlayer):
            reason = result.reason.value
            self._disconnect(reason, factory.module.refusal_message(reason))
            return
        self._complete_login(result.uuid, result.name, result.properties)

    def _on_plugin_response(self, reader: Reader) -> None:
        message_id = reader.varint()
        data = reader.rest() if reader.bool() else None
        if message_id != self._plugin_message_id:
            self.fail("ILLEGAL_PACKET", "Unexpected plugin response")
            return
        self._verified(self.factory.module.verify_login(data))

    def _verified(self, result: ForwardedPlayer | Refused) -> None:
        if not isinstance(result, ForwardedPlayer):
            reason = result.reason.value
            self._disconnect(reason, self.factory.module.refusal_message(reason))
            return
        self.address = result.address
        self._complete_login(result.uuid, result.name, result.properties)

    def _complete_login(self, player_uuid: _uuid.UUID, name: str,
                        properties: Iterable[ProfileProperty]) -> None:
        previous = self.factory.players.get(player_uuid)
        if previous is not None:
            previous.kick("DUPLICATE_LOGIN", "You logged in from another location.")
        self.uuid = player_uuid
        self.name = name
        # The proxy marks an armed smoke bot inside the signed forwarding; others never see it.
        self.properties, self.probe = without_probe(properties)
        self.factory.players[player_uuid] = self
        self.factory.module.record_login("ok")
        threshold = self.factory.settings.compression_threshold
        if threshold >= 0:
            self._send(self.packets.set_compression(threshold))
            self.compression = threshold
        self._send(self.packets.login_success(player_uuid, name, self.properties))
        if self.packets.facts.get("configuration_state"):
            self._enter(Phase.LOGIN_ACKNOWLEDGE)
        else:
            self.start_play()

    # Configuration (the steps are LimboConfiguration's)

    def choosing_packs(self) -> None:
        self._enter(Phase.CONFIGURATION_PACKS)

    def finishing_configuration(self) -> None:
        self._enter(Phase.CONFIGURATION_FINISH)

    def start_play(self) -> None:
        """Enter play: after configuration from 1.20.2, right after Login Success before."""
        self._leave_login()
        self._enter(Phase.PLAY)
        factory = self.factory
        factory.count_players()
        settings = factory.settings
        self.entity_id = next(factory.entity_ids)
        self._teleport_id = next(factory.teleport_ids)
        self.send_many(play_entry(
            self.packets, factory.registries,
            JoinSettings(settings.max_players, settings.view_distance,
                         GAMEMODES.get(settings.gamemode, 3), settings.spawn),
            self.entity_id, self._teleport_id, factory.command_names()))
        self.log.info("{player} ({uuid}) joined from {address}", player=self.name,
                      uuid=str(self.uuid), address=self.address)
        self.message(f"Welcome to {settings.server_id}, {self.name}. Type /help for commands.",
                     "gold")
        if not self.probe:
            factory.broadcast(f"{self.name} joined the limbo", "yellow", exclude=self)

    # Play

    def _on_keep_alive(self, reader: Reader) -> None:
        varint = self.phase is Phase.PLAY and self.packets.facts.get("keep_alive_id") == "varint"
        answered = reader.varint() if varint else reader.long()
        reader.expect_end()
        self.keepalive.answered(answered)

    def _on_teleport_confirm(self, reader: Reader) -> None:
        if reader.varint() == self._teleport_id:
            self._teleport_id = None

    # Housekeeping, called by the factory's shared loop

    def tick(self, now: float) -> None:
        settings = self.factory.settings
        if self.phase is Phase.CLOSED:
            return
        if self.phase not in (Phase.PLAY,) and now - self.connected_at >= settings.login_timeout:
            reason = "HANDSHAKE_TIMEOUT" if self.phase in (Phase.HANDSHAKE, Phase.STATUS) \
                else "LOGIN_TIMEOUT"
            if reason == "LOGIN_TIMEOUT":
                self.factory.module.record_login(reason)
            self._disconnect(reason, "Timed out while logging in.")
            return
        if _WIRE_STATE.get(self.phase) not in (State.CONFIGURATION, State.PLAY):
            return
        keepalive = self.keepalive
        if keepalive.overdue(now, settings.keepalive_timeout):
            self._disconnect("KEEPALIVE_TIMEOUT", "Timed out.")
            return
        if keepalive.pending is not None:
            return
        if self.phase is Phase.CONFIGURATION_FINISH:
            # finish_configuration is on its way: anything sent now would reach the client
            # after it switched to play and be read against the play packet table.
            return
        varint = self.phase is Phase.PLAY and self.packets.facts.get("keep_alive_id") == "varint"
        value = keepalive.next_id(now, settings.keepalive_interval,
                                  VARINT_KEEPALIVE_MASK if varint else LONG_KEEPALIVE_MASK)
        if value is None:
            return
        if self.phase is Phase.PLAY:
            self._send(self.packets.play_keep_alive(value))
        else:
            self._send(self.packets.configuration_keep_alive(value))

    # Output and closing

    @property
    def in_play(self) -> bool:
        return self.phase is Phase.PLAY

    def message(self, text: str, color: str | None = None) -> None:
        """Show ``text`` in the player's chat."""
        if self.phase is Phase.PLAY:
            self._send(self.packets.system_chat(self._text(text, color)))

    def _text(self, text: str, color: str | None) -> bytes | str:
        """A chat component as this client's play packets carry it: NBT or JSON."""
        return chat_nbt(text, color) if self.packets.text_is_nbt else chat_json(text, color)

    def kick(self, reason: str, text: str) -> None:
        """Disconnect with ``text`` shown to the player and ``reason`` counted."""
        self._disconnect(reason, text)

    def refuse_login(self, reason: str, text: str) -> None:
        self.factory.module.record_login(reason)
        self._disconnect(reason, text)

    def fail(self, reason: str, text: str, detail: str = "") -> None:
        """A protocol violation: count it, tell the client if we can, and close."""
        self.factory.protocol_errors.labels(reason).inc()
        self.log.warn("closing: {reason} {detail}", reason=reason, detail=detail,
                      state=self.phase.value)
        self._disconnect(reason, text)

    def _disconnect(self, reason: str, text: str) -> None:
        state = _WIRE_STATE.get(self.phase)
        if self.packets is not None:
            if state is State.LOGIN:
                self._send(self.packets.login_disconnect(chat_json(text, "red")))
            elif state is State.CONFIGURATION:
                self._send(self.packets.configuration_disconnect(self._text(text, "red")))
            elif state is State.PLAY:
                self._send(self.packets.play_disconnect(self._text(text, "red")))
        self.close(reason)

    def close(self, reason: str) -> None:
        if self.phase is Phase.CLOSED:
            return
        self.factory.disconnects.labels(reason).inc()
        self._leave_login()
        self.phase = Phase.CLOSED
        self.transport.loseConnection()

    def _leave_login(self) -> None:
        if self._counted_login:
            self._counted_login = False
            self.factory.logins_in_progress -= 1

    def send_packet(self, body: bytes) -> None:
        """Send one encoded packet (id and fields) to this client."""
        self._send(body)

    def _frame(self, body: bytes) -> bytes:
        return frame_packet(body, self.compression)

    def _send(self, body: bytes) -> None:
        self.transport.write(self._frame(body))

    def send_many(self, bodies: Iterable[bytes]) -> None:
        self.transport.writeSequence([self._frame(body) for body in bodies])

    def _send_raw(self, body: bytes) -> None:
        self.transport.write(encode_frame(body))


class LimboFactory(Factory):
    """Shared state of one limbo server."""

    protocol = LimboProtocol

    def __init__(self, settings: LimboSettings, module: IBackendModule, clock: IReactorTime,
                 registry: CollectorRegistry, metrics: BackendMetrics,
                 log: Logger | None = None, registries: RegistryStore | None = None) -> None:
        self.settings = settings
        self.module = module
        self.metrics = metrics
        self.clock = clock
        self.log = log if log is not None else Logger()
        self.registries = registries if registries is not None else RegistryStore.load()
        #: Every protocol a client may log in with, and how players read that range.
        self.served_protocols = served_protocols(self.registries)
        self.served_range = served_range(self.served_protocols)
        self.connections: set[LimboProtocol] = set()
        self.players: dict[_uuid.UUID, LimboProtocol] = {}
        self.logins_in_progress = 0
        self._registry_frames: dict[tuple[int, int, bool], bytes] = {}
        #: Players in play; those still logging in are counted in logins_in_progress.
        self.playing = 0
        self.entity_ids = itertools.count(1)
        self.teleport_ids = itertools.count(1)
        self.message_ids = itertools.count(1)
        self._loop: LoopingCall | None = None
        #: Called once the listener is up (the admin /health listener check).
        self.on_listening: Callable[[], object] | None = None
        module.on_commands_changed(self.declare_commands)
        self.protocol_errors = Counter("mcproxy_limbo_protocol_errors",
                                       "Connections closed for a protocol violation.",
                                       ["reason"], registry=registry)
        self.disconnects = Counter("mcproxy_limbo_disconnects",
                                   "Connections closed by the server, by reason.", ["reason"],
                                   registry=registry)
        self.status_requests = Counter("mcproxy_limbo_status_requests",
                                       "Server-list pings answered.", registry=registry)

    def buildProtocol(self, addr: object) -> LimboProtocol:
        return self.protocol(self, new_correlation_id())

    def startFactory(self) -> None:
        self._loop = LoopingCall(self.tick)
        self._loop.clock = self.clock
        self._loop.start(self.settings.tick_interval, now=False)
        if self.on_listening is not None:
            self.on_listening()

    def stopFactory(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        for connection in list(self.connections):
            connection.kick("SERVER_STOPPING", "The server is shutting down.")

    def tick(self) -> None:
        """One pass of keep-alives and deadlines over every connection."""
        now = self.clock.seconds()
        for connection in list(self.connections):
            connection.tick(now)

    def status(self, protocol: int) -> str:
        online = [p for p in self.players.values() if p.phase is Phase.PLAY and not p.probe]
        sample = [(p.name, str(p.uuid)) for p in online[:12]]
        return status_json(protocol, _chat(self.settings.motd),
                           sum(1 for p in self.players.values() if not p.probe),
                           self.settings.max_players, sample, self.served_protocols)

    def registry_frames(self, protocol: int, compression: int, shared: bool) -> bytes:
        """The framed (and compressed) registry packets, built once per variant: every
        join of a version sends the same ~100 KiB, so it is compressed only once."""
        key = (protocol, compression, shared)
        frames = self._registry_frames.get(key)
        if frames is None:
            registries = self.registries.for_protocol(protocol)
            bodies = registries.known_pack_packets if shared else registries.packets
            frames = b"".join(frame_packet(body, compression) for body in bodies)
            self._registry_frames[key] = frames
        return frames

    def count_players(self) -> None:
        """Recount players in play (capacity checks and the players-online gauge)."""
        playing = [p for p in self.players.values() if p.phase is Phase.PLAY]
        self.playing = len(playing)
        probes = sum(1 for p in playing if p.probe)
        self.metrics.players_online.set(self.playing - probes)
        self.metrics.probe_players_online.set(probes)

    def command_names(self) -> list[str]:
        return sorted(set(BUILTIN_COMMANDS) | set(self.module.proxy_commands()))

    def declare_commands(self) -> None:
        """Send every player the current command list (the proxy's registry changed)."""
        names = self.command_names()
        for player in list(self.players.values()):
            if player.phase is Phase.PLAY:
                tree = player.packets.command_tree(names)
                if tree is not None:
                    player.send_packet(tree)

    def broadcast(self, text: str, color: str | None = None,
                  exclude: LimboProtocol | None = None) -> None:
        """Show ``text`` to every player in play."""
        for player in list(self.players.values()):
            if player is not exclude and player.phase is Phase.PLAY:
                player.message(text, color)
