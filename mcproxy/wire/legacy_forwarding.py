"""BungeeCord's IP forwarding, read on the backend: the identity in the handshake host field.

A BungeeCord-style proxy writes ``host \\0 address \\0 uuid-hex \\0 properties-json`` as the
handshake's server address; BungeeGuard adds a ``bungeeguard-token`` property carrying a
shared secret, so a player who reaches the backend directly cannot claim any identity.
These are the only forwarding modes a 1.8 - 1.12 client can be given (login plugin
messages, which modern forwarding rides on, arrived in 1.13).  Nothing here imports Twisted.
"""

from __future__ import annotations

import hmac
import json
import uuid as _uuid
from typing import Sequence

from mcproxy.wire.forwarding import (
    MAX_ADDRESS_CHARS,
    MAX_PROPERTIES,
    MAX_PROPERTY_NAME_CHARS,
    MAX_PROPERTY_SIGNATURE_CHARS,
    MAX_PROPERTY_VALUE_CHARS,
    ForwardedPlayer,
    ForwardingRefusal,
    ProfileProperty,
    Refused,
)
from mcproxy.wire.handshake import FML_MARKERS

#: The profile property BungeeGuard's token travels in.
BUNGEEGUARD_PROPERTY = "bungeeguard-token"
#: ``ForwardedPlayer.version`` of an identity read from the host field (no version byte).
LEGACY_FORWARDING = 0
#: The longest host field a backend reads when it expects legacy forwarding: a signed
#: ``textures`` property alone is over 1 KiB, so the client-facing limit would cut it.
FORWARDED_HOST_MAX_CHARS = 32767


def _properties(raw: str) -> tuple[ProfileProperty, ...]:
    try:
        items = json.loads(raw)
    except ValueError:
        raise ValueError("properties are not JSON") from None
    if not isinstance(items, list) or len(items) > MAX_PROPERTIES:
        raise ValueError("properties must be a list of at most 64")
    properties = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a property is not an object")
        name, value, signature = item.get("name"), item.get("value"), item.get("signature")
        if not isinstance(name, str) or not isinstance(value, str) \
                or not (signature is None or isinstance(signature, str)):
            raise ValueError("a property needs string name and value")
        if len(name) > MAX_PROPERTY_NAME_CHARS or len(value) > MAX_PROPERTY_VALUE_CHARS \
                or len(signature or "") > MAX_PROPERTY_SIGNATURE_CHARS:
            raise ValueError("a property is too long")
        properties.append(ProfileProperty(name, value, signature))
    return tuple(properties)


def verify_legacy_forwarding(
    host_field: str,
    name: str,
    secrets: Sequence[tuple[str, bytes]] = (),
    bungeeguard: bool = False,
) -> ForwardedPlayer | Refused:
    """Who a legacy-forwarding proxy says the player logging in as ``name`` is.

    With ``bungeeguard`` the host field must carry a ``bungeeguard-token`` property equal
    to one of ``secrets`` (compared in constant time); the token is not kept among the
    player's properties.
    """
    for marker in FML_MARKERS:
        if host_field.endswith(marker):
            # A Forge client's marker is not part of the forwarded identity.
            host_field = host_field[:-len(marker)]
            break
    fields = host_field.split("\x00")
    if len(fields) not in (3, 4):
        return Refused(ForwardingRefusal.NOT_VIA_PROXY, "no forwarded identity in the host field")
    _, address, raw_uuid = fields[:3]
    try:
        if len(raw_uuid) != 32:
            raise ValueError("uuid is not 32 hex digits")
        player_uuid = _uuid.UUID(hex=raw_uuid)
        if not address or len(address) > MAX_ADDRESS_CHARS:
            raise ValueError("bad address")
        properties = _properties(fields[3]) if len(fields) == 4 else ()
    except ValueError as error:
        return Refused(ForwardingRefusal.MALFORMED_FORWARDING, str(error))
    tokens = [p.value for p in properties if p.name == BUNGEEGUARD_PROPERTY]
    properties = tuple(p for p in properties if p.name != BUNGEEGUARD_PROPERTY)
    label = "legacy"
    if bungeeguard:
        label = _which_token(tokens, secrets)
        if label is None:
            return Refused(ForwardingRefusal.BAD_FORWARDING_SIGNATURE,
                           "missing or unknown bungeeguard-token")
    return ForwardedPlayer(player_uuid, name, address, properties, LEGACY_FORWARDING, label)


def _which_token(tokens: Sequence[str], secrets: Sequence[tuple[str, bytes]]) -> str | None:
    """Label of the secret the single token equals; every secret is compared."""
    if len(tokens) != 1:
        return None
    token = tokens[0].encode("utf-8", "replace")
    matched = None
    for label, secret in secrets:
        if secret and hmac.compare_digest(token, secret) and matched is None:
            matched = label
    return matched
