"""Write a packet from minecraft-data's own layout of it and a dict of field values.

Join Game alone has a dozen shapes between 1.8 and 1.20.4 (an ``i8`` dimension, then an
``i32``, then a dimension codec, then world names); writing the fields in the order and
types the version's layout gives keeps every shape in the data, not in code.  Only the
types our layouts use are known; an unknown one is a bug in the caller, so it fails loudly.
NBT fields take bytes already encoded (named ``nbt`` or nameless ``anonymousNbt``).
"""

from __future__ import annotations

import struct
import uuid as _uuid
from typing import Any, Callable, Mapping

from mcproxy.wire.types import encode_bool, encode_string, encode_uuid, encode_varint

_FIXED: dict[str, struct.Struct] = {
    "i8": struct.Struct(">b"), "u8": struct.Struct(">B"),
    "i16": struct.Struct(">h"), "u16": struct.Struct(">H"),
    "i32": struct.Struct(">i"), "i64": struct.Struct(">q"),
    "f32": struct.Struct(">f"), "f64": struct.Struct(">d"),
}


def _string(value: Any) -> bytes:
    # Login Success carried the UUID as text before 1.16: the same value, written as text.
    return encode_string(str(value))


_SIMPLE: dict[str, Callable[[Any], bytes]] = {
    "varint": encode_varint,
    "bool": encode_bool,
    "string": _string,
    "UUID": lambda value: encode_uuid(value if isinstance(value, _uuid.UUID)
                                      else _uuid.UUID(str(value))),
    "nbt": bytes,
    "anonymousNbt": bytes,
}


def encode_layout(layout: Any, values: Any) -> bytes:
    """The bytes of ``values`` laid out as ``layout`` (a minecraft-data type).

    A container takes a mapping with a value for every field name; an option takes
    ``None`` for absent; an array a sequence.  A missing field raises ``KeyError``.
    """
    out = bytearray()
    _encode(layout, values, out)
    return bytes(out)


def _encode(layout: Any, value: Any, out: bytearray) -> None:
    if isinstance(layout, str):
        fixed = _FIXED.get(layout)
        if fixed is not None:
            out += fixed.pack(value)
            return
        simple = _SIMPLE.get(layout)
        if simple is None:
            raise ValueError(f"layout type {layout!r} is not supported")
        out += simple(value)
        return
    kind, argument = layout
    if kind == "container":
        _container(argument, value, out)
    elif kind == "option":
        out += encode_bool(value is not None)
        if value is not None:
            _encode(argument, value, out)
    elif kind == "array" and argument.get("countType") == "varint":
        out += encode_varint(len(value))
        for item in value:
            _encode(argument["type"], item, out)
    elif kind == "mapper":
        _encode(argument["type"], value, out)
    else:
        raise ValueError(f"layout type {kind!r} is not supported")


def _container(fields: list, values: Mapping[str, Any], out: bytearray) -> None:
    for field in fields:
        _encode(field["type"], values[field["name"]], out)


def field_names(layout: Any) -> tuple[str, ...]:
    """The top-level field names of a container layout, in wire order."""
    kind, fields = layout
    if kind != "container":
        raise ValueError(f"not a container: {kind!r}")
    return tuple(field["name"] for field in fields)


def field_type(layout: Any, name: str) -> Any:
    """The type of field ``name`` in a container layout, or ``None`` if it has none."""
    for field in layout[1]:
        if field["name"] == name:
            return field["type"]
    return None
