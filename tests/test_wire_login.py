"""The login packets of every served version, byte for byte, from the tables' layouts."""

from __future__ import annotations

import uuid
from dataclasses import replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.cipher import generate_private_key, public_key_der
from mcproxy.wire.login import (
    LoginLayout, encode_encryption_request, encode_login_start, encode_login_success, read_encryption_response,
    read_login_start, read_login_success, salt_signature_valid,
)
from mcproxy.wire.packets import SERVED_PROTOCOLS
from mcproxy.wire.text import encode_text, read_text
from mcproxy.wire.types import (
    Reader, WireError, encode_bool, encode_bytes, encode_long, encode_string, encode_uuid,
)

PLAYER = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
NAME = encode_string("Steve")
PROPERTIES = b"\x00"


class LayoutTests(SynchronousTestCase):
    def test_every_served_version_has_a_login_layout(self) -> None:
        """The proxy can read and write the login of every protocol it lets in."""
        for protocol in SERVED_PROTOCOLS:
            self.assertEqual(LoginLayout.of(protocol).protocol, protocol)

    def test_layout_generations(self) -> None:
        """What changed when, as minecraft-data's layouts say: the text UUID until 1.15.2,
        1.19's profile key, 1.19.1's optional UUID, 1.20.2's mandatory one, 1.20.5's
        shouldAuthenticate and strict flag (dropped again in 1.21.2)."""
        expected = {
            # start_key, start_uuid, uuid as text, properties, strict flag, shouldAuthenticate, may sign
            47: (False, "", True, False, False, False, False),
            340: (False, "", True, False, False, False, False),
            578: (False, "", True, False, False, False, False),
            735: (False, "", False, False, False, False, False),
            758: (False, "", False, False, False, False, False),
            759: (True, "", False, True, False, False, True),
            760: (True, "optional", False, True, False, False, True),
            761: (False, "optional", False, True, False, False, False),
            763: (False, "optional", False, True, False, False, False),
            764: (False, "required", False, True, False, False, False),
            765: (False, "required", False, True, False, False, False),
            766: (False, "required", False, True, True, True, False),
            767: (False, "required", False, True, True, True, False),
            768: (False, "required", False, True, False, True, False),
            775: (False, "required", False, True, False, True, False),
        }
        for protocol, facts in expected.items():
            layout = LoginLayout.of(protocol)
            self.assertEqual((layout.start_key, layout.start_uuid, layout.success_uuid_text,
                              layout.success_properties, layout.success_strict_flag,
                              layout.request_should_authenticate, layout.response_may_sign), facts, protocol)

    def test_unknown_protocol(self) -> None:
        """A protocol the tables do not know (1.7, newer than 26.3) is a KeyError, not a guess."""
        for protocol in (5, 778):
            self.assertRaises(KeyError, LoginLayout.of, protocol)

    def test_upstream_protocols(self) -> None:
        """26.2 and 26.3, ids-only entries, log in as 26.1 does, but for the session id
        their facts add to Login Success."""
        newest = LoginLayout.of(775)
        for protocol in (776, 777):
            layout = LoginLayout.of(protocol)
            self.assertTrue(layout.success_session_id)
            self.assertEqual(replace(layout, protocol=775, success_session_id=False), newest)
        self.assertFalse(newest.success_session_id)


class LoginStartTests(SynchronousTestCase):
    def test_bytes_per_generation(self) -> None:
        """What the proxy writes to a backend: the name alone before 1.19, no profile key in
        1.19 – 1.19.2, the UUID behind a presence flag in 1.19.1 – 1.20.1, bare from 1.20.2."""
        expected = {
            47: NAME,
            758: NAME,
            759: NAME + encode_bool(False),
            760: NAME + encode_bool(False) + encode_bool(True) + encode_uuid(PLAYER),
            761: NAME + encode_bool(True) + encode_uuid(PLAYER),
            763: NAME + encode_bool(True) + encode_uuid(PLAYER),
            764: NAME + encode_uuid(PLAYER),
            775: NAME + encode_uuid(PLAYER),
        }
        for protocol, data in expected.items():
            layout = LoginLayout.of(protocol)
            self.assertEqual(encode_login_start(layout, "Steve", PLAYER), data, protocol)
            start = read_login_start(layout, Reader(data))
            self.assertEqual((start.name, start.player_uuid), ("Steve", None if protocol < 760 else PLAYER))

    def test_client_variants_read(self) -> None:
        """A 1.19 client's profile key is read (and kept for its Encryption Response); a 1.19.1
        or 1.19.3 client may leave its UUID out."""
        key = encode_bool(True) + encode_long(1700000000000) + encode_bytes(b"K" * 294) + encode_bytes(b"S" * 512)
        start = read_login_start(LoginLayout.of(759), Reader(NAME + key))
        self.assertEqual((start.name, start.public_key), ("Steve", b"K" * 294))
        start = read_login_start(LoginLayout.of(760), Reader(NAME + key + encode_bool(False)))
        self.assertEqual((start.public_key, start.player_uuid), (b"K" * 294, None))
        start = read_login_start(LoginLayout.of(761), Reader(NAME + encode_bool(False)))
        self.assertEqual((start.name, start.player_uuid), ("Steve", None))

    def test_malformed_is_a_wire_error(self) -> None:
        """A Login Start cut short or too long for its version is refused with a reason."""
        cases = [(47, NAME + b"\x00"), (764, NAME), (760, NAME + encode_bool(False) + encode_bool(True)),
                 (759, NAME + encode_bool(True) + encode_long(1) + encode_bytes(b"K" * 600))]
        for protocol, data in cases:
            with self.assertRaises(WireError):
                read_login_start(LoginLayout.of(protocol), Reader(data))


class LoginSuccessTests(SynchronousTestCase):
    def test_bytes_per_generation(self) -> None:
        """The UUID as dashed text before 1.16, 16 bytes after; properties from 1.19; the
        strict flag in 1.20.5 – 1.21.1 only."""
        text_uuid = encode_string("069a79f4-44e9-4726-a5be-fca90e38aaf5")
        expected = {
            47: text_uuid + NAME,
            340: text_uuid + NAME,
            578: text_uuid + NAME,
            735: encode_uuid(PLAYER) + NAME,
            758: encode_uuid(PLAYER) + NAME,
            759: encode_uuid(PLAYER) + NAME + PROPERTIES,
            765: encode_uuid(PLAYER) + NAME + PROPERTIES,
            766: encode_uuid(PLAYER) + NAME + PROPERTIES + encode_bool(False),
            768: encode_uuid(PLAYER) + NAME + PROPERTIES,
        }
        for protocol, data in expected.items():
            layout = LoginLayout.of(protocol)
            self.assertEqual(encode_login_success(layout, PLAYER, "Steve", PROPERTIES), data, protocol)
            self.assertEqual(read_login_success(layout, Reader(data)), (PLAYER, "Steve"), protocol)

    def test_text_uuid_must_be_a_uuid(self) -> None:
        """A pre-1.16 backend's Login Success with a UUID that is not one is a wire error."""
        with self.assertRaises(WireError) as caught:
            read_login_success(LoginLayout.of(47), Reader(encode_string("not-a-uuid") + NAME))
        self.assertEqual(caught.exception.reason, "BAD_UUID")


class EncryptionTests(SynchronousTestCase):
    def test_request_should_authenticate_only_from_1_20_5(self) -> None:
        """Encryption Request: server id, key, token; ``shouldAuthenticate`` from 1.20.5."""
        base = encode_string("") + encode_bytes(b"DER") + encode_bytes(b"tokn")
        for protocol in (47, 340, 759, 765):
            self.assertEqual(encode_encryption_request(LoginLayout.of(protocol), b"DER", b"tokn"), base, protocol)
        for protocol in (766, 775):
            self.assertEqual(encode_encryption_request(LoginLayout.of(protocol), b"DER", b"tokn"),
                             base + encode_bool(True), protocol)

    def test_response_token_or_signed_salt(self) -> None:
        """1.19 – 1.19.2 flag the token; without it, a salt and signature follow."""
        layout = LoginLayout.of(760)
        response = read_encryption_response(layout, Reader(
            encode_bytes(b"s" * 128) + encode_bool(True) + encode_bytes(b"t" * 128)))
        self.assertEqual((response.encrypted_secret, response.encrypted_token), (b"s" * 128, b"t" * 128))
        response = read_encryption_response(layout, Reader(
            encode_bytes(b"s" * 128) + encode_bool(False) + encode_long(-5) + encode_bytes(b"g" * 256)))
        self.assertEqual((response.encrypted_token, response.salt, response.signature), (None, -5, b"g" * 256))
        response = read_encryption_response(LoginLayout.of(47), Reader(encode_bytes(b"s") + encode_bytes(b"t")))
        self.assertEqual(response.encrypted_token, b"t")

    def test_salt_signature(self) -> None:
        """The signature a 1.19 client makes with its profile key over token and salt
        verifies; another token, salt or key does not, and garbage is just invalid."""
        key = generate_private_key(1024)
        salt = 0x0123456789ABCDEF
        signature = key.sign(b"tokn" + salt.to_bytes(8, "big"), padding.PKCS1v15(), hashes.SHA256())
        der = public_key_der(key)
        self.assertTrue(salt_signature_valid(der, b"tokn", salt, signature))
        self.assertFalse(salt_signature_valid(der, b"nope", salt, signature))
        self.assertFalse(salt_signature_valid(der, b"tokn", salt + 1, signature))
        self.assertFalse(salt_signature_valid(public_key_der(generate_private_key(1024)), b"tokn", salt, signature))
        self.assertFalse(salt_signature_valid(b"not a key", b"tokn", salt, signature))


class TextFieldTests(SynchronousTestCase):
    def test_json_before_1_20_3_nbt_after(self) -> None:
        """Kick reasons are JSON strings up to 1.20.2 and NBT from 1.20.3; both read back."""
        for protocol in (47, 340, 764):
            data = encode_text(protocol, "Bye")
            self.assertEqual(Reader(data).string(), '{"text":"Bye"}', protocol)
            self.assertEqual(read_text(protocol, data), "Bye")
        for protocol in (765, 775):
            data = encode_text(protocol, "Bye")
            self.assertEqual(data[:1], b"\x0a", protocol)  # a compound tag
            self.assertEqual(read_text(protocol, data), "Bye")
        self.assertEqual(read_text(340, b"\x05{bad"), "(unreadable reason)")
