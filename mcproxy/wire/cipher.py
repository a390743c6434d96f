"""Login cryptography: the AES-128-CFB8 stream cipher, RSA key exchange and server hash.

Minecraft encrypts both directions with AES in CFB8 mode, using the 16-byte shared
secret as key and as IV, and never resets the stream.  The objects returned here are
``cryptography``'s own cipher contexts: their ``update`` runs in C, with no Python layer
in between, because the relay calls it for every read.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:
    from cryptography.hazmat.decrepit.ciphers.modes import CFB8
except ImportError:  # cryptography before 47 keeps CFB8 with the other modes
    from cryptography.hazmat.primitives.ciphers.modes import CFB8

from mcproxy.wire.types import Bytes, WireError

#: Length of the shared secret (AES-128 key and IV).
SHARED_SECRET_SIZE = 16

#: Vanilla's login key size.
RSA_KEY_BITS = 1024


class StreamCipher(Protocol):
    """One direction of the connection's cipher stream."""

    def update(self, data: bytes, /) -> bytes:
        ...


def _cipher(secret: Bytes) -> Cipher:
    if len(secret) != SHARED_SECRET_SIZE:
        raise WireError("BAD_SHARED_SECRET", f"{len(secret)} bytes, not {SHARED_SECRET_SIZE}")
    secret = bytes(secret)
    return Cipher(algorithms.AES(secret), CFB8(secret))


def encryptor(secret: Bytes) -> StreamCipher:
    """Return the encrypting stream for ``secret``."""
    return _cipher(secret).encryptor()


def decryptor(secret: Bytes) -> StreamCipher:
    """Return the decrypting stream for ``secret``."""
    return _cipher(secret).decryptor()


def server_hash(server_id: str, shared_secret: Bytes, public_key_der: Bytes) -> str:
    """The ``serverId`` the session server is asked about: SHA-1 of the server id, the
    shared secret and the public key, printed as Java's ``BigInteger.toString(16)`` does
    (signed two's complement, no leading zeros, ``-`` for negative digests).
    """
    try:
        prefix = server_id.encode("latin-1")
    except UnicodeEncodeError:
        raise WireError("BAD_SERVER_ID", "server id is not ISO-8859-1") from None
    digest = hashlib.sha1(prefix + bytes(shared_secret) + bytes(public_key_der)).digest()
    value = int.from_bytes(digest, "big", signed=True)
    return format(value, "x") if value >= 0 else "-" + format(-value, "x")


def generate_private_key(bits: int = RSA_KEY_BITS) -> rsa.RSAPrivateKey:
    """Generate the login keypair (vanilla makes one 1024-bit key per server start)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_key_der(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The public key as X.509 SubjectPublicKeyInfo DER, as sent in Encryption Request."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rsa_decrypt(key: rsa.RSAPrivateKey, ciphertext: Bytes) -> bytes:
    """Decrypt a PKCS#1 v1.5 block from Encryption Response (secret or verify token)."""
    if len(ciphertext) != key.key_size // 8:
        raise WireError("BAD_RSA_BLOCK", f"{len(ciphertext)} bytes for a {key.key_size}-bit key")
    try:
        return key.decrypt(bytes(ciphertext), padding.PKCS1v15())
    except ValueError:
        raise WireError("BAD_RSA_BLOCK", "decryption failed") from None


def rsa_encrypt(public_der: Bytes, plaintext: Bytes) -> bytes:
    """Encrypt with a DER public key, as a client does (used by tests and clients)."""
    try:
        public = serialization.load_der_public_key(bytes(public_der))
    except ValueError:
        raise WireError("BAD_PUBLIC_KEY", "not a DER public key") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise WireError("BAD_PUBLIC_KEY", "not an RSA key")
    try:
        return public.encrypt(bytes(plaintext), padding.PKCS1v15())
    except ValueError:
        raise WireError("BAD_RSA_BLOCK", "plaintext too long for the key") from None
