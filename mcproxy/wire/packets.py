"""Packet ids per protocol version, from the generated ``packet_ids.json``.

The table is facts taken from minecraft-data by ``tools/gen_packet_ids.py``; packet names
are minecraft-data's (``kick_disconnect``, ``chat_command``, ``start_configuration`` …).
It is loaded once, on first use, into plain dicts in both directions, so that a lookup
on the relay's path is a single dict access; hot code can hold on to :meth:`PacketTable.ids`
or :meth:`PacketTable.names` for one state and direction.
"""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Iterable, Mapping


class State(enum.Enum):
    """Protocol states, named as in minecraft-data."""

    HANDSHAKING = "handshaking"
    STATUS = "status"
    LOGIN = "login"
    CONFIGURATION = "configuration"
    PLAY = "play"


class Direction(enum.Enum):
    """Which way a packet travels (minecraft-data's ``toServer`` / ``toClient``)."""

    SERVERBOUND = "serverbound"
    CLIENTBOUND = "clientbound"


#: The newest protocols, served since 0.4.0 with everything (configuration phase,
#: Transfer, cookies), and their Minecraft versions.
VERSION_NAMES: Mapping[int, str] = MappingProxyType({
    766: "1.20.5",
    767: "1.21.1",
    768: "1.21.3",
    769: "1.21.4",
    770: "1.21.5",
    771: "1.21.6",
    772: "1.21.8",
    773: "1.21.9",
    774: "1.21.11",
    775: "26.1",
})
TIER1_PROTOCOLS: tuple[int, ...] = tuple(sorted(VERSION_NAMES))


def _served_protocols() -> frozenset[int]:
    """Every protocol the tables carry: minecraft-data's, 1.8 (47) to 26.1 (775), with
    their layouts, and 26.2 (776) and 26.3 (777) from upstream proxies, whose ids two
    sources agree on and whose layout changes are facts of their entries."""
    text = resources.files("mcproxy.wire").joinpath("protocols.json").read_text("utf-8")
    return frozenset(int(number) for number in json.loads(text)["protocols"])


#: Protocol numbers a player may log in to the proxy with.
SERVED_PROTOCOLS: frozenset[int] = _served_protocols()
#: 1.13: the first version with login plugin messages, so with modern forwarding.
PROTOCOL_1_13 = 393


def version_name(protocol: int) -> str:
    """How players name the version of a served protocol: ``1.8.9``, ``1.20.4``, ``26.3``."""
    name = VERSION_NAMES.get(protocol)
    if name is None:
        from mcproxy.wire.protocols import protocol_info
        info = protocol_info(protocol)
        if info is None:
            raise KeyError(protocol)
        name = info.name
    return name


def supported_range(protocols: Iterable[int] = SERVED_PROTOCOLS) -> str:
    """The versions a server takes as players read them: ``1.8-26.3`` for the proxy; the
    reference backend names its own."""
    from mcproxy.wire.protocols import protocol_info
    oldest, newest = min(protocols), max(protocols)
    return f"{protocol_info(oldest).releases[0]}-{version_name(newest)}"


def unsupported_version_name(protocols: Iterable[int] = SERVED_PROTOCOLS) -> str:
    """The server version a client we cannot serve is shown (status and legacy ping):
    ``mcproxy 1.8-26.3``, so its list says which versions can join."""
    return f"mcproxy {supported_range(protocols)}"

#: Login Disconnect has been packet 0x00 with a JSON reason since 1.7, so a client whose
#: version has no table still reads why it was turned away.
LOGIN_DISCONNECT_ANY_VERSION = 0x00

#: Protocol numbers at which a layout either side writes changed.
PROTOCOL_1_14 = 477    # block positions pack y in the low 12 bits (before: x, y, z)
PROTOCOL_1_17 = 755    # spawn position gains an angle; player position a dismount flag
PROTOCOL_1_19 = 759    # command-tree argument parsers by registry id instead of by name
PROTOCOL_1_19_4 = 762  # player position loses the dismount flag
PROTOCOL_1_20_3 = 765  # game event 13: start waiting for level chunks
PROTOCOL_1_21_2 = 768  # Login Success loses strictErrorHandling; sea level; new teleport
PROTOCOL_1_21_9 = 773  # spawn position becomes RespawnData (dimension + yaw + pitch)
PROTOCOL_1_11 = 315  # serverbound chat lines may be 256 characters long (100 before)


class PacketTable:
    """The packet ids of one protocol version."""

    __slots__ = ("protocol", "version", "_ids", "_names")

    def __init__(self, protocol: int, version: str,
                 states: Mapping[str, Mapping[str, Mapping[str, int]]]) -> None:
        self.protocol = protocol
        self.version = version
        self._ids: dict[tuple[State, Direction], Mapping[str, int]] = {}
        self._names: dict[tuple[State, Direction], Mapping[int, str]] = {}
        for state in State:
            for direction in Direction:
                ids = dict(states[state.value][direction.value])
                self._ids[state, direction] = MappingProxyType(ids)
                self._names[state, direction] = MappingProxyType(
                    {packet_id: name for name, packet_id in ids.items()}
                )

    def __repr__(self) -> str:
        return f"<PacketTable {self.protocol} ({self.version})>"

    @classmethod
    def for_protocol(cls, protocol: int) -> PacketTable | None:
        """The table for ``protocol``, or ``None`` for a protocol we do not support
        (the caller is looking at a client's handshake, so that is an answer, not a bug).
        """
        return _tables().get(protocol)

    def id(self, state: State, direction: Direction, name: str) -> int:
        """The id of packet ``name``; ``KeyError`` if this version has no such packet."""
        return self._ids[state, direction][name]

    def name(self, state: State, direction: Direction, packet_id: int) -> str | None:
        """The name of the packet with ``packet_id``, or ``None`` if the id is unused
        (ids come off the wire, so an unknown one is input to refuse, not a bug).
        """
        return self._names[state, direction].get(packet_id)

    def ids(self, state: State, direction: Direction) -> Mapping[str, int]:
        """Every packet of a state and direction: name -> id."""
        return self._ids[state, direction]

    def names(self, state: State, direction: Direction) -> Mapping[int, str]:
        """Every packet of a state and direction: id -> name."""
        return self._names[state, direction]


def _load_json() -> dict:
    text = resources.files("mcproxy.wire").joinpath("packet_ids.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _tables() -> Mapping[int, PacketTable]:
    data = _load_json()
    return MappingProxyType({
        int(number): PacketTable(int(number), entry["version"], entry["states"])
        for number, entry in data["protocols"].items()
    })


@functools.cache
def minecraft_data_version() -> str:
    """The minecraft-data release the table was generated from."""
    return str(_load_json()["minecraft_data_version"])


_C = Direction.CLIENTBOUND
_S = Direction.SERVERBOUND

#: Every packet the proxy or the reference backend reads or writes by name: our field name
#: -> where minecraft-data keeps it.  One list, so both sides agree on what a packet is.
_NAMED = {
    "status_response": (State.STATUS, _C, "server_info"),
    "status_pong": (State.STATUS, _C, "ping"),
    "login_disconnect": (State.LOGIN, _C, "disconnect"),
    "login_encryption_request": (State.LOGIN, _C, "encryption_begin"),
    "login_success": (State.LOGIN, _C, "success"),
    "login_compress": (State.LOGIN, _C, "compress"),
    "login_plugin_request": (State.LOGIN, _C, "login_plugin_request"),
    "login_cookie_request": (State.LOGIN, _C, "cookie_request"),
    "login_start": (State.LOGIN, _S, "login_start"),
    "login_encryption_response": (State.LOGIN, _S, "encryption_begin"),
    "login_plugin_response": (State.LOGIN, _S, "login_plugin_response"),
    "login_acknowledged": (State.LOGIN, _S, "login_acknowledged"),
    "login_cookie_response": (State.LOGIN, _S, "cookie_response"),
    "config_disconnect": (State.CONFIGURATION, _C, "disconnect"),
    "config_finish": (State.CONFIGURATION, _C, "finish_configuration"),
    "config_transfer": (State.CONFIGURATION, _C, "transfer"),
    "config_store_cookie": (State.CONFIGURATION, _C, "store_cookie"),
    "config_cookie_request": (State.CONFIGURATION, _C, "cookie_request"),
    "config_keep_alive": (State.CONFIGURATION, _C, "keep_alive"),
    "config_custom_payload": (State.CONFIGURATION, _C, "custom_payload"),
    "config_feature_flags": (State.CONFIGURATION, _C, "feature_flags"),
    "config_select_known_packs": (State.CONFIGURATION, _C, "select_known_packs"),
    "config_registry_data": (State.CONFIGURATION, _C, "registry_data"),
    "config_finish_ack": (State.CONFIGURATION, _S, "finish_configuration"),
    "config_cookie_response": (State.CONFIGURATION, _S, "cookie_response"),
    "config_keep_alive_response": (State.CONFIGURATION, _S, "keep_alive"),
    "config_custom_payload_serverbound": (State.CONFIGURATION, _S, "custom_payload"),
    "config_known_packs_answer": (State.CONFIGURATION, _S, "select_known_packs"),
    "play_kick": (State.PLAY, _C, "kick_disconnect"),
    "play_login": (State.PLAY, _C, "login"),
    "play_start_configuration": (State.PLAY, _C, "start_configuration"),
    "play_system_chat": (State.PLAY, _C, "system_chat"),
    "play_transfer": (State.PLAY, _C, "transfer"),
    "play_declare_commands": (State.PLAY, _C, "declare_commands"),
    "play_tab_complete_response": (State.PLAY, _C, "tab_complete"),
    "play_store_cookie": (State.PLAY, _C, "store_cookie"),
    "play_cookie_request": (State.PLAY, _C, "cookie_request"),
    "play_keep_alive": (State.PLAY, _C, "keep_alive"),
    "play_game_event": (State.PLAY, _C, "game_state_change"),
    "play_spawn_position": (State.PLAY, _C, "spawn_position"),
    "play_position": (State.PLAY, _C, "position"),
    "play_update_health": (State.PLAY, _C, "update_health"),
    "play_teleport_confirm": (State.PLAY, _S, "teleport_confirm"),
    "play_chat_command": (State.PLAY, _S, "chat_command"),
    "play_chat_command_signed": (State.PLAY, _S, "chat_command_signed"),
    "play_configuration_acknowledged": (State.PLAY, _S, "configuration_acknowledged"),
    "play_cookie_response": (State.PLAY, _S, "cookie_response"),
    "play_tab_complete_request": (State.PLAY, _S, "tab_complete"),
    "play_chat_message": (State.PLAY, _S, "chat_message"),
    "play_message_acknowledgement": (State.PLAY, _S, "message_acknowledgement"),
    "play_custom_payload": (State.PLAY, _C, "custom_payload"),
    "play_custom_payload_serverbound": (State.PLAY, _S, "custom_payload"),
    # What a version switch, the old chat and the world the client must drop are made of.
    "play_respawn": (State.PLAY, _C, "respawn"),
    "play_chat_legacy": (State.PLAY, _C, "chat"),
    "play_chat_legacy_serverbound": (State.PLAY, _S, "chat"),
    "play_player_chat": (State.PLAY, _C, "player_chat"),
    "play_profileless_chat": (State.PLAY, _C, "profileless_chat"),
    "play_set_compression": (State.PLAY, _C, "set_compression"),
    "play_bundle_delimiter": (State.PLAY, _C, "bundle_delimiter"),
    "play_boss_bar": (State.PLAY, _C, "boss_bar"),
    "play_playerlist_header": (State.PLAY, _C, "playerlist_header"),
    "play_player_info": (State.PLAY, _C, "player_info"),
    "play_player_remove": (State.PLAY, _C, "player_remove"),
    "play_scoreboard_objective": (State.PLAY, _C, "scoreboard_objective"),
    "play_scoreboard_display_objective": (State.PLAY, _C, "scoreboard_display_objective"),
    "play_scoreboard_score": (State.PLAY, _C, "scoreboard_score"),
    "play_teams": (State.PLAY, _C, "teams"),
    "play_title": (State.PLAY, _C, "title"),
    "play_clear_titles": (State.PLAY, _C, "clear_titles"),
    "play_keep_alive_response": (State.PLAY, _S, "keep_alive"),
}

#: minecraft-data renamed a few packets over the years: our field -> the older names.
_OLDER_NAMES = {
    "play_teams": ("scoreboard_team",),
}


@dataclass(frozen=True, slots=True)
class PacketIds:
    """The ids of the packets in :data:`_NAMED` for one protocol version, as attributes.

    A packet the version does not have is ``None`` (no configuration state before 1.20.2,
    no login plugin messages before 1.13): comparing an id off the wire with it is simply
    false, and writing it is a bug that fails loudly.
    """

    protocol: int
    status_response: int | None
    status_pong: int | None
    login_disconnect: int | None
    login_encryption_request: int | None
    login_success: int | None
    login_compress: int | None
    login_plugin_request: int | None
    login_cookie_request: int | None
    login_start: int | None
    login_encryption_response: int | None
    login_plugin_response: int | None
    login_acknowledged: int | None
    login_cookie_response: int | None
    config_disconnect: int | None
    config_finish: int | None
    config_transfer: int | None
    config_store_cookie: int | None
    config_cookie_request: int | None
    config_keep_alive: int | None
    config_custom_payload: int | None
    config_feature_flags: int | None
    config_select_known_packs: int | None
    config_registry_data: int | None
    config_finish_ack: int | None
    config_cookie_response: int | None
    config_keep_alive_response: int | None
    config_custom_payload_serverbound: int | None
    config_known_packs_answer: int | None
    play_kick: int | None
    play_login: int | None
    play_start_configuration: int | None
    play_system_chat: int | None
    play_transfer: int | None
    play_declare_commands: int | None
    play_tab_complete_response: int | None
    play_store_cookie: int | None
    play_cookie_request: int | None
    play_keep_alive: int | None
    play_game_event: int | None
    play_spawn_position: int | None
    play_position: int | None
    play_update_health: int | None
    play_teleport_confirm: int | None
    play_chat_command: int | None
    play_chat_command_signed: int | None
    play_configuration_acknowledged: int | None
    play_cookie_response: int | None
    play_tab_complete_request: int | None
    play_chat_message: int | None
    play_message_acknowledgement: int | None
    play_custom_payload: int | None
    play_custom_payload_serverbound: int | None
    play_respawn: int | None
    play_chat_legacy: int | None
    play_chat_legacy_serverbound: int | None
    play_player_chat: int | None
    play_profileless_chat: int | None
    play_set_compression: int | None
    play_bundle_delimiter: int | None
    play_boss_bar: int | None
    play_playerlist_header: int | None
    play_player_info: int | None
    play_player_remove: int | None
    play_scoreboard_objective: int | None
    play_scoreboard_display_objective: int | None
    play_scoreboard_score: int | None
    play_teams: int | None
    play_title: int | None
    play_clear_titles: int | None
    play_keep_alive_response: int | None

    @property
    def join_game_has_online_mode(self) -> bool:
        """From 26.2 Join Game tells the client the server's online mode, in the byte
        before its last (enforcesSecureChat)."""
        return bool(_fact(self.protocol, "join_game_online_mode", False))

    @property
    def login_success_has_strict_flag(self) -> bool:
        """1.20.5 to 1.21.1 end Login Success with a strict-error-handling flag; 1.21.2
        (768) dropped it."""
        return self.protocol < PROTOCOL_1_21_2


def _fact(protocol: int, name: str, default):
    """A fact of ``protocols.json`` about ``protocol``, or ``default`` where it has none."""
    from mcproxy.wire.protocols import protocol_info
    info = protocol_info(protocol)
    return default if info is None else info.facts.get(name, default)


@functools.cache
def packet_ids(protocol: int) -> PacketIds:
    """The named ids for ``protocol``: from the full table of a tier-1 version, else from
    the watched packets of ``protocols.json`` (1.8 on, and 26.2); ``KeyError`` for a
    protocol neither knows."""
    table = PacketTable.for_protocol(protocol)
    if table is not None:
        def lookup(state: State, direction: Direction, name: str) -> int | None:
            return table.ids(state, direction).get(name)
    else:
        from mcproxy.wire.protocols import protocol_info
        info = protocol_info(protocol)
        if info is None:
            raise KeyError(protocol)
        lookup = info.id
    fields = {}
    for field, (state, direction, name) in _NAMED.items():
        packet_id = lookup(state, direction, name)
        for older in _OLDER_NAMES.get(field, ()):
            if packet_id is None:
                packet_id = lookup(state, direction, older)
        fields[field] = packet_id
    return PacketIds(protocol=protocol, **fields)
