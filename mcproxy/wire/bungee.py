"""The BungeeCord plugin-message channel's format: requests parsed, answers encoded.

Backend plugins write with Java's ``DataOutput``: strings by ``writeUTF`` (a 2-byte
big-endian length, then modified UTF-8), big-endian ints and shorts. Pure functions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mcproxy.wire.types import WireError

#: The channel's name from 1.13 (protocol 393) on, and before.
CHANNEL = "bungeecord:main"
LEGACY_CHANNEL = "BungeeCord"
CHANNELS = frozenset((CHANNEL, LEGACY_CHANNEL))
FIRST_NAMESPACED_PROTOCOL = 393

#: What follows each sub-channel's name in a request: ``utf`` strings, then perhaps
#: ``data`` (a 2-byte length and that many bytes).
SUBCHANNELS: dict[str, tuple[str, ...]] = {
    "Connect": ("utf",),
    "ConnectOther": ("utf", "utf"),
    "IP": (),
    "IPOther": ("utf",),
    "PlayerCount": ("utf",),
    "PlayerList": ("utf",),
    "GetServers": (),
    "GetServer": (),
    "GetPlayerServer": ("utf",),
    "UUID": (),
    "UUIDOther": ("utf",),
    "ServerIP": ("utf",),
    "Message": ("utf", "utf"),
    "MessageRaw": ("utf", "utf"),
    "KickPlayer": ("utf", "utf"),
    "KickPlayerRaw": ("utf", "utf"),
    "Forward": ("utf", "utf", "data"),
    "ForwardToPlayer": ("utf", "utf", "data"),
}

_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")


def channel_for(protocol: int) -> str:
    """The channel's name as a client of ``protocol`` (and its server) spells it."""
    return CHANNEL if protocol >= FIRST_NAMESPACED_PROTOCOL else LEGACY_CHANNEL


@dataclass(frozen=True)
class Request:
    subchannel: str
    args: tuple[str, ...]
    #: The bytes of ``Forward`` and ``ForwardToPlayer``; empty for the others.
    data: bytes = b""


def encode_utf(text: str) -> bytes:
    """Java's ``writeUTF``; ``WireError`` (``UTF_TOO_LONG``) past 65535 bytes, as Java refuses."""
    if "\x00" not in text and (not text or max(text) < "\U00010000"):
        # Without NUL or characters past the BMP, modified UTF-8 is plain UTF-8.
        raw = text.encode("utf-8", "surrogatepass")
        if len(raw) > 0xFFFF:
            raise WireError("UTF_TOO_LONG", f"{len(raw)} bytes")
        return _U16.pack(len(raw)) + raw
    units = text.encode("utf-16-be", "surrogatepass")
    out = bytearray()
    for i in range(0, len(units), 2):
        unit = (units[i] << 8) | units[i + 1]
        if 0 < unit < 0x80:
            out.append(unit)
        elif unit < 0x800:
            out += bytes((0xC0 | (unit >> 6), 0x80 | (unit & 0x3F)))
        else:
            out += bytes((0xE0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3F), 0x80 | (unit & 0x3F)))
    if len(out) > 0xFFFF:
        raise WireError("UTF_TOO_LONG", f"{len(out)} bytes")
    return _U16.pack(len(out)) + bytes(out)


def encode_int(value: int) -> bytes:
    return _I32.pack(value)


def encode_short(value: int) -> bytes:
    """Java's ``writeShort``: the low 16 bits."""
    return _U16.pack(value & 0xFFFF)


def encode_data(data: bytes) -> bytes:
    """A 2-byte length and the bytes, as ``Forward`` carries them."""
    if len(data) > 0xFFFF:
        raise WireError("DATA_TOO_LONG", f"{len(data)} bytes")
    return _U16.pack(len(data)) + data


def encode_answer(*fields) -> bytes:
    """An answer: strings by ``writeUTF``, ints as 4-byte big-endian."""
    return b"".join(encode_int(f) if isinstance(f, int) else encode_utf(f) for f in fields)


class _Input:
    __slots__ = ("data", "offset")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise WireError("TRUNCATED", f"needed {size} bytes, {len(self.data) - self.offset} left")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def u16(self) -> int:
        return _U16.unpack(self.take(2))[0]

    def utf(self) -> str:
        return decode_modified_utf8(self.take(self.u16()))


def decode_modified_utf8(raw: bytes) -> str:
    """Java's modified UTF-8; ``WireError`` (``BAD_UTF``) for what Java's ``readUTF`` refuses
    and for unpaired surrogates, which no name or message can hold."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Well-formed UTF-8 within the BMP reads the same in Java.
        if not text or max(text) < "\U00010000":
            return text
    units = bytearray()
    i, n = 0, len(raw)
    while i < n:
        a = raw[i]
        if a < 0x80:
            unit, i = a, i + 1
        elif a >> 5 == 0b110 and i + 1 < n and raw[i + 1] >> 6 == 0b10:
            unit, i = ((a & 0x1F) << 6) | (raw[i + 1] & 0x3F), i + 2
        elif a >> 4 == 0b1110 and i + 2 < n and raw[i + 1] >> 6 == 0b10 and raw[i + 2] >> 6 == 0b10:
            unit, i = ((a & 0x0F) << 12) | ((raw[i + 1] & 0x3F) << 6) | (raw[i + 2] & 0x3F), i + 3
        else:
            raise WireError("BAD_UTF", f"byte {a:#04x} at {i}")
        units += _U16.pack(unit)
    try:
        return units.decode("utf-16-be")
    except UnicodeDecodeError:
        raise WireError("BAD_UTF", "unpaired surrogate") from None


def parse_request(payload: bytes) -> Request:
    """A backend's request; ``WireError`` with a stable reason for anything else.

    Bytes after the last field are ignored, as BungeeCord ignores them.
    """
    source = _Input(payload)
    subchannel = source.utf()
    shape = SUBCHANNELS.get(subchannel)
    if shape is None:
        raise WireError("UNKNOWN_SUBCHANNEL", subchannel[:32])
    args = []
    data = b""
    for kind in shape:
        if kind == "utf":
            args.append(source.utf())
        else:
            data = source.take(source.u16())
    return Request(subchannel, tuple(args), data)
