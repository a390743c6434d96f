"""GameSpy4 query (UDP) as Minecraft speaks it: requests parsed, answers encoded.

Every request starts with the magic ``FE FD``, a type byte and a 32-bit session id; a
stat request adds the challenge token and, for the full stat, four bytes of padding.
Answers start with the type and the session id echoed back. Strings are
NUL-terminated ISO-8859-1 (the protocol predates Unicode in Minecraft).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Sequence

from mcproxy.wire.types import WireError

MAGIC = b"\xfe\xfd"
TYPE_HANDSHAKE = 0x09
TYPE_STAT = 0x00
#: Handshake request: magic, type, session id.
HANDSHAKE_SIZE = 7
#: Basic stat: handshake fields and the token; the full stat adds four padding bytes.
BASIC_STAT_SIZE = 11
FULL_STAT_SIZE = 15
#: A whole answer must fit one datagram; names past this are left out.
MAX_ANSWER = 8192

_FULL_HEADER = b"splitnum\x00\x80\x00"
_PLAYERS_HEADER = b"\x01player_\x00\x00"


class RequestKind(enum.Enum):
    HANDSHAKE = "handshake"
    BASIC = "basic"
    FULL = "full"


@dataclass(frozen=True)
class QueryRequest:
    kind: RequestKind
    session_id: int
    #: The challenge token the client echoes; None for a handshake.
    token: int | None = None


@dataclass(frozen=True)
class QueryInfo:
    """What a stat answer reports about the server."""

    motd: str
    version: str
    plugins: str
    map: str
    online: int
    max_players: int
    host_ip: str
    host_port: int
    names: Sequence[str] = ()


def parse_request(data: bytes) -> QueryRequest:
    """The request in ``data``, or WireError("BAD_QUERY") for anything else."""
    size = len(data)
    if size < HANDSHAKE_SIZE or data[:2] != MAGIC:
        raise WireError("BAD_QUERY", "not a query packet")
    kind, session_id = data[2], struct.unpack(">i", data[3:7])[0]
    if kind == TYPE_HANDSHAKE and size == HANDSHAKE_SIZE:
        return QueryRequest(RequestKind.HANDSHAKE, session_id)
    if kind == TYPE_STAT and size in (BASIC_STAT_SIZE, FULL_STAT_SIZE):
        token = struct.unpack(">i", data[7:11])[0]
        if size == FULL_STAT_SIZE and data[11:] != b"\x00\x00\x00\x00":
            raise WireError("BAD_QUERY", "full stat padding is not zero")
        return QueryRequest(RequestKind.BASIC if size == BASIC_STAT_SIZE else RequestKind.FULL,
                            session_id, token)
    raise WireError("BAD_QUERY", f"unknown query type {kind} of {size} bytes")


def _head(kind: int, session_id: int) -> bytes:
    return bytes([kind]) + struct.pack(">i", session_id)


def _text(value: str) -> bytes:
    """NUL-terminated; a NUL inside would end the field early, so it is dropped."""
    return value.replace("\x00", "").encode("iso-8859-1", "replace") + b"\x00"


def with_session(answer: bytes, session_id: int) -> bytes:
    """``answer`` addressed to another session: an encoded answer can be reused."""
    return answer[:1] + struct.pack(">i", session_id) + answer[5:]


def encode_handshake(session_id: int, token: int) -> bytes:
    """The challenge answer: the token as decimal text, a few bytes in all."""
    return _head(TYPE_HANDSHAKE, session_id) + _text(str(token))


def encode_basic(session_id: int, info: QueryInfo) -> bytes:
    return (_head(TYPE_STAT, session_id) + _text(info.motd) + _text("SMP") + _text(info.map)
            + _text(str(info.online)) + _text(str(info.max_players))
            + struct.pack("<H", info.host_port) + _text(info.host_ip))


def encode_full(session_id: int, info: QueryInfo) -> bytes:
    """Key/value pairs then player names; names that would overflow ``MAX_ANSWER`` are left out."""
    pairs = (
        ("hostname", info.motd), ("gametype", "SMP"), ("game_id", "MINECRAFT"),
        ("version", info.version), ("plugins", info.plugins), ("map", info.map),
        ("numplayers", str(info.online)), ("maxplayers", str(info.max_players)),
        ("hostport", str(info.host_port)), ("hostip", info.host_ip),
    )
    out = bytearray(_head(TYPE_STAT, session_id) + _FULL_HEADER)
    for key, value in pairs:
        out += _text(key) + _text(value)
    out += b"\x00" + _PLAYERS_HEADER
    for name in info.names:
        encoded = _text(name)
        if len(out) + len(encoded) + 1 > MAX_ANSWER:
            break
        out += encoded
    out += b"\x00"
    return bytes(out)
