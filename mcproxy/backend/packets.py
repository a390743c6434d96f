"""The packets the reference backend sends, encoded per protocol version.

Packet ids come from the wire package's named ids, the same the proxy uses.  Where
``protocols.json`` keeps minecraft-data's layout of a packet (Join Game before 1.20.5,
Login Success, chat, disconnect, keep-alive), the bytes are written from that layout; the
few layouts it does not keep (player and spawn position, the tier-1 Join Game) are
switched on the protocol number here, next to each other, so a reader sees every
difference in one place.  Encoders return the packet body including its id; framing and
compression are the connection's business.
"""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass
from typing import Iterable, Sequence

from mcproxy.backend.commands import encode_command_tree
from mcproxy.wire.forwarding import ProfileProperty
from mcproxy.wire import layout as layouts
from mcproxy.wire.packets import (
    PROTOCOL_1_14, PROTOCOL_1_17, PROTOCOL_1_19, PROTOCOL_1_19_4, PROTOCOL_1_21_2, PROTOCOL_1_21_9,
    Direction, PacketIds, PacketTable, State, packet_ids,
)
from mcproxy.wire.protocols import ProtocolInfo, protocol_info
from mcproxy.wire.types import (
    encode_bool,
    encode_double,
    encode_float,
    encode_int,
    encode_long,
    encode_string,
    encode_varint,
)

#: game_event reason that tells 1.20.3+ clients to start waiting for chunks.
GAME_EVENT_START_WAITING_FOR_CHUNKS = 13

GAMEMODES = {"survival": 0, "creative": 1, "adventure": 2, "spectator": 3}


@dataclass(frozen=True)
class Spawn:
    """Where a player appears in the limbo world."""

    x: float = 0.5
    y: float = 64.0
    z: float = 0.5
    yaw: float = 0.0
    pitch: float = 0.0
    dimension: str = "minecraft:overworld"


def encode_block_position(x: int, y: int, z: int, protocol: int = PROTOCOL_1_14) -> bytes:
    """The packed 64-bit block position: 26 bits x, 26 bits z, 12 bits y from 1.14;
    26 bits x, 12 bits y, 26 bits z before."""
    if protocol < PROTOCOL_1_14:
        packed = ((x & 0x3FFFFFF) << 38) | ((y & 0xFFF) << 26) | (z & 0x3FFFFFF)
    else:
        packed = ((x & 0x3FFFFFF) << 38) | ((z & 0x3FFFFFF) << 12) | (y & 0xFFF)
    return encode_long(_signed64(packed))


def field_type(layout, name: str):
    """The type of field ``name`` in a container layout, or ``None`` if it has none: how
    the backend asks a version's layout what it carries."""
    for field in layout[1]:
        if field["name"] == name:
            return field["type"]
    return None


def _signed64(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


class ServerPackets:
    """Encoders for one protocol version; build with :meth:`for_protocol` (cached)."""

    _cache: dict[int, "ServerPackets"] = {}

    def __init__(self, ids: PacketIds, info: ProtocolInfo, table: PacketTable | None) -> None:
        self.protocol = ids.protocol
        self.ids = ids
        self.info = info
        #: The full packet table (tier 1); older versions know their watched packets only.
        self.table = table
        self._serverbound = {
            state: {packet_id: name
                    for name, packet_id in info.ids(state, Direction.SERVERBOUND).items()}
            for state in State
        }

    @classmethod
    def for_protocol(cls, protocol: int) -> "ServerPackets":
        """Encoders for ``protocol``; ``KeyError`` for a protocol without minecraft-data
        tables (26.2 has ids from upstream proxies but no layouts)."""
        packets = cls._cache.get(protocol)
        if packets is None:
            info = protocol_info(protocol)
            if info is None or info.source != "minecraft-data":
                raise KeyError(protocol)
            packets = cls._cache[protocol] = cls(packet_ids(protocol), info,
                                                 PacketTable.for_protocol(protocol))
        return packets

    @property
    def facts(self):
        return self.info.facts

    def serverbound_name(self, state: State, packet_id: int) -> str | None:
        """The minecraft-data name of a serverbound packet id in ``state``, if it has one."""
        if self.table is not None:
            return self.table.name(state, Direction.SERVERBOUND, packet_id)
        return self._serverbound[state].get(packet_id)

    def _layout(self, state: State, name: str):
        layout = self.info.layout(state, Direction.CLIENTBOUND, name)
        if layout is None:
            raise KeyError(f"{self.protocol} has no layout of {state.value} {name}")
        return layout

    # Login

    def login_disconnect(self, reason_json: str) -> bytes:
        return encode_varint(self.ids.login_disconnect) + encode_string(reason_json, 262144)

    def set_compression(self, threshold: int) -> bytes:
        return encode_varint(self.ids.login_compress) + encode_varint(threshold)

    def login_plugin_request(self, message_id: int, channel: str, data: bytes) -> bytes:
        return (encode_varint(self.ids.login_plugin_request) + encode_varint(message_id)
                + encode_string(channel) + data)

    def login_success(self, player_uuid: _uuid.UUID, name: str,
                      properties: Iterable[ProfileProperty]) -> bytes:
        """The UUID as text before 1.16, properties from 1.19, and the strict-error flag
        (false, as vanilla servers send it) in 1.20.5 - 1.21.1: all from the layout."""
        layout = self._layout(State.LOGIN, "success")
        text_uuid = field_type(layout, "uuid") == "string"
        return encode_varint(self.ids.login_success) + layouts.write(layout, {
            "uuid": str(player_uuid) if text_uuid else player_uuid.bytes,
            "username": name, "strictErrorHandling": False,
            "properties": [{"name": p.name, "value": p.value, "signature": p.signature}
                           for p in properties]})

    # Configuration

    def configuration_custom_payload(self, channel: str, data: bytes) -> bytes:
        return encode_varint(self.ids.config_custom_payload) + encode_string(channel) + data

    def feature_flags(self, flags: Sequence[str]) -> bytes:
        return (encode_varint(self.ids.config_feature_flags) + encode_varint(len(flags))
                + b"".join(encode_string(flag) for flag in flags))

    def select_known_packs(self, packs: Sequence[tuple[str, str, str]]) -> bytes:
        return (encode_varint(self.ids.config_select_known_packs) + encode_varint(len(packs))
                + b"".join(encode_string(namespace) + encode_string(pack) + encode_string(version)
                           for namespace, pack, version in packs))

    def registry_data(self, registry: str, entries: Sequence[tuple[str, bytes | None]]) -> bytes:
        out = [encode_varint(self.ids.config_registry_data), encode_string(registry),
               encode_varint(len(entries))]
        for key, nbt in entries:
            out.append(encode_string(key))
            out.append(encode_bool(nbt is not None))
            if nbt is not None:
                out.append(nbt)
        return b"".join(out)

    def registry_codec(self, codec_nbt: bytes) -> bytes:
        """1.20.2 - 1.20.4: every registry in one nameless NBT compound."""
        return encode_varint(self.ids.config_registry_data) + codec_nbt

    def finish_configuration(self) -> bytes:
        return encode_varint(self.ids.config_finish)

    def configuration_keep_alive(self, keep_alive_id: int) -> bytes:
        return encode_varint(self.ids.config_keep_alive) + encode_long(keep_alive_id)

    def configuration_disconnect(self, reason: bytes | str) -> bytes:
        """NBT from 1.20.3, a JSON string in 1.20.2."""
        if isinstance(reason, str):
            return encode_varint(self.ids.config_disconnect) + encode_string(reason, 262144)
        return encode_varint(self.ids.config_disconnect) + reason

    # Play

    def join_game(self, entity_id: int, *, dimension_index: int, spawn: Spawn,
                  max_players: int, view_distance: int, gamemode: int,
                  hashed_seed: int = 0) -> bytes:
        """The play ``login`` packet: world list, limits, then the SpawnInfo block."""
        body = [
            encode_varint(self.ids.play_login),
            encode_int(entity_id),
            encode_bool(False),                       # hardcore
            encode_varint(1), encode_string(spawn.dimension),
            encode_varint(max_players),
            encode_varint(view_distance),
            encode_varint(view_distance),             # simulation distance
            encode_bool(False),                       # reduced debug info
            encode_bool(True),                        # respawn screen
            encode_bool(False),                       # limited crafting
            encode_varint(dimension_index),
            encode_string(spawn.dimension),
            encode_long(hashed_seed),
            bytes((gamemode,)),
            b"\xff",                                  # previous gamemode: none
            encode_bool(False),                       # debug world
            encode_bool(True),                        # flat world
            encode_bool(False),                       # no death location
            encode_varint(0),                         # portal cooldown
        ]
        if self.protocol >= PROTOCOL_1_21_2:
            body.append(encode_varint(63))            # sea level
        body.append(encode_bool(False))               # enforces secure chat
        return b"".join(body)

    def join_game_from_layout(self, values: dict) -> bytes:
        """Join Game before 1.20.5, written from the version's own layout: the caller
        gives every field any of those versions has, each version takes its own."""
        return encode_varint(self.ids.play_login) + layouts.write(
            self._layout(State.PLAY, "login"), values)

    def game_event(self, reason: int, value: float = 0.0) -> bytes:
        return encode_varint(self.ids.play_game_event) + bytes((reason,)) + encode_float(value)

    def spawn_position(self, spawn: Spawn) -> bytes:
        position = encode_block_position(int(spawn.x // 1), int(spawn.y // 1), int(spawn.z // 1),
                                         self.protocol)
        head = encode_varint(self.ids.play_spawn_position)
        if self.protocol >= PROTOCOL_1_21_9:
            return (head + encode_string(spawn.dimension)
                    + position + encode_float(spawn.yaw) + encode_float(spawn.pitch))
        if self.protocol < PROTOCOL_1_17:
            return head + position
        return head + position + encode_float(spawn.yaw)

    def teleport(self, teleport_id: int, spawn: Spawn) -> bytes:
        """Absolute player position (all relative flags clear); 1.8 has no teleport id,
        1.17 - 1.19.3 end with a dismount flag."""
        coords = encode_double(spawn.x) + encode_double(spawn.y) + encode_double(spawn.z)
        angles = encode_float(spawn.yaw) + encode_float(spawn.pitch)
        head = encode_varint(self.ids.play_position)
        if self.protocol >= PROTOCOL_1_21_2:
            velocity = encode_double(0.0) * 3
            return (head + encode_varint(teleport_id) + coords
                    + velocity + angles + encode_int(0))
        if self.ids.play_teleport_confirm is None:
            return head + coords + angles + b"\x00"
        body = head + coords + angles + b"\x00" + encode_varint(teleport_id)
        if PROTOCOL_1_17 <= self.protocol < PROTOCOL_1_19_4:
            body += encode_bool(False)
        return body

    def update_health(self, health: float = 20.0, food: int = 20,
                      saturation: float = 5.0) -> bytes:
        return (encode_varint(self.ids.play_update_health) + encode_float(health)
                + encode_varint(food) + encode_float(saturation))

    def play_keep_alive(self, keep_alive_id: int) -> bytes:
        """A VarInt id until 1.12.1, a Long from 1.12.2 (the caller keeps it in range)."""
        if self.facts.get("keep_alive_id") == "varint":
            return encode_varint(self.ids.play_keep_alive) + encode_varint(keep_alive_id)
        return encode_varint(self.ids.play_keep_alive) + encode_long(keep_alive_id)

    @property
    def text_is_nbt(self) -> bool:
        """Chat and kick texts are NBT from 1.20.3, JSON strings before."""
        return self.facts.get("text_format") == "nbt"

    def system_chat(self, content: bytes | str, action_bar: bool = False) -> bytes:
        """A server message: ``system_chat`` from 1.19, the ``chat`` packet at the
        system position before; ``content`` is NBT or a JSON string as the version reads."""
        if self.ids.play_system_chat is None:
            return encode_varint(self.ids.play_chat_legacy) + layouts.write(
                self._layout(State.PLAY, "chat"),
                {"message": content, "position": 2 if action_bar else 1,
                 "sender": bytes(16)})
        layout = self._layout(State.PLAY, "system_chat")
        # 1.19 carries a chat type (1 = system, 2 = action bar) where later ones have a flag.
        return encode_varint(self.ids.play_system_chat) + layouts.write(layout, {
            "content": content, "type": 2 if action_bar else 1, "isActionBar": action_bar})

    def play_disconnect(self, reason: bytes | str) -> bytes:
        if isinstance(reason, str):
            return encode_varint(self.ids.play_kick) + encode_string(reason, 262144)
        return encode_varint(self.ids.play_kick) + reason

    def declare_commands(self, tree: bytes) -> bytes:
        return encode_varint(self.ids.play_declare_commands) + tree

    def command_tree(self, names: Sequence[str]) -> bytes | None:
        """``declare_commands`` for these names, or ``None`` before 1.13 (no tree: commands
        are chat lines starting with ``/``)."""
        if not self.facts.get("declare_commands"):
            return None
        return self.declare_commands(encode_command_tree(
            names, parser_by_name=self.protocol < PROTOCOL_1_19))

    # Status

    def status_response(self, status_json: str) -> bytes:
        return encode_varint(self.ids.status_response) + encode_string(status_json)

    def pong(self, payload: bytes) -> bytes:
        return encode_varint(self.ids.status_pong) + payload

