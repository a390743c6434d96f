"""What a player is sent on entering play, for every version the limbo serves.

The sequence is the same everywhere (Join Game, the commands tree where the version has
one, spawn position, the chunk-wait game event from 1.20.3, a position to confirm, full
health so clients such as mineflayer report the spawn); only Join Game's shape changes
much, and before 1.20.5 it is written from the version's own layout in ``protocols.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mcproxy.backend.packets import (
    GAME_EVENT_START_WAITING_FOR_CHUNKS, ServerPackets, Spawn, field_type,
)
from mcproxy.backend.registries import RegistryStore
from mcproxy.wire.packets import PROTOCOL_1_20_3, TIER1_PROTOCOLS, Direction, State

#: Join Game's difficulty (peaceful) and level type before 1.16.
DIFFICULTY_PEACEFUL = 0
LEVEL_TYPE = "flat"
#: Join Game's dimension id before 1.16 (0 = the overworld).
OVERWORLD_ID = 0
#: The widest ``u8`` max-players field (before 1.16.2).
U8_MAX = 255


@dataclass(frozen=True)
class JoinSettings:
    """The limbo settings Join Game shows."""

    max_players: int
    view_distance: int
    gamemode: int
    spawn: Spawn


def join_game(packets: ServerPackets, registries: RegistryStore, settings: JoinSettings,
              entity_id: int) -> bytes:
    """The play ``login`` packet for ``packets.protocol``."""
    protocol = packets.protocol
    spawn = settings.spawn
    if protocol in TIER1_PROTOCOLS:
        tier1 = registries.for_protocol(protocol)
        return packets.join_game(
            entity_id, dimension_index=tier1.dimension_indices.get(spawn.dimension, 0),
            spawn=spawn, max_players=settings.max_players,
            view_distance=settings.view_distance, gamemode=settings.gamemode)
    layout = packets.info.layout(State.PLAY, Direction.CLIENTBOUND, "login")
    dimension_type = field_type(layout, "dimension")
    world = registries.world(protocol) if field_type(layout, "dimensionCodec") else None
    if dimension_type == "nbt":
        dimension = world.dimension_nbt()
    elif dimension_type == "string":
        dimension = spawn.dimension
    else:
        dimension = OVERWORLD_ID
    narrow = field_type(layout, "maxPlayers") == "u8"
    return packets.join_game_from_layout({
        "entityId": entity_id,
        "isHardcore": False,
        "gameMode": settings.gamemode,
        # "none": -1, written as 255 where the field is unsigned (1.16.x).
        "previousGameMode": -1,
        "worldNames": [spawn.dimension],
        "dimensionCodec": world.codec_nbt(named=True) if world is not None else None,
        "dimension": dimension,
        "worldType": spawn.dimension,
        "worldName": spawn.dimension,
        "difficulty": DIFFICULTY_PEACEFUL,
        "hashedSeed": 0,
        "maxPlayers": min(settings.max_players, U8_MAX) if narrow else settings.max_players,
        "levelType": LEVEL_TYPE,
        "viewDistance": settings.view_distance,
        "simulationDistance": settings.view_distance,
        "reducedDebugInfo": False,
        "enableRespawnScreen": True,
        "doLimitedCrafting": False,
        "isDebug": False,
        "isFlat": True,
        "death": None,
        "portalCooldown": 0,
    })


def play_entry(packets: ServerPackets, registries: RegistryStore, settings: JoinSettings,
               entity_id: int, teleport_id: int, command_names: Sequence[str]) -> list[bytes]:
    """Every packet a player gets on entering play, in order."""
    bodies = [join_game(packets, registries, settings, entity_id)]
    tree = packets.command_tree(command_names)
    if tree is not None:
        bodies.append(tree)
    bodies.append(packets.spawn_position(settings.spawn))
    if packets.protocol >= PROTOCOL_1_20_3:
        bodies.append(packets.game_event(GAME_EVENT_START_WAITING_FOR_CHUNKS))
    bodies.append(packets.teleport(teleport_id, settings.spawn))
    bodies.append(packets.update_health())
    return bodies
