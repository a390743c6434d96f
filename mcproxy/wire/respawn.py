"""The packets that move a client without a configuration state (1.8 – 1.20.1) into the
world of another server: the new server's Join Game, then a Respawn into another
dimension and one back into the real one.

The client adopts the new Join Game as is (its entity id included: nothing is rewritten
afterwards, as in Velocity), and the Respawn pair into a different dimension makes even
clients that keep the world over a Join Game (1.8 – 1.15 and modded ones) drop every
chunk and entity.  Before 1.16 the dimension is a number (0 overworld, -1 nether); from
1.16 it is a world name the client keys its level by, with the dimension type (from the
Join Game's codec) unchanged.  Both packets are built from the Join Game by
minecraft-data's layouts, so the fields follow each version.
"""

from __future__ import annotations

from mcproxy.wire import layout
from mcproxy.wire.packets import Direction, State
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import Reader, WireError

#: Respawn fields named differently in Join Game.
_JOIN_NAMES = {"gamemode": "gameMode", "previousGamemode": "previousGameMode"}
#: The world names used for the flip when the Join Game offers no other one.
_OVERWORLD = "minecraft:overworld"
_NETHER = "minecraft:the_nether"


def _layouts(protocol: int):
    info = protocol_info(protocol)
    if info is None:
        raise KeyError(protocol)
    join = info.layout(State.PLAY, Direction.CLIENTBOUND, "login")
    respawn = info.layout(State.PLAY, Direction.CLIENTBOUND, "respawn")
    if join is None or respawn is None:
        raise KeyError(protocol)
    return join, respawn


def read_join_game(protocol: int, fields: bytes) -> dict:
    """The fields of a Join Game of ``protocol``; WireError for a malformed one."""
    reader = Reader(fields)
    values = layout.read(_layouts(protocol)[0], reader)
    reader.expect_end()
    return values


def _respawn_values(respawn_layout, join: dict) -> dict:
    values = {}
    for field in respawn_layout[1]:
        name = field["name"]
        source = _JOIN_NAMES.get(name, name)
        if source in join:
            values[name] = join[source]
        elif name == "dimension" and "worldType" in join:
            # 1.19 named the Join Game's dimension type worldType.
            values[name] = join["worldType"]
        elif name == "copyMetadata":
            values[name] = False
        else:
            raise WireError("UNKNOWN_LAYOUT", f"Respawn field {name} has no Join Game source")
    return values


def _elsewhere(join: dict, values: dict) -> dict:
    """``values`` moved to another dimension than the Join Game's."""
    other = dict(values)
    if "worldName" in values:
        here = values["worldName"]
        names = [name for name in join.get("worldNames", ()) if name != here]
        other["worldName"] = names[0] if names else (_NETHER if here == _OVERWORLD else _OVERWORLD)
    else:
        other["dimension"] = -1 if values["dimension"] == 0 else 0
    return other


def respawn_pair(protocol: int, join: dict) -> tuple[bytes, bytes]:
    """The fields of the two Respawn packets that follow ``join`` (read by
    :func:`read_join_game`): into another dimension, then into the Join Game's own."""
    respawn_layout = _layouts(protocol)[1]
    values = _respawn_values(respawn_layout, join)
    return layout.write(respawn_layout, _elsewhere(join, values)), layout.write(respawn_layout, values)
