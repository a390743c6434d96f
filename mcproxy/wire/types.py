"""Primitive Minecraft protocol types: VarInt, VarLong, strings, UUIDs, fixed-width numbers.

Decoding works on ``bytes``, ``bytearray`` or ``memoryview`` at an offset and never reads
past the end: running out of input raises :class:`Incomplete` (wait for more bytes), and
input that can never be valid raises :class:`WireError` with a reason name.  Nothing here
imports Twisted, so the codecs can be fuzzed and benchmarked on their own.
"""

from __future__ import annotations

import struct
import uuid as _uuid
from typing import Union

Bytes = Union[bytes, bytearray, memoryview]

#: Longest encoding of a 32-bit VarInt and a 64-bit VarLong.
VARINT_MAX_BYTES = 5
VARLONG_MAX_BYTES = 10

#: The protocol's own ceiling for a string's length in UTF-16 code units.
STRING_MAX_CHARS = 32767


class WireError(ValueError):
    """Input that can never become valid; ``reason`` is a stable name for counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Incomplete(Exception):
    """The input ends before the value does; more bytes may complete it."""


_USHORT = struct.Struct(">H")
_SHORT = struct.Struct(">h")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_ULONG = struct.Struct(">Q")
_FLOAT = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")


def _build_small_varints(count: int) -> tuple[bytes, ...]:
    table = []
    for value in range(count):
        out = bytearray()
        while True:
            if value < 0x80:
                out.append(value)
                break
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        table.append(bytes(out))
    return tuple(table)


# Frame lengths and packet ids are almost always small: encode them by lookup.
_SMALL_VARINTS = _build_small_varints(1 << 14)


def encode_varint(value: int) -> bytes:
    """Encode a signed 32-bit integer as a VarInt."""
    if 0 <= value < 16384:
        return _SMALL_VARINTS[value]
    if not -0x80000000 <= value <= 0x7FFFFFFF:
        raise WireError("VARINT_RANGE", f"{value} does not fit in 32 bits")
    value &= 0xFFFFFFFF
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varlong(value: int) -> bytes:
    """Encode a signed 64-bit integer as a VarLong."""
    if not -0x8000000000000000 <= value <= 0x7FFFFFFFFFFFFFFF:
        raise WireError("VARLONG_RANGE", f"{value} does not fit in 64 bits")
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_size(value: int) -> int:
    """Bytes needed to encode ``value`` as a VarInt."""
    value &= 0xFFFFFFFF
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def decode_varint(data: Bytes, offset: int = 0) -> tuple[int, int]:
    """Decode a VarInt at ``offset``; return ``(value, offset after it)``."""
    end = len(data)
    if offset < end:
        byte = data[offset]
        if byte < 0x80:
            return byte, offset + 1
    result = 0
    shift = 0
    position = offset
    while True:
        if position >= end:
            raise Incomplete()
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift >= 7 * VARINT_MAX_BYTES:
            raise WireError("VARINT_TOO_LONG", "more than 5 bytes")
    if result & 0x80000000:
        result -= 1 << 32
    if not -0x80000000 <= result <= 0x7FFFFFFF:
        raise WireError("VARINT_TOO_LONG", "value exceeds 32 bits")
    return result, position


def decode_varlong(data: Bytes, offset: int = 0) -> tuple[int, int]:
    """Decode a VarLong at ``offset``; return ``(value, offset after it)``."""
    result = 0
    shift = 0
    position = offset
    end = len(data)
    while True:
        if position >= end:
            raise Incomplete()
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift >= 7 * VARLONG_MAX_BYTES:
            raise WireError("VARLONG_TOO_LONG", "more than 10 bytes")
    if result >= 1 << 64:
        raise WireError("VARLONG_TOO_LONG", "value exceeds 64 bits")
    if result & (1 << 63):
        result -= 1 << 64
    return result, position


def encode_string(text: str, max_chars: int = STRING_MAX_CHARS) -> bytes:
    """Encode a string as a VarInt byte length and UTF-8 bytes."""
    if len(text) > max_chars or _utf16_units(text) > max_chars:
        raise WireError("STRING_TOO_LONG", f"more than {max_chars} characters")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError("BAD_UTF8", "string holds a lone surrogate") from None
    return encode_varint(len(raw)) + raw


def encode_bytes(raw: Bytes) -> bytes:
    """Encode a VarInt-length-prefixed byte array."""
    return encode_varint(len(raw)) + bytes(raw)


def encode_uuid(value: _uuid.UUID) -> bytes:
    return value.bytes


def encode_bool(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def encode_ushort(value: int) -> bytes:
    return _USHORT.pack(value)


def encode_int(value: int) -> bytes:
    return _INT.pack(value)


def encode_long(value: int) -> bytes:
    return _LONG.pack(value)


def encode_double(value: float) -> bytes:
    return _DOUBLE.pack(value)


def encode_float(value: float) -> bytes:
    return _FLOAT.pack(value)


class Reader:
    """Sequential reader over one complete packet body.

    A packet body is whole by the time it is read, so running out of bytes here is a
    malformed packet (``TRUNCATED``), not a reason to wait.
    """

    __slots__ = ("data", "offset")

    def __init__(self, data: Bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def remaining(self) -> int:
        return len(self.data) - self.offset

    def _take(self, size: int) -> Bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise WireError("TRUNCATED", f"needed {size} bytes, {self.remaining()} left")
        start = self.offset
        self.offset = start + size
        return self.data[start:self.offset]

    def varint(self) -> int:
        try:
            value, self.offset = decode_varint(self.data, self.offset)
        except Incomplete:
            raise WireError("TRUNCATED", "VarInt cut short") from None
        return value

    def varlong(self) -> int:
        try:
            value, self.offset = decode_varlong(self.data, self.offset)
        except Incomplete:
            raise WireError("TRUNCATED", "VarLong cut short") from None
        return value

    def string(self, max_chars: int = STRING_MAX_CHARS) -> str:
        """Read a string no longer than ``max_chars`` UTF-16 code units."""
        size = self.varint()
        if size < 0 or size > max_chars * 3:
            raise WireError("STRING_TOO_LONG", f"{size} bytes for at most {max_chars} characters")
        raw = self._take(size)
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("BAD_UTF8", "string is not UTF-8") from None
        # UTF-16 units never outnumber UTF-8 bytes, so only long encodings need counting.
        if size > max_chars and _utf16_units(text) > max_chars:
            raise WireError("STRING_TOO_LONG", f"more than {max_chars} characters")
        return text

    def byte_array(self, max_size: int) -> bytes:
        """Read a VarInt-length-prefixed byte array of at most ``max_size`` bytes."""
        size = self.varint()
        if size < 0 or size > max_size:
            raise WireError("ARRAY_TOO_LONG", f"{size} > {max_size} bytes")
        return bytes(self._take(size))

    def raw(self, size: int) -> bytes:
        return bytes(self._take(size))

    def rest(self) -> bytes:
        return bytes(self._take(self.remaining()))

    def bool(self) -> bool:
        value = self._take(1)[0]
        if value > 1:
            raise WireError("BAD_BOOLEAN", f"byte {value}")
        return value == 1

    def ubyte(self) -> int:
        return self._take(1)[0]

    def byte(self) -> int:
        value = self._take(1)[0]
        return value - 256 if value > 127 else value

    def ushort(self) -> int:
        return _USHORT.unpack(self._take(2))[0]

    def short(self) -> int:
        return _SHORT.unpack(self._take(2))[0]

    def int(self) -> int:
        return _INT.unpack(self._take(4))[0]

    def long(self) -> int:
        return _LONG.unpack(self._take(8))[0]

    def ulong(self) -> int:
        return _ULONG.unpack(self._take(8))[0]

    def float(self) -> float:
        return _FLOAT.unpack(self._take(4))[0]

    def double(self) -> float:
        return _DOUBLE.unpack(self._take(8))[0]

    def uuid(self) -> _uuid.UUID:
        return _uuid.UUID(bytes=bytes(self._take(16)))

    def expect_end(self) -> None:
        """Refuse trailing bytes: a packet longer than its fields is malformed."""
        if self.offset != len(self.data):
            raise WireError("TRAILING_BYTES", f"{self.remaining()} unread bytes")


def _utf16_units(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
