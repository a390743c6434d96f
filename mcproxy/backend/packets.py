"""The packets the reference backend sends, encoded per protocol version.

Packet ids come from the wire package's named ids, the same the proxy uses; the field layouts that changed
between 1.20.5 and 26.1 are switched on the protocol number here, next to each other, so a
reader sees every difference in one place.  Encoders return the packet body including its
id; framing and compression are the connection's business.
"""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass
from typing import Iterable, Sequence

from mcproxy.wire.forwarding import ProfileProperty, encode_properties
from mcproxy.wire.packets import (
    PROTOCOL_1_21_2, PROTOCOL_1_21_9, Direction, PacketIds, PacketTable, State, packet_ids,
)
from mcproxy.wire.types import (
    encode_bool,
    encode_double,
    encode_float,
    encode_int,
    encode_long,
    encode_string,
    encode_uuid,
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


def encode_block_position(x: int, y: int, z: int) -> bytes:
    """The packed 64-bit block position (26 bits x, 26 bits z, 12 bits y)."""
    return encode_long(_signed64(((x & 0x3FFFFFF) << 38) | ((z & 0x3FFFFFF) << 12) | (y & 0xFFF)))


def _signed64(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


class ServerPackets:
    """Encoders for one protocol version; build with :meth:`for_protocol` (cached)."""

    _cache: dict[int, "ServerPackets"] = {}

    def __init__(self, ids: PacketIds, table: PacketTable) -> None:
        self.protocol = ids.protocol
        self.ids = ids
        self.table = table

    @classmethod
    def for_protocol(cls, protocol: int) -> "ServerPackets":
        """Encoders for ``protocol``; ``KeyError`` for a protocol outside tier 1."""
        packets = cls._cache.get(protocol)
        if packets is None:
            table = PacketTable.for_protocol(protocol)
            if table is None:
                raise KeyError(protocol)
            packets = cls._cache[protocol] = cls(packet_ids(protocol), table)
        return packets

    def serverbound_name(self, state: State, packet_id: int) -> str | None:
        """The minecraft-data name of a serverbound packet id in ``state``, if it has one."""
        return self.table.name(state, Direction.SERVERBOUND, packet_id)

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
        body = (encode_varint(self.ids.login_success) + encode_uuid(player_uuid)
                + encode_string(name, 16) + encode_properties(properties))
        if self.ids.login_success_has_strict_flag:
            # strictErrorHandling: false, as vanilla servers send it.
            body += encode_bool(False)
        return body

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

    def finish_configuration(self) -> bytes:
        return encode_varint(self.ids.config_finish)

    def configuration_keep_alive(self, keep_alive_id: int) -> bytes:
        return encode_varint(self.ids.config_keep_alive) + encode_long(keep_alive_id)

    def configuration_disconnect(self, reason_nbt: bytes) -> bytes:
        return encode_varint(self.ids.config_disconnect) + reason_nbt

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

    def game_event(self, reason: int, value: float = 0.0) -> bytes:
        return encode_varint(self.ids.play_game_event) + bytes((reason,)) + encode_float(value)

    def spawn_position(self, spawn: Spawn) -> bytes:
        position = encode_block_position(int(spawn.x // 1), int(spawn.y // 1), int(spawn.z // 1))
        if self.protocol >= PROTOCOL_1_21_9:
            return (encode_varint(self.ids.play_spawn_position) + encode_string(spawn.dimension)
                    + position + encode_float(spawn.yaw) + encode_float(spawn.pitch))
        return encode_varint(self.ids.play_spawn_position) + position + encode_float(spawn.yaw)

    def teleport(self, teleport_id: int, spawn: Spawn) -> bytes:
        """Absolute player position (all relative flags clear)."""
        coords = encode_double(spawn.x) + encode_double(spawn.y) + encode_double(spawn.z)
        angles = encode_float(spawn.yaw) + encode_float(spawn.pitch)
        if self.protocol >= PROTOCOL_1_21_2:
            velocity = encode_double(0.0) * 3
            return (encode_varint(self.ids.play_position) + encode_varint(teleport_id) + coords
                    + velocity + angles + encode_int(0))
        return (encode_varint(self.ids.play_position) + coords + angles + b"\x00"
                + encode_varint(teleport_id))

    def update_health(self, health: float = 20.0, food: int = 20,
                      saturation: float = 5.0) -> bytes:
        return (encode_varint(self.ids.play_update_health) + encode_float(health)
                + encode_varint(food) + encode_float(saturation))

    def play_keep_alive(self, keep_alive_id: int) -> bytes:
        return encode_varint(self.ids.play_keep_alive) + encode_long(keep_alive_id)

    def system_chat(self, content_nbt: bytes, action_bar: bool = False) -> bytes:
        return encode_varint(self.ids.play_system_chat) + content_nbt + encode_bool(action_bar)

    def play_disconnect(self, reason_nbt: bytes) -> bytes:
        return encode_varint(self.ids.play_kick) + reason_nbt

    def declare_commands(self, tree: bytes) -> bytes:
        return encode_varint(self.ids.play_declare_commands) + tree

    # Status

    def status_response(self, status_json: str) -> bytes:
        return encode_varint(self.ids.status_response) + encode_string(status_json)

    def pong(self, payload: bytes) -> bytes:
        return encode_varint(self.ids.status_pong) + payload

