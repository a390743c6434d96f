"""Velocity-compatible modern forwarding: the signed player identity a proxy hands a backend.

The backend asks with a Login Plugin Request on :data:`CHANNEL` whose data is one byte, the
highest forwarding version it understands.  The proxy answers with
``HMAC-SHA256(secret, payload) || payload`` where ``payload`` is::

    VarInt version, String address, UUID, String name,
    VarInt property count, (String name, String value, Bool signed, [String signature])*
    version 2: Long key expiry, Bytes public key, Bytes key signature
    version 3: as version 2, then Bool has-holder, [UUID holder]
    version 4 ("lazy session"): the version-1 layout

The format is Velocity's (``velocity:player_info``), so a Velocity proxy can front our backend
and a Paper backend can sit behind our proxy.  Nothing here imports Twisted.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import uuid as _uuid
from dataclasses import dataclass
from typing import Iterable, Sequence

from mcproxy.wire.names import USERNAME_MAX_CHARS
from mcproxy.wire.types import (
    WireError,
    Reader,
    encode_bool,
    encode_bytes,
    encode_long,
    encode_string,
    encode_uuid,
    encode_varint,
)

#: How a backend learns who the player is: nothing, BungeeCord's host field, the same with
#: a BungeeGuard token, or this module's signed modern forwarding.
FORWARDING_MODES = ("none", "legacy", "bungeeguard", "modern")
#: What a backend that enforces forwarding may read ("none" is ``enforce_proxy = false``).
BACKEND_FORWARDING_MODES = ("modern", "legacy", "bungeeguard")

#: The login plugin channel Velocity and Paper use for modern forwarding.
CHANNEL = "velocity:player_info"

FORWARDING_DEFAULT = 1
FORWARDING_WITH_KEY = 2
FORWARDING_WITH_KEY_V2 = 3
FORWARDING_LAZY_SESSION = 4
#: The highest version this module reads; what the backend asks for.
MAX_FORWARDING_VERSION = FORWARDING_LAZY_SESSION

SIGNATURE_SIZE = 32
#: Bounds taken from the vanilla/Velocity limits so a hostile payload cannot make us allocate.
MAX_ADDRESS_CHARS = 32767
MAX_NAME_CHARS = USERNAME_MAX_CHARS
MAX_PROPERTIES = 64
MAX_PROPERTY_NAME_CHARS = 64
MAX_PROPERTY_VALUE_CHARS = 32767
MAX_PROPERTY_SIGNATURE_CHARS = 1024
MAX_PUBLIC_KEY_BYTES = 512
MAX_KEY_SIGNATURE_BYTES = 4096


class ForwardingRefusal(str, enum.Enum):
    """Why a login was refused; the value is the name counted in metrics and logs."""

    NOT_VIA_PROXY = "NOT_VIA_PROXY"
    BAD_FORWARDING_SIGNATURE = "BAD_FORWARDING_SIGNATURE"
    MALFORMED_FORWARDING = "MALFORMED_FORWARDING"
    UNSUPPORTED_FORWARDING_VERSION = "UNSUPPORTED_FORWARDING_VERSION"
    UNAUTHENTICATED_PLAYER = "UNAUTHENTICATED_PLAYER"


@dataclass(frozen=True)
class ProfileProperty:
    """One game-profile property (``textures`` carries the skin, signed by Mojang)."""

    name: str
    value: str
    signature: str | None = None


@dataclass(frozen=True)
class PlayerKey:
    """The chat-signing key versions 2 and 3 carry; kept so hosts can inspect it."""

    expires_at_ms: int
    public_key: bytes
    key_signature: bytes
    holder: _uuid.UUID | None = None


@dataclass(frozen=True)
class ForwardedPlayer:
    """A player identity the proxy vouched for."""

    uuid: _uuid.UUID
    name: str
    address: str
    properties: tuple[ProfileProperty, ...]
    version: int
    #: Label of the secret that verified the signature ("current" or "previous").
    secret_label: str
    player_key: PlayerKey | None = None


@dataclass(frozen=True)
class Refused:
    """A refused forwarding answer; ``reason`` is stable, ``detail`` is for logs only."""

    reason: ForwardingRefusal
    detail: str = ""



#: A profile property the proxy adds for a smoke bot an operator armed; trusted only inside
#: signed forwarding, where it tells the backend to keep the bot out of what players see.
PROBE_PROPERTY = "mcproxy:probe"


def without_probe(properties: Iterable[ProfileProperty]) -> tuple[tuple[ProfileProperty, ...], bool]:
    """``properties`` minus the probe mark, and whether it was there."""
    items = tuple(properties)
    kept = tuple(p for p in items if p.name != PROBE_PROPERTY)
    return kept, len(kept) != len(items)

def request_data(max_version: int = MAX_FORWARDING_VERSION) -> bytes:
    """The Login Plugin Request data: the highest version we accept, as one byte."""
    return bytes((max_version,))


def offline_uuid(name: str) -> _uuid.UUID:
    """The UUID offline-mode servers give ``name``: MD5 of ``OfflinePlayer:<name>``, version 3."""
    digest = bytearray(hashlib.md5(("OfflinePlayer:" + name).encode("utf-8")).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return _uuid.UUID(bytes=bytes(digest))


def is_authenticated_identity(player_uuid: _uuid.UUID, name: str) -> bool:
    """Whether this identity can only have come from an authenticating proxy.

    Mojang accounts have random (version-4) UUIDs; a proxy in offline mode hands out the
    name-based version-3 UUID from :func:`offline_uuid`.  We refuse both that UUID and any
    non-version-4 UUID.  A signed ``textures`` property is not required: checking its
    signature would need Mojang's key to prove anything, and private or test session servers
    legitimately omit it.
    """
    return player_uuid.version == 4 and player_uuid != offline_uuid(name)


def encode_properties(properties: Iterable[ProfileProperty]) -> bytes:
    """A game profile's property array, as Login Success and modern forwarding carry it."""
    items = list(properties)
    out = [encode_varint(len(items))]
    for prop in items:
        out.append(encode_string(prop.name))
        out.append(encode_string(prop.value))
        out.append(encode_bool(prop.signature is not None))
        if prop.signature is not None:
            out.append(encode_string(prop.signature))
    return b"".join(out)


def encode_modern_forwarding(
    secret: bytes,
    version: int,
    address: str,
    player_uuid: _uuid.UUID,
    name: str,
    properties: Iterable[ProfileProperty] = (),
    player_key: PlayerKey | None = None,
) -> bytes:
    """Build the signed Login Plugin Response data the proxy sends for ``version``."""
    if version not in (FORWARDING_DEFAULT, FORWARDING_WITH_KEY, FORWARDING_WITH_KEY_V2,
                       FORWARDING_LAZY_SESSION):
        raise ValueError(f"unknown modern forwarding version {version}")
    parts = [
        encode_varint(version),
        encode_string(address),
        encode_uuid(player_uuid),
        encode_string(name, MAX_NAME_CHARS),
        encode_properties(properties),
    ]
    if version in (FORWARDING_WITH_KEY, FORWARDING_WITH_KEY_V2):
        if player_key is None:
            raise ValueError(f"forwarding version {version} needs a player key")
        parts.append(encode_long(player_key.expires_at_ms))
        parts.append(encode_bytes(player_key.public_key))
        parts.append(encode_bytes(player_key.key_signature))
        if version == FORWARDING_WITH_KEY_V2:
            parts.append(encode_bool(player_key.holder is not None))
            if player_key.holder is not None:
                parts.append(encode_uuid(player_key.holder))
    payload = b"".join(parts)
    return hmac.new(secret, payload, hashlib.sha256).digest() + payload


def _which_secret(signature: bytes, payload: bytes,
                  secrets: Sequence[tuple[str, bytes]]) -> str | None:
    """Label of the secret whose HMAC matches, comparing in constant time.

    Every configured secret is tried even after a match so the time taken does not say
    which one verified.
    """
    matched = None
    for label, secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret, payload, hashlib.sha256).digest()
        if hmac.compare_digest(expected, signature) and matched is None:
            matched = label
    return matched


def _read_player_key(reader: Reader, version: int) -> PlayerKey:
    expires = reader.long()
    public_key = reader.byte_array(MAX_PUBLIC_KEY_BYTES)
    key_signature = reader.byte_array(MAX_KEY_SIGNATURE_BYTES)
    holder = None
    if version == FORWARDING_WITH_KEY_V2 and reader.bool():
        holder = reader.uuid()
    return PlayerKey(expires, public_key, key_signature, holder)


def _read_properties(reader: Reader) -> tuple[ProfileProperty, ...]:
    count = reader.varint()
    if count < 0 or count > MAX_PROPERTIES:
        raise WireError("TOO_MANY_PROPERTIES", f"{count} properties")
    props = []
    for _ in range(count):
        name = reader.string(MAX_PROPERTY_NAME_CHARS)
        value = reader.string(MAX_PROPERTY_VALUE_CHARS)
        signature = reader.string(MAX_PROPERTY_SIGNATURE_CHARS) if reader.bool() else None
        props.append(ProfileProperty(name, value, signature))
    return tuple(props)


def verify_modern_forwarding(
    data: bytes | None,
    secrets: Sequence[tuple[str, bytes]],
    requested_version: int = MAX_FORWARDING_VERSION,
    require_authenticated: bool = False,
) -> ForwardedPlayer | Refused:
    """Check a Login Plugin Response's data and return who the proxy says the player is.

    ``data`` is ``None`` when the client answered "not understood" — what a vanilla client
    does, so the login did not come through a forwarding proxy.  ``secrets`` are
    ``(label, secret)`` pairs, the current secret first, then ``proxy_secret_previous``
    during a rotation.
    """
    if data is None:
        return Refused(ForwardingRefusal.NOT_VIA_PROXY, "plugin request not understood")
    if len(data) <= SIGNATURE_SIZE:
        return Refused(ForwardingRefusal.MALFORMED_FORWARDING, f"{len(data)} bytes")
    signature = bytes(data[:SIGNATURE_SIZE])
    payload = bytes(data[SIGNATURE_SIZE:])
    label = _which_secret(signature, payload, secrets)
    if label is None:
        return Refused(ForwardingRefusal.BAD_FORWARDING_SIGNATURE, "no configured secret matches")
    reader = Reader(payload)
    try:
        version = reader.varint()
        if version < FORWARDING_DEFAULT or version > min(requested_version,
                                                         MAX_FORWARDING_VERSION):
            return Refused(ForwardingRefusal.UNSUPPORTED_FORWARDING_VERSION,
                           f"version {version}, asked for at most {requested_version}")
        address = reader.string(MAX_ADDRESS_CHARS)
        player_uuid = reader.uuid()
        name = reader.string(MAX_NAME_CHARS)
        properties = _read_properties(reader)
        player_key = None
        if version in (FORWARDING_WITH_KEY, FORWARDING_WITH_KEY_V2):
            player_key = _read_player_key(reader, version)
        reader.expect_end()
    except WireError as error:
        return Refused(ForwardingRefusal.MALFORMED_FORWARDING, error.reason)
    if not name:
        return Refused(ForwardingRefusal.MALFORMED_FORWARDING, "empty name")
    if require_authenticated and not is_authenticated_identity(player_uuid, name):
        return Refused(ForwardingRefusal.UNAUTHENTICATED_PLAYER,
                       f"uuid {player_uuid} is not a Mojang account id")
    return ForwardedPlayer(player_uuid, name, address, properties, version, label, player_key)
