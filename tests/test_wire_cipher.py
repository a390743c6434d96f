"""Tests for mcproxy.wire.cipher: AES-CFB8 streams, RSA login helpers, server hash."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import cipher
from mcproxy.wire.types import WireError

BOUNDED = settings(max_examples=200, deadline=None)
SECRETS = st.binary(min_size=16, max_size=16)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


class StreamCipherTests(SynchronousTestCase):
    @BOUNDED
    @given(SECRETS, st.binary(max_size=500), st.lists(st.integers(0, 500), max_size=6),
           st.lists(st.integers(0, 500), max_size=6))
    def test_round_trip_any_split(self, secret: bytes, plain: bytes, enc_cuts: list[int],
                                  dec_cuts: list[int]) -> None:
        """The stream decrypts whatever the read and write boundaries on either side."""
        enc = cipher.encryptor(secret)
        ciphertext = b"".join(enc.update(part) for part in split(plain, enc_cuts))
        dec = cipher.decryptor(secret)
        self.assertEqual(b"".join(dec.update(part) for part in split(ciphertext, dec_cuts)),
                         plain)
        self.assertEqual(len(ciphertext), len(plain))

    def test_key_is_iv(self) -> None:
        """The stream is AES-128-CFB8 with key = IV = secret (a fixed vector).

        The first CFB8 byte is the plaintext XOR the first byte of AES_k(IV).
        """
        secret = bytes(range(16))
        block = Cipher(algorithms.AES(secret), modes.ECB()).encryptor().update(secret)
        self.assertEqual(cipher.encryptor(secret).update(b"\x00"), block[:1])

    def test_bad_secret(self) -> None:
        """A shared secret that is not 16 bytes is BAD_SHARED_SECRET."""
        e = self.assertRaises(WireError, cipher.encryptor, b"short")
        self.assertEqual(e.reason, "BAD_SHARED_SECRET")


class ServerHashTests(SynchronousTestCase):
    def test_known_digests(self) -> None:
        """The digests match the well-known examples, negative ones included."""
        self.assertEqual(cipher.server_hash("Notch", b"", b""),
                         "4ed1f46bbe04bc756bcb17c0c7ce3e4632f06a48")
        self.assertEqual(cipher.server_hash("jeb_", b"", b""),
                         "-7c9d5b0044c130109a5d7b5fb5c317c02b4e28c1")
        self.assertEqual(cipher.server_hash("simon", b"", b""),
                         "88e16a1019277b15d58faf0541e11910eb756f6")

    def test_parts_are_concatenated(self) -> None:
        """Server id, secret and key are hashed as one string."""
        self.assertEqual(cipher.server_hash("", b"No", b"tch"),
                         cipher.server_hash("Notch", b"", b""))

    def test_server_id_not_latin1(self) -> None:
        """A server id outside ISO-8859-1 is BAD_SERVER_ID."""
        e = self.assertRaises(WireError, cipher.server_hash, "\u20ac", b"", b"")
        self.assertEqual(e.reason, "BAD_SERVER_ID")


class RsaTests(SynchronousTestCase):
    key = cipher.generate_private_key()

    def test_public_key_der(self) -> None:
        """The public key is SubjectPublicKeyInfo DER of a 1024-bit key."""
        der = cipher.public_key_der(self.key)
        self.assertEqual(load_der_public_key(der).key_size, 1024)
        self.assertEqual(cipher.public_key_der(self.key.public_key()), der)

    def test_round_trip(self) -> None:
        """What a client encrypts with the DER key, the server decrypts."""
        secret = bytes(range(16))
        block = cipher.rsa_encrypt(cipher.public_key_der(self.key), secret)
        self.assertEqual(len(block), 128)
        self.assertEqual(cipher.rsa_decrypt(self.key, block), secret)

    def test_wrong_size_block(self) -> None:
        """A block of the wrong size is BAD_RSA_BLOCK."""
        e = self.assertRaises(WireError, cipher.rsa_decrypt, self.key, b"\0" * 10)
        self.assertEqual(e.reason, "BAD_RSA_BLOCK")

    def test_bad_public_key(self) -> None:
        """Bytes that are not a DER public key are BAD_PUBLIC_KEY."""
        e = self.assertRaises(WireError, cipher.rsa_encrypt, b"nope", b"x")
        self.assertEqual(e.reason, "BAD_PUBLIC_KEY")

    @settings(max_examples=50, deadline=None)
    @given(st.binary(min_size=128, max_size=128))
    def test_random_block(self, block: bytes) -> None:
        """A random block decrypts to something or is refused; never another exception."""
        try:
            cipher.rsa_decrypt(self.key, block)
        except WireError as e:
            self.assertEqual(e.reason, "BAD_RSA_BLOCK")
