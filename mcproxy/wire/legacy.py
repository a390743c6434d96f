"""The pre-1.7 ("legacy") server list ping and its kick-packet reply.

Old clients open with byte ``0xFE`` instead of a VarInt frame length:

* beta 1.8 – 1.3 send ``FE`` alone and expect ``motd§online§max``;
* 1.4 – 1.5 send ``FE 01`` and expect ``§1\\0protocol\\0version\\0motd\\0online\\0max``;
* 1.6 send ``FE 01 FA`` and an ``MC|PingHost`` plugin message naming protocol, host and
  port, and expect the 1.4 reply.

The reply is a Kick packet: ``FF``, an unsigned short length in UTF-16 units, and the
string in UTF-16BE.  Vanilla tells these forms apart by what the first read holds, since
old clients write their ping at once; :func:`sniff_legacy_ping` is that decision, and both
the proxy and the reference backend make it through that one function.
:func:`parse_legacy_ping` is the incremental parser underneath, for callers (status
checkers, tests) that want a ping read in full.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Iterable

from mcproxy.wire.packets import SERVED_PROTOCOLS, unsupported_version_name
from mcproxy.wire.types import Bytes, Incomplete, WireError

LEGACY_PING_BYTE = 0xFE
KICK_BYTE = 0xFF
_PING_HOST_CHANNEL = "MC|PingHost"
_USHORT = struct.Struct(">H")
_INT = struct.Struct(">i")

#: Old clients read the kick string with this ceiling (UTF-16 units).
KICK_MAX_CHARS = 256
#: Modern vanilla servers answer legacy pings with this protocol, which no legacy client
#: speaks, so the client shows the version name as incompatible.
UNJOINABLE_PROTOCOL = 127


class LegacyPingKind(enum.Enum):
    """Which client generation sent the ping, hence which reply it understands."""

    BETA = "beta"
    V1_4 = "1.4"
    V1_6 = "1.6"


@dataclass(frozen=True)
class LegacyPing:
    """A complete legacy ping; ``size`` is how many bytes of input it took."""

    kind: LegacyPingKind
    size: int
    protocol: int | None = None
    host: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class LegacyStatus:
    """What a legacy reply says; ``protocol`` and ``version`` are absent from the beta form."""

    motd: str
    online: int
    max_players: int
    protocol: int | None = None
    version: str | None = None


def legacy_status(motd: str, online: int, max_players: int,
                  protocols: Iterable[int] = SERVED_PROTOCOLS) -> LegacyStatus:
    """What the proxy and the reference backend tell a pre-1.7 client: it can join nothing
    served here, so protocol 127 (which no legacy client speaks) and the versions that can
    (``protocols``: the proxy's by default, the backend passes its own)."""
    return LegacyStatus(motd, online, max_players, protocol=UNJOINABLE_PROTOCOL,
                        version=unsupported_version_name(protocols))


def parse_legacy_ping(data: Bytes, final: bool = False) -> LegacyPing | None:
    """Recognise a legacy ping at the start of a connection.

    Returns ``None`` when the bytes are not a legacy ping (a modern frame follows),
    raises :class:`Incomplete` when more bytes could still decide, and ``WireError``
    (``BAD_LEGACY_PING``) for a 1.6 ping that is malformed.  Pass ``final=True`` when no
    more bytes are coming for now: ``FE`` alone then is a beta ping and ``FE 01`` a 1.4
    ping, as vanilla decides.
    """
    if not data:
        raise Incomplete()
    if data[0] != LEGACY_PING_BYTE:
        return None
    if len(data) == 1:
        if final:
            return LegacyPing(LegacyPingKind.BETA, 1)
        raise Incomplete()
    if data[1] != 0x01:
        # FE xx with xx != 01 is a modern frame of length 126 + 128 * xx.
        return None
    if len(data) == 2:
        if final:
            return LegacyPing(LegacyPingKind.V1_4, 2)
        raise Incomplete()
    if data[2] != 0xFA:
        # FE 01 then anything but a plugin message: a modern 254-byte frame.
        return None
    return _parse_ping_host(data)


def sniff_legacy_ping(first_read: Bytes) -> LegacyPing | None:
    """Decide from a connection's first read whether it is a pre-1.7 ping.

    ``None`` means a modern frame: hand the bytes on to the frame decoder.  As vanilla,
    Velocity and BungeeCord do, the first read alone decides and nothing is buffered:
    ``FE`` alone is a beta ping, ``FE 01`` alone a 1.4 ping, and ``FE 01 FA`` a 1.6 ping
    however much of its ``MC|PingHost`` tail came along (mcstatus sends none).  No frame
    starts ``FE 01 FA`` (a handshake's packet id is 0), and the reply does not depend on
    the tail, so a missing or cut tail is not waited for; a tail that is there and wrong
    is refused (``BAD_LEGACY_PING``).
    """
    if not first_read:
        return None
    try:
        return parse_legacy_ping(first_read, final=True)
    except Incomplete:
        # With final=True only a 1.6 ping's tail can be incomplete.
        return LegacyPing(LegacyPingKind.V1_6, len(first_read))


def _need(data: Bytes, end: int) -> None:
    if len(data) < end:
        raise Incomplete()


def _parse_ping_host(data: Bytes) -> LegacyPing:
    offset = 3
    _need(data, offset + 2)
    (channel_units,) = _USHORT.unpack_from(data, offset)
    offset += 2
    if channel_units != len(_PING_HOST_CHANNEL):
        raise WireError("BAD_LEGACY_PING", f"channel name of {channel_units} characters")
    _need(data, offset + 2 * channel_units)
    channel = _utf16(data, offset, channel_units)
    offset += 2 * channel_units
    if channel != _PING_HOST_CHANNEL:
        raise WireError("BAD_LEGACY_PING", "plugin message is not MC|PingHost")
    _need(data, offset + 2)
    (payload_size,) = _USHORT.unpack_from(data, offset)
    offset += 2
    if payload_size < 7:
        raise WireError("BAD_LEGACY_PING", f"payload of {payload_size} bytes")
    end = offset + payload_size
    _need(data, end)
    protocol = data[offset]
    (host_units,) = _USHORT.unpack_from(data, offset + 1)
    if payload_size != 7 + 2 * host_units:
        raise WireError("BAD_LEGACY_PING", "host length does not match payload length")
    host = _utf16(data, offset + 3, host_units)
    (port,) = _INT.unpack_from(data, end - 4)
    return LegacyPing(LegacyPingKind.V1_6, end, protocol, host, port)


def _utf16(data: Bytes, offset: int, units: int) -> str:
    try:
        return bytes(data[offset:offset + 2 * units]).decode("utf-16-be")
    except UnicodeDecodeError:
        raise WireError("BAD_UTF16", "string is not UTF-16") from None


def encode_legacy_ping(kind: LegacyPingKind, protocol: int = 74, host: str = "",
                       port: int = 25565) -> bytes:
    """Encode a legacy ping as an old client sends it (for tests and status checkers)."""
    if kind is LegacyPingKind.BETA:
        return b"\xfe"
    if kind is LegacyPingKind.V1_4:
        return b"\xfe\x01"
    channel = _PING_HOST_CHANNEL.encode("utf-16-be")
    host_raw = host.encode("utf-16-be")
    payload = bytes([protocol]) + _USHORT.pack(len(host_raw) // 2) + host_raw + _INT.pack(port)
    return (b"\xfe\x01\xfa" + _USHORT.pack(len(channel) // 2) + channel
            + _USHORT.pack(len(payload)) + payload)


def _kick(text: str) -> bytes:
    raw = text.encode("utf-16-be", "surrogatepass")
    return bytes([KICK_BYTE]) + _USHORT.pack(len(raw) // 2) + raw


def _fit_motd(motd: str, fixed_units: int) -> str:
    """Cut the MOTD so the whole reply stays within what old clients read."""
    room = KICK_MAX_CHARS - fixed_units
    encoded = motd.encode("utf-16-be", "surrogatepass")
    if len(encoded) // 2 <= room:
        return motd
    cut = max(room, 0) * 2
    if cut and 0xD8 <= encoded[cut - 2] <= 0xDB:
        cut -= 2  # do not split a surrogate pair
    return encoded[:cut].decode("utf-16-be", "surrogatepass")


def encode_legacy_reply(ping: LegacyPing | LegacyPingKind, status: LegacyStatus) -> bytes:
    """Encode the Kick packet that answers ``ping`` with ``status``.

    The MOTD is shortened if the reply would exceed :data:`KICK_MAX_CHARS`; for the beta
    form section signs are removed from it, since ``§`` separates the fields there.
    """
    kind = ping.kind if isinstance(ping, LegacyPing) else ping
    online, max_players = str(status.online), str(status.max_players)
    if kind is LegacyPingKind.BETA:
        motd = status.motd.replace("§", "")
        motd = _fit_motd(motd, len(online) + len(max_players) + 2)
        return _kick(f"{motd}§{online}§{max_players}")
    protocol = str(status.protocol if status.protocol is not None else UNJOINABLE_PROTOCOL)
    version = status.version or ""
    fixed = f"§1\0{protocol}\0{version}\0\0{online}\0{max_players}"
    motd = _fit_motd(status.motd.replace("\0", ""), len(fixed))
    return _kick(f"§1\0{protocol}\0{version}\0{motd}\0{online}\0{max_players}")


def decode_legacy_reply(data: Bytes) -> LegacyStatus:
    """Decode a legacy Kick reply of either form (what a status checker does)."""
    if len(data) < 3:
        raise Incomplete()
    if data[0] != KICK_BYTE:
        raise WireError("BAD_LEGACY_REPLY", "not a kick packet")
    (units,) = _USHORT.unpack_from(data, 1)
    if len(data) < 3 + 2 * units:
        raise Incomplete()
    if len(data) > 3 + 2 * units:
        raise WireError("TRAILING_BYTES", "bytes after the kick packet")
    text = _utf16(data, 3, units)
    try:
        if text.startswith("§1\0"):
            fields = text.split("\0")
            if len(fields) != 6:
                raise WireError("BAD_LEGACY_REPLY", f"{len(fields)} fields, not 6")
            _, protocol, version, motd, online, max_players = fields
            return LegacyStatus(motd, int(online), int(max_players), int(protocol), version)
        motd, online, max_players = text.rsplit("§", 2)
        return LegacyStatus(motd, int(online), int(max_players))
    except ValueError:
        raise WireError("BAD_LEGACY_REPLY", "fields are not numbers") from None
