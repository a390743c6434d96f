"""Reading and writing a packet by its minecraft-data layout.

The proxy rewrites a few play packets of old versions (a Join Game turned into the
Respawn that follows it) whose fields moved about over the years; the tables carry
minecraft-data's own definition of each, so one small interpreter reads them all instead
of a hand-written codec per version.  It covers the types those layouts use: fixed-size
numbers, VarInt, strings, booleans, positions, UUIDs, arrays with a VarInt count, options,
nested containers and (named, pre-1.20.2) NBT, which is kept as its raw bytes.
"""

from __future__ import annotations

import struct
from typing import Any

from mcproxy.wire.nbt import skip_named_nbt
from mcproxy.wire.types import Reader, WireError, encode_bool, encode_string, encode_varint

#: Numbers of a fixed size: struct format per minecraft-data type name.
_FIXED = {
    "i8": struct.Struct(">b"), "u8": struct.Struct(">B"), "i16": struct.Struct(">h"),
    "u16": struct.Struct(">H"), "i32": struct.Struct(">i"), "i64": struct.Struct(">q"),
    "f32": struct.Struct(">f"), "f64": struct.Struct(">d"),
}
#: Raw-byte types: kept as the bytes they were read from.
_RAW = {"position": 8, "UUID": 16}
#: The most items an array of a rewritten packet may claim (a world name list).
MAX_ARRAY = 4096
_WRAP = {"i8": 256, "u8": 256, "i16": 65536, "u16": 65536}


def read(layout: Any, reader: Reader) -> Any:
    """One value of ``layout`` from ``reader``; a container reads to a ``dict``."""
    if isinstance(layout, str):
        fixed = _FIXED.get(layout)
        if fixed is not None:
            return fixed.unpack(reader.raw(fixed.size))[0]
        if layout == "varint":
            return reader.varint()
        if layout == "string":
            return reader.string()
        if layout == "bool":
            return reader.bool()
        if layout in _RAW:
            return reader.raw(_RAW[layout])
        if layout in ("nbt", "anonymousNbt"):
            start = reader.offset
            reader.offset = skip_named_nbt(reader.data, start)
            return bytes(reader.data[start:reader.offset])
        raise WireError("UNKNOWN_LAYOUT", f"type {layout}")
    kind, spec = layout
    if kind == "container":
        return {field["name"]: read(field["type"], reader) for field in spec}
    if kind == "option":
        return read(spec, reader) if reader.bool() else None
    if kind == "array" and spec.get("countType") == "varint":
        count = reader.varint()
        if count < 0 or count > MAX_ARRAY:
            raise WireError("ARRAY_TOO_LONG", f"{count} items")
        return [read(spec["type"], reader) for _ in range(count)]
    raise WireError("UNKNOWN_LAYOUT", f"type {kind}")


def write(layout: Any, value: Any) -> bytes:
    """``value`` as ``layout`` writes it; a number is wrapped into a byte or short's range,
    as one layout's ``u8`` is another's ``i8`` for the same field."""
    if isinstance(layout, str):
        fixed = _FIXED.get(layout)
        if fixed is not None:
            wrap = _WRAP.get(layout)
            if wrap is not None:
                value %= wrap
                if layout[0] == "i" and value >= wrap // 2:
                    value -= wrap
            return fixed.pack(value)
        if layout == "varint":
            return encode_varint(value)
        if layout == "string":
            return encode_string(value)
        if layout == "bool":
            return encode_bool(bool(value))
        if layout in _RAW or layout in ("nbt", "anonymousNbt"):
            return bytes(value)
        raise WireError("UNKNOWN_LAYOUT", f"type {layout}")
    kind, spec = layout
    if kind == "container":
        return b"".join(write(field["type"], value[field["name"]]) for field in spec)
    if kind == "option":
        return encode_bool(False) if value is None else encode_bool(True) + write(spec, value)
    if kind == "array" and spec.get("countType") == "varint":
        return encode_varint(len(value)) + b"".join(write(spec["type"], item) for item in value)
    raise WireError("UNKNOWN_LAYOUT", f"type {kind}")
