"""The proxy's routing cookie: where a player transferred by us should land.

Before the proxy sends a player elsewhere with the Transfer packet it stores a cookie
``mcproxy:route`` in their client: the target server name, the time, and the player's
UUID, signed with HMAC-SHA256 keyed by ``proxy_secret``.  A proxy of the same network
asks for it when the player arrives with handshake intent 3 and routes them to that
server if the cookie verifies.  The client stores cookies verbatim, so the signature is
all that stands between a player and a server of their choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
from typing import Sequence

ROUTE_COOKIE = "mcproxy:route"
#: Seconds a routing cookie stays good: a transfer reconnects within a second or two.
ROUTE_MAX_AGE = 60.0
#: Cookie payloads are at most this many bytes (the protocol's limit).
MAX_COOKIE_BYTES = 5120
_VERSION = 1
_MAC_SIZE = 32
_HEADER = struct.Struct(">B16sQB")


class CookieRejected(Exception):
    """A routing cookie that must not be followed; ``reason`` is the refusal counter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, ROUTE_COOKIE.encode("ascii") + b"\x00" + body, hashlib.sha256).digest()


def encode_route(secret: bytes, player_id: uuid.UUID, server: str, now: float) -> bytes:
    """The signed cookie payload sending ``player_id`` to ``server``."""
    name = server.encode("utf-8")
    if not 0 < len(name) < 256:
        raise ValueError("a server name is 1 to 255 bytes")
    body = _HEADER.pack(_VERSION, player_id.bytes, int(now * 1000), len(name)) + name
    return body + _mac(secret, body)


def decode_route(payload: bytes, secrets: Sequence[bytes], player_id: uuid.UUID, now: float,
                 max_age: float = ROUTE_MAX_AGE) -> str:
    """The server named by a genuine, fresh cookie for ``player_id``; else CookieRejected.

    A cookie that is unreadable, signed by no key in ``secrets`` or made for another
    player is ``FORGED_ROUTING_COOKIE``; a genuine one older than ``max_age`` (or from
    too far in the future) is ``STALE_ROUTING_COOKIE``.
    """
    if len(payload) < _HEADER.size + 1 + _MAC_SIZE or len(payload) > MAX_COOKIE_BYTES:
        raise CookieRejected("FORGED_ROUTING_COOKIE", f"{len(payload)} bytes")
    body, mac = payload[:-_MAC_SIZE], payload[-_MAC_SIZE:]
    if not any(secret and hmac.compare_digest(_mac(secret, body), mac) for secret in secrets):
        raise CookieRejected("FORGED_ROUTING_COOKIE", "bad signature")
    version, player, millis, size = _HEADER.unpack_from(body)
    if version != _VERSION or len(body) != _HEADER.size + size:
        raise CookieRejected("FORGED_ROUTING_COOKIE", "unknown layout")
    if player != player_id.bytes:
        raise CookieRejected("FORGED_ROUTING_COOKIE", "made for another player")
    if abs(now - millis / 1000) > max_age:
        raise CookieRejected("STALE_ROUTING_COOKIE", f"{now - millis / 1000:.0f} s old")
    try:
        return body[_HEADER.size:].decode("utf-8")
    except UnicodeDecodeError:
        raise CookieRejected("FORGED_ROUTING_COOKIE", "server name is not UTF-8") from None
