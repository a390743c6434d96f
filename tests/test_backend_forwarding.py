"""Modern (Velocity-compatible) forwarding: encoding, verification and every refusal."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import forwarding
from mcproxy.wire.forwarding import (
    ForwardedPlayer,
    ForwardingRefusal,
    PlayerKey,
    ProfileProperty,
    Refused,
    encode_modern_forwarding,
    offline_uuid,
    verify_modern_forwarding,
)
from mcproxy.wire.types import encode_string, encode_uuid, encode_varint

SECRET = b"current-secret"
PREVIOUS = b"previous-secret"
SECRETS = [("current", SECRET), ("previous", PREVIOUS)]
MOJANG_UUID = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
TEXTURES = ProfileProperty("textures", "e30=", "c2lnbmF0dXJl")


def sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest() + payload


class OfflineUUIDTests(SynchronousTestCase):
    def test_known_value(self) -> None:
        """The offline UUID matches the value vanilla servers give "Notch" in offline mode."""
        self.assertEqual(offline_uuid("Notch"),
                         uuid.UUID("b50ad385-829d-3141-a216-7e7d7539ba7f"))
        self.assertEqual(offline_uuid("Notch").version, 3)


class EncodeVerifyTests(SynchronousTestCase):
    def test_round_trip_version_1(self) -> None:
        """A version-1 payload verifies and yields the forwarded identity and properties."""
        data = encode_modern_forwarding(SECRET, 1, "203.0.113.7", MOJANG_UUID, "Notch",
                                        [TEXTURES, ProfileProperty("x", "y")])
        result = verify_modern_forwarding(data, SECRETS)
        self.assertIsInstance(result, ForwardedPlayer)
        assert isinstance(result, ForwardedPlayer)
        self.assertEqual((result.uuid, result.name, result.address, result.version,
                          result.secret_label),
                         (MOJANG_UUID, "Notch", "203.0.113.7", 1, "current"))
        self.assertEqual(result.properties, (TEXTURES, ProfileProperty("x", "y")))

    def test_version_4_has_version_1_layout(self) -> None:
        """Version 4 (lazy session) is the version-1 layout with a different number."""
        v1 = encode_modern_forwarding(SECRET, 1, "a", MOJANG_UUID, "Notch")
        v4 = encode_modern_forwarding(SECRET, 4, "a", MOJANG_UUID, "Notch")
        self.assertEqual(v1[33:], v4[33:])
        self.assertEqual(verify_modern_forwarding(v4, SECRETS).version, 4)

    def test_versions_2_and_3_carry_the_player_key(self) -> None:
        """Versions 2 and 3 parse the player key (and version 3 the holder UUID)."""
        key = PlayerKey(1700000000000, b"k" * 294, b"s" * 512, MOJANG_UUID)
        two = verify_modern_forwarding(
            encode_modern_forwarding(SECRET, 2, "a", MOJANG_UUID, "Notch", (), key), SECRETS)
        three = verify_modern_forwarding(
            encode_modern_forwarding(SECRET, 3, "a", MOJANG_UUID, "Notch", (), key), SECRETS)
        self.assertEqual(two.player_key, PlayerKey(key.expires_at_ms, key.public_key,
                                                   key.key_signature, None))
        self.assertEqual(three.player_key, key)

    def test_previous_secret_verifies(self) -> None:
        """During a rotation the previous secret still verifies, and says so."""
        data = encode_modern_forwarding(PREVIOUS, 1, "a", MOJANG_UUID, "Notch")
        self.assertEqual(verify_modern_forwarding(data, SECRETS).secret_label, "previous")

    def test_matches_the_documented_layout(self) -> None:
        """The encoder produces exactly HMAC || VarInt, String, UUID, String, properties."""
        payload = (encode_varint(1) + encode_string("1.2.3.4") + encode_uuid(MOJANG_UUID)
                   + encode_string("Notch") + encode_varint(1) + encode_string("textures")
                   + encode_string("e30=") + b"\x01" + encode_string("c2lnbmF0dXJl"))
        self.assertEqual(
            encode_modern_forwarding(SECRET, 1, "1.2.3.4", MOJANG_UUID, "Notch", [TEXTURES]),
            sign(SECRET, payload))

    def test_request_data(self) -> None:
        """The plugin request carries the highest supported version, 4, as one byte."""
        self.assertEqual(forwarding.request_data(), b"\x04")


class RefusalTests(SynchronousTestCase):
    def assertRefused(self, result: object, reason: ForwardingRefusal) -> None:
        self.assertIsInstance(result, Refused)
        assert isinstance(result, Refused)
        self.assertEqual(result.reason, reason)

    def test_not_understood(self) -> None:
        """A client that does not understand the request did not come through a proxy."""
        self.assertRefused(verify_modern_forwarding(None, SECRETS),
                           ForwardingRefusal.NOT_VIA_PROXY)

    def test_wrong_secret(self) -> None:
        """A payload signed with any other secret is refused."""
        data = encode_modern_forwarding(b"other", 1, "a", MOJANG_UUID, "Notch")
        self.assertRefused(verify_modern_forwarding(data, SECRETS),
                           ForwardingRefusal.BAD_FORWARDING_SIGNATURE)

    def test_tampered_payload(self) -> None:
        """Changing one byte of a signed payload breaks the signature."""
        data = bytearray(encode_modern_forwarding(SECRET, 1, "a", MOJANG_UUID, "Notch"))
        data[-1] ^= 1
        self.assertRefused(verify_modern_forwarding(bytes(data), SECRETS),
                           ForwardingRefusal.BAD_FORWARDING_SIGNATURE)

    def test_empty_secret_never_verifies(self) -> None:
        """An unset previous secret cannot be used to forge a signature."""
        data = encode_modern_forwarding(b"", 1, "a", MOJANG_UUID, "Notch")
        self.assertRefused(verify_modern_forwarding(data, [("current", SECRET), ("previous", b"")]),
                           ForwardingRefusal.BAD_FORWARDING_SIGNATURE)

    def test_too_short(self) -> None:
        """Data no longer than a signature is malformed."""
        self.assertRefused(verify_modern_forwarding(b"\x00" * 32, SECRETS),
                           ForwardingRefusal.MALFORMED_FORWARDING)

    def test_truncated_payload(self) -> None:
        """A correctly signed payload that ends early is malformed, not a crash."""
        payload = encode_varint(1) + encode_string("a") + MOJANG_UUID.bytes[:7]
        self.assertRefused(verify_modern_forwarding(sign(SECRET, payload), SECRETS),
                           ForwardingRefusal.MALFORMED_FORWARDING)

    def test_trailing_bytes(self) -> None:
        """A signed payload with bytes after its fields is malformed."""
        payload = encode_modern_forwarding(SECRET, 1, "a", MOJANG_UUID, "Notch")[32:] + b"\x00"
        self.assertRefused(verify_modern_forwarding(sign(SECRET, payload), SECRETS),
                           ForwardingRefusal.MALFORMED_FORWARDING)

    def test_overlong_name(self) -> None:
        """A name longer than 16 characters is malformed."""
        payload = (encode_varint(1) + encode_string("a") + encode_uuid(MOJANG_UUID)
                   + encode_string("x" * 17) + encode_varint(0))
        self.assertRefused(verify_modern_forwarding(sign(SECRET, payload), SECRETS),
                           ForwardingRefusal.MALFORMED_FORWARDING)

    def test_too_many_properties(self) -> None:
        """A property count past the bound is refused before anything is allocated."""
        payload = (encode_varint(1) + encode_string("a") + encode_uuid(MOJANG_UUID)
                   + encode_string("Notch") + encode_varint(1 << 20))
        self.assertRefused(verify_modern_forwarding(sign(SECRET, payload), SECRETS),
                           ForwardingRefusal.MALFORMED_FORWARDING)

    def test_unknown_version(self) -> None:
        """A version above what we asked for (or below 1) is unsupported."""
        for version in (0, 5, 99):
            payload = (encode_varint(version) + encode_string("a") + encode_uuid(MOJANG_UUID)
                       + encode_string("Notch") + encode_varint(0))
            self.assertRefused(verify_modern_forwarding(sign(SECRET, payload), SECRETS),
                               ForwardingRefusal.UNSUPPORTED_FORWARDING_VERSION)

    def test_version_above_request(self) -> None:
        """A proxy answering with a newer version than requested is refused."""
        data = encode_modern_forwarding(SECRET, 4, "a", MOJANG_UUID, "Notch")
        self.assertRefused(verify_modern_forwarding(data, SECRETS, requested_version=1),
                           ForwardingRefusal.UNSUPPORTED_FORWARDING_VERSION)

    def test_offline_uuid_refused_when_authentication_required(self) -> None:
        """require_authenticated_mode refuses the offline-mode UUID for the name."""
        data = encode_modern_forwarding(SECRET, 4, "a", offline_uuid("Notch"), "Notch")
        self.assertRefused(verify_modern_forwarding(data, SECRETS, require_authenticated=True),
                           ForwardingRefusal.UNAUTHENTICATED_PLAYER)
        self.assertIsInstance(verify_modern_forwarding(data, SECRETS), ForwardedPlayer)

    def test_non_v4_uuid_refused_when_authentication_required(self) -> None:
        """require_authenticated_mode refuses any UUID that is not version 4."""
        data = encode_modern_forwarding(SECRET, 1, "a", uuid.uuid1(), "Notch")
        self.assertRefused(verify_modern_forwarding(data, SECRETS, require_authenticated=True),
                           ForwardingRefusal.UNAUTHENTICATED_PLAYER)

    def test_mojang_uuid_accepted_when_authentication_required(self) -> None:
        """A version-4 account UUID passes require_authenticated_mode."""
        data = encode_modern_forwarding(SECRET, 1, "a", MOJANG_UUID, "Notch", [TEXTURES])
        self.assertIsInstance(
            verify_modern_forwarding(data, SECRETS, require_authenticated=True), ForwardedPlayer)


class ProxyEncoderTests(SynchronousTestCase):
    def test_proxy_answer_verifies(self) -> None:
        """What the proxy's own encoder sends for each requested version verifies here."""
        from mcproxy.proxy.auth import GameProfile
        from mcproxy.proxy.forwarding import modern_response

        profile = GameProfile(MOJANG_UUID, "Notch", (ProfileProperty("textures", "e30=", "c2ln"),))
        for requested in (1, 4):
            result = verify_modern_forwarding(
                modern_response(SECRET, requested, "203.0.113.9", profile), SECRETS,
                requested_version=requested, require_authenticated=True)
            self.assertIsInstance(result, ForwardedPlayer)
            self.assertEqual((result.uuid, result.name, result.address, result.version),
                             (MOJANG_UUID, "Notch", "203.0.113.9", requested))
            self.assertEqual(result.properties, (ProfileProperty("textures", "e30=", "c2ln"),))
