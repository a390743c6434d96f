"""Join Game packets of any version before 1.20.2, built from the tables' layouts."""

from __future__ import annotations

from mcproxy.wire import layout
from mcproxy.wire.packets import Direction, State
from mcproxy.wire.protocols import protocol_info

#: An empty named compound: the smallest dimension codec or dimension type a layout takes.
EMPTY_NBT = b"\x0a\x00\x00\x00"
_DEFAULTS = {"string": "minecraft:overworld", "bool": False, "nbt": EMPTY_NBT, "position": bytes(8)}


def _default(shape):
    if isinstance(shape, str):
        return _DEFAULTS.get(shape, 0)
    kind, spec = shape
    if kind == "array":
        return ["minecraft:overworld", "minecraft:the_nether"]
    return None


def join_game_fields(protocol: int, **values) -> bytes:
    """A Join Game's fields for ``protocol``: ``values`` by minecraft-data's field names,
    the rest zero, false, empty or the overworld."""
    shape = protocol_info(protocol).layout(State.PLAY, Direction.CLIENTBOUND, "login")
    full = {field["name"]: values.get(field["name"], _default(field["type"])) for field in shape[1]}
    return layout.write(shape, full)
