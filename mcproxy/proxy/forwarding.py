"""How a backend learns who the player really is: none, legacy, bungeeguard or modern."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from mcproxy.proxy.auth import GameProfile, Property
from mcproxy.wire.types import encode_bool, encode_string, encode_uuid, encode_varint

MODES = ("none", "legacy", "bungeeguard", "modern")
MODERN_CHANNEL = "velocity:player_info"
#: Highest modern-forwarding version we write; 2 and 3 carry chat-signing keys we don't relay.
MODERN_MAX_VERSION = 4
MODERN_DEFAULT_VERSION = 1


def legacy_host(host: str, address: str, profile: GameProfile, extra: tuple[Property, ...] = ()) -> str:
    """BungeeCord's IP forwarding: host, address, UUID and properties in the host field."""
    fields = [host, address, profile.id.hex]
    properties = profile.properties + extra
    if properties:
        fields.append(json.dumps([_property_json(p) for p in properties], separators=(",", ":")))
    return "\x00".join(fields)


def bungeeguard_host(host: str, address: str, profile: GameProfile, token: str) -> str:
    """Legacy forwarding plus the ``bungeeguard-token`` property the backend checks."""
    return legacy_host(host, address, profile, (Property("bungeeguard-token", token),))


def _property_json(prop: Property) -> dict:
    data = {"name": prop.name, "value": prop.value}
    if prop.signature is not None:
        data["signature"] = prop.signature
    return data


def modern_version(requested: int) -> int:
    """The version to answer a backend that asked for ``requested``.

    Versions 2 and 3 add a chat-signing key this proxy does not hold, so they fall back
    to 1; 4 (lazy session) shares version 1's layout.
    """
    if requested >= 4:
        return MODERN_MAX_VERSION
    return MODERN_DEFAULT_VERSION


def modern_payload(version: int, address: str, player_id: uuid.UUID, name: str,
                   properties: tuple[Property, ...]) -> bytes:
    out = [encode_varint(version), encode_string(address), encode_uuid(player_id),
           encode_string(name, 16), encode_varint(len(properties))]
    for prop in properties:
        out.append(encode_string(prop.name))
        out.append(encode_string(prop.value))
        out.append(encode_bool(prop.signature is not None))
        if prop.signature is not None:
            out.append(encode_string(prop.signature))
    return b"".join(out)


def modern_response(secret: bytes, requested: int, address: str, profile: GameProfile) -> bytes:
    """The signed ``velocity:player_info`` answer: HMAC-SHA256 then the payload."""
    payload = modern_payload(modern_version(requested), address, profile.id, profile.name, profile.properties)
    return hmac.new(secret, payload, hashlib.sha256).digest() + payload
