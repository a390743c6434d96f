"""How a backend learns who the player really is: none, legacy, bungeeguard or modern."""

from __future__ import annotations

import json

from mcproxy.proxy.auth import GameProfile
from mcproxy.wire.forwarding import (
    CHANNEL as MODERN_CHANNEL,
    FORWARDING_DEFAULT,
    FORWARDING_LAZY_SESSION,
    ProfileProperty,
    encode_modern_forwarding,
)

__all__ = ["MODERN_CHANNEL", "bungeeguard_host", "legacy_host", "modern_response", "modern_version"]


def legacy_host(host: str, address: str, profile: GameProfile, extra: tuple[ProfileProperty, ...] = ()) -> str:
    """BungeeCord's IP forwarding: host, address, UUID and properties in the host field."""
    fields = [host, address, profile.id.hex]
    properties = profile.properties + extra
    if properties:
        fields.append(json.dumps([_property_json(p) for p in properties], separators=(",", ":")))
    return "\x00".join(fields)


def bungeeguard_host(host: str, address: str, profile: GameProfile, token: str) -> str:
    """Legacy forwarding plus the ``bungeeguard-token`` property the backend checks."""
    return legacy_host(host, address, profile, (ProfileProperty("bungeeguard-token", token),))


def _property_json(prop: ProfileProperty) -> dict:
    data = {"name": prop.name, "value": prop.value}
    if prop.signature is not None:
        data["signature"] = prop.signature
    return data


def modern_version(requested: int) -> int:
    """The version to answer a backend that asked for ``requested``.

    Versions 2 and 3 add a chat-signing key this proxy does not hold, so they fall back
    to 1; 4 (lazy session) shares version 1's layout.
    """
    if requested >= FORWARDING_LAZY_SESSION:
        return FORWARDING_LAZY_SESSION
    return FORWARDING_DEFAULT


def modern_response(secret: bytes, requested: int, address: str, profile: GameProfile) -> bytes:
    """The signed ``velocity:player_info`` answer: HMAC-SHA256 then the payload."""
    return encode_modern_forwarding(secret, modern_version(requested), address, profile.id, profile.name,
                                    profile.properties)
