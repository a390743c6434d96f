"""The login packets whose layout changed across versions, read and written per protocol.

Login Start, Encryption Request/Response and Login Success each changed shape several
times between 1.8 and 1.21 (the UUID as text, the 1.19 profile-key fields, the optional
then mandatory UUID, the strict-error flag of 1.20.5 – 1.21.1, the play session id of
26.2).  The shape of each comes from minecraft-data's own layouts in ``protocols.json``
(:class:`LoginLayout.of`); for 26.2 and 26.3, which minecraft-data lacks, from 26.1's with
the changes their entries' facts record.  So both the proxy's front door and its login to a
backend follow the data, not version numbers.  Nothing here imports Twisted.
"""

from __future__ import annotations

import functools
import struct
import uuid as _uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mcproxy.wire.names import USERNAME_MAX_CHARS
from mcproxy.wire.packets import Direction, State
from mcproxy.wire.types import (
    Reader, WireError, encode_bool, encode_bytes, encode_string, encode_uuid,
)

#: Bounds for what a client may send in login.
MAX_ENCRYPTED_BYTES = 256
MAX_KEY_BYTES = 512
MAX_KEY_SIGNATURE_BYTES = 4096
#: Velocity's limit on a 1.19 – 1.19.2 Encryption Response's message signature.
MAX_MESSAGE_SIGNATURE_BYTES = 4096


@dataclass(frozen=True)
class LoginLayout:
    """What one protocol's login packets carry."""

    protocol: int
    #: Login Start: the 1.19 – 1.19.2 optional profile key (timestamp, key, signature).
    start_key: bool
    #: Login Start's UUID: "" (none, before 1.19.1), "optional" (1.19.1 – 1.20.1), "required".
    start_uuid: str
    #: Login Success's UUID as a dashed string (before 1.16) instead of 16 bytes.
    success_uuid_text: bool
    #: Login Success carries the profile's properties (1.19+).
    success_properties: bool
    #: Login Success ends with the strict-error-handling flag (1.20.5 – 1.21.1).
    success_strict_flag: bool
    #: Login Success ends with the play session's id, a UUID (26.2+).
    success_session_id: bool
    #: Encryption Request ends with ``shouldAuthenticate`` (1.20.5+).
    request_should_authenticate: bool
    #: Encryption Response may carry a salt and signature instead of the token (1.19 – 1.19.2).
    response_may_sign: bool

    @classmethod
    def of(cls, protocol: int) -> LoginLayout:
        """The layout of ``protocol``; ``KeyError`` if the tables have no login layouts for it."""
        return _layout(protocol)


@functools.cache
def _layout(protocol: int) -> LoginLayout:
    from mcproxy.wire.protocols import known_protocols, protocol_info
    info = protocol_info(protocol)
    success_fields_fact = info.facts.get("login_success_fields", ()) if info else ()
    if info is not None and info.source == "upstream":
        # Ids and facts only: the login packets are the newest minecraft-data version's,
        # but for the changes the facts record (the session id).
        info = protocol_info(max(p for p in known_protocols() if protocol_info(p).source != "upstream"))
    start = info and info.layout(State.LOGIN, Direction.SERVERBOUND, "login_start")
    success = info and info.layout(State.LOGIN, Direction.CLIENTBOUND, "success")
    request = info and info.layout(State.LOGIN, Direction.CLIENTBOUND, "encryption_begin")
    response = info and info.layout(State.LOGIN, Direction.SERVERBOUND, "encryption_begin")
    if not (start and success and request and response):
        raise KeyError(protocol)
    start_fields = _fields(start)
    success_fields = _fields(success)
    uuid_type = start_fields.get("playerUUID")
    return LoginLayout(
        protocol=protocol,
        start_key="signature" in start_fields,
        start_uuid="" if uuid_type is None else "required" if uuid_type == "UUID" else "optional",
        success_uuid_text=success_fields["uuid"] == "string",
        success_properties="properties" in success_fields,
        success_strict_flag="strictErrorHandling" in success_fields,
        success_session_id="sessionId" in success_fields_fact,
        request_should_authenticate="shouldAuthenticate" in _fields(request),
        response_may_sign="hasVerifyToken" in _fields(response),
    )


def _fields(layout) -> dict:
    """A minecraft-data container's fields: name -> type."""
    return {field["name"]: field["type"] for field in layout[1]}


@dataclass(frozen=True)
class LoginStart:
    """What a client's Login Start says: the name (unchecked), and where its version
    sends them, its UUID and its 1.19 – 1.19.2 profile public key (DER)."""

    name: str
    player_uuid: _uuid.UUID | None = None
    public_key: bytes | None = None


def read_login_start(layout: LoginLayout, reader: Reader) -> LoginStart:
    """Login Start in ``layout``.  The profile key's own signature (by Mojang) is not
    checked: the key only proves a 1.19 – 1.19.2 Encryption Response, and the session
    server vouches for the player either way."""
    name = reader.string(USERNAME_MAX_CHARS)
    public_key = None
    if layout.start_key and reader.bool():
        reader.long()
        public_key = reader.byte_array(MAX_KEY_BYTES)
        reader.byte_array(MAX_KEY_SIGNATURE_BYTES)
    player_uuid = None
    if layout.start_uuid == "required" or (layout.start_uuid == "optional" and reader.bool()):
        player_uuid = reader.uuid()
    reader.expect_end()
    return LoginStart(name, player_uuid, public_key)


def encode_login_start(layout: LoginLayout, name: str, player_uuid: _uuid.UUID) -> bytes:
    """Login Start as the proxy sends it to a backend: no profile key, the UUID where it fits."""
    out = [encode_string(name, USERNAME_MAX_CHARS)]
    if layout.start_key:
        out.append(encode_bool(False))
    if layout.start_uuid == "optional":
        out.append(encode_bool(True))
    if layout.start_uuid:
        out.append(encode_uuid(player_uuid))
    return b"".join(out)


def encode_login_success(layout: LoginLayout, player_uuid: _uuid.UUID, name: str, properties: bytes,
                         session_id: _uuid.UUID | None = None) -> bytes:
    """Login Success; ``properties`` is the encoded property array (dropped before 1.19),
    ``session_id`` the play session's id, which 26.2+ cannot do without."""
    out = [encode_string(str(player_uuid), 36) if layout.success_uuid_text else encode_uuid(player_uuid),
           encode_string(name, USERNAME_MAX_CHARS)]
    if layout.success_properties:
        out.append(properties)
    if layout.success_strict_flag:
        out.append(encode_bool(False))
    if layout.success_session_id:
        if session_id is None:
            raise ValueError(f"protocol {layout.protocol}: Login Success needs a play session id")
        out.append(encode_uuid(session_id))
    return b"".join(out)


def read_login_success(layout: LoginLayout, reader: Reader) -> tuple[_uuid.UUID, str]:
    """The UUID and name a backend's Login Success gives; what follows is not needed."""
    if layout.success_uuid_text:
        text = reader.string(36)
        try:
            player_uuid = _uuid.UUID(text)
        except ValueError:
            raise WireError("BAD_UUID", "Login Success UUID is not a UUID") from None
    else:
        player_uuid = reader.uuid()
    return player_uuid, reader.string(USERNAME_MAX_CHARS)


def encode_encryption_request(layout: LoginLayout, public_der: bytes, verify_token: bytes) -> bytes:
    """Encryption Request with an empty server id, as every vanilla server sends since 1.7."""
    out = encode_string("", 20) + encode_bytes(public_der) + encode_bytes(verify_token)
    if layout.request_should_authenticate:
        out += encode_bool(True)
    return out


@dataclass(frozen=True)
class EncryptionResponse:
    """The encrypted shared secret, and either the encrypted verify token or (1.19 –
    1.19.2, a client with a profile key) a salt and its signature of token and salt."""

    encrypted_secret: bytes
    encrypted_token: bytes | None
    salt: int = 0
    signature: bytes = b""


def read_encryption_response(layout: LoginLayout, reader: Reader) -> EncryptionResponse:
    secret = reader.byte_array(MAX_ENCRYPTED_BYTES)
    if not layout.response_may_sign or reader.bool():
        response = EncryptionResponse(secret, reader.byte_array(MAX_ENCRYPTED_BYTES))
    else:
        salt = reader.long()
        response = EncryptionResponse(secret, None, salt, reader.byte_array(MAX_MESSAGE_SIGNATURE_BYTES))
    reader.expect_end()
    return response


def salt_signature_valid(public_key_der: bytes, verify_token: bytes, salt: int, signature: bytes) -> bool:
    """Whether ``signature`` is the profile key's SHA256withRSA signature of the verify
    token followed by the salt (8 bytes, big-endian), the check a 1.19 – 1.19.2 server makes."""
    try:
        key = serialization.load_der_public_key(public_key_der)
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        key.verify(signature, verify_token + struct.pack(">q", salt), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True

