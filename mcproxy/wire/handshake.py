"""The first packet of every modern connection: protocol version, address, intent."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mcproxy.wire.types import Reader, WireError

#: Hostnames are at most 255 characters; Forge appends markers after a NUL.
HOST_MAX_CHARS = 255
#: What a handshake's address field may carry on the wire, markers included.
HOST_FIELD_MAX_CHARS = 1024
#: What Forge clients append to the host: FML (1.7 - 1.12), FML2 (1.13 - 1.17), FML3 (1.18 on).
FML_MARKERS = ("\x00FML\x00", "\x00FML2\x00", "\x00FML3\x00")


class Intent(enum.IntEnum):
    STATUS = 1
    LOGIN = 2
    TRANSFER = 3


@dataclass(frozen=True, slots=True)
class Handshake:
    protocol: int
    host: str
    port: int
    intent: Intent
    #: A Forge client's marker from the host field, kept for the backend ("" for others).
    fml_marker: str = ""
    #: The host field as sent: a legacy-forwarding proxy puts the player's identity (and a
    #: BungeeGuard token) in it, so it never shows in a repr.
    raw_host: str = field(default="", compare=False, repr=False)


def normalize_host(raw: str) -> str:
    """The virtual host a player asked for, as forced-host rules compare it.

    Drops anything after a NUL (Forge's ``\\0FML\\0`` markers), a trailing dot, the case,
    and refuses what cannot be a host name.
    """
    host = raw.split("\x00", 1)[0].strip().rstrip(".").lower()
    if len(host) > HOST_MAX_CHARS:
        raise WireError("HOST_TOO_LONG", f"{len(host)} characters")
    return host


def fml_marker(raw: str) -> str:
    """The Forge marker ending ``raw``, or "".

    Only the exact markers pass: anything else after a NUL could be a client posing as
    a proxy's legacy forwarding to a backend that trusts the host field.
    """
    _, nul, rest = raw.partition("\x00")
    marker = nul + rest
    return marker if marker in FML_MARKERS else ""


def parse_handshake(body: bytes, host_field_max_chars: int = HOST_FIELD_MAX_CHARS) -> Handshake:
    """Parse a handshake packet body (packet id 0x00 included).

    A backend expecting legacy forwarding passes a larger ``host_field_max_chars``: the
    forwarded properties make the field longer than any client's.
    """
    reader = Reader(body)
    packet_id = reader.varint()
    if packet_id != 0x00:
        raise WireError("NOT_A_HANDSHAKE", f"packet id {packet_id:#x}")
    protocol = reader.varint()
    raw_host = reader.string(host_field_max_chars)
    host = normalize_host(raw_host)
    port = reader.ushort()
    intent_value = reader.varint()
    reader.expect_end()
    try:
        intent = Intent(intent_value)
    except ValueError:
        raise WireError("BAD_INTENT", f"next state {intent_value}") from None
    return Handshake(protocol, host, port, intent, fml_marker(raw_host), raw_host)
