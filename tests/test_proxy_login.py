"""Login building blocks: offline identities, session-server answers, forwarding formats."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import AuthenticationError, GameProfile, offline_uuid, parse_profile
from mcproxy.wire.forwarding import ProfileProperty
from mcproxy.proxy.forwarding import legacy_host, modern_response, modern_version
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.backend import BackendRefused
from mcproxy.wire.types import Reader


class OfflineIdentityTests(SynchronousTestCase):
    def test_offline_uuid_matches_vanilla(self) -> None:
        """Offline UUIDs are Java's nameUUIDFromBytes("OfflinePlayer:" + name): version 3."""
        self.assertEqual(offline_uuid("Notch"), uuid.UUID("b50ad385-829d-3141-a216-7e7d7539ba7f"))
        self.assertEqual(offline_uuid("Notch").version, 3)


class SessionAnswerTests(SynchronousTestCase):
    def test_profile_with_properties(self) -> None:
        """A hasJoined answer becomes an authenticated profile with its signed properties."""
        raw = json.dumps({"id": "069a79f444e94726a5befca90e38aaf5", "name": "Notch",
                          "properties": [{"name": "textures", "value": "v", "signature": "s"}]}).encode()
        profile = parse_profile(raw)
        self.assertEqual(profile.id, uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5"))
        self.assertEqual(profile.properties, (ProfileProperty("textures", "v", "s"),))
        self.assertTrue(profile.authenticated)

    def test_garbage_is_refused_with_a_reason(self) -> None:
        """Anything that is not a profile is BAD_SESSION_RESPONSE, never another exception."""
        for raw in (b"", b"[]", b"{}", b'{"id": "zz", "name": "a"}', b'{"id": "' + b"0" * 32 + b'", "name": "bad name"}',
                    b"\xff\xfe"):
            with self.assertRaises(AuthenticationError) as caught:
                parse_profile(raw)
            self.assertEqual(caught.exception.reason, "BAD_SESSION_RESPONSE")


class ForwardingFormatTests(SynchronousTestCase):
    profile = GameProfile(uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5"), "Notch",
                          (ProfileProperty("textures", "value", "sig"), ProfileProperty("plain", "x")), True)

    def test_modern_version_negotiation(self) -> None:
        """Backends asking for 1-3 get version 1 (no chat key to forward); 4 and above get 4."""
        self.assertEqual([modern_version(v) for v in (1, 2, 3, 4, 9)], [1, 1, 1, 4, 4])

    def test_modern_response_layout(self) -> None:
        """HMAC-SHA256 over the payload first, then version, address, UUID, name, properties."""
        secret = b"k" * 32
        data = modern_response(secret, 4, "203.0.113.9", self.profile)
        signature, payload = data[:32], data[32:]
        self.assertEqual(signature, hmac.new(secret, payload, hashlib.sha256).digest())
        reader = Reader(payload)
        self.assertEqual(reader.varint(), 4)
        self.assertEqual(reader.string(), "203.0.113.9")
        self.assertEqual(reader.uuid(), self.profile.id)
        self.assertEqual(reader.string(16), "Notch")
        self.assertEqual(reader.varint(), 2)
        self.assertEqual((reader.string(), reader.string(), reader.bool(), reader.string()),
                         ("textures", "value", True, "sig"))
        self.assertEqual((reader.string(), reader.string(), reader.bool()), ("plain", "x", False))
        reader.expect_end()

    def test_legacy_host_field(self) -> None:
        """BungeeCord's host field: host, address, dashless UUID, then properties as JSON."""
        fields = legacy_host("play.example.com", "198.51.100.7", self.profile).split("\x00")
        self.assertEqual(fields[:3], ["play.example.com", "198.51.100.7", "069a79f444e94726a5befca90e38aaf5"])
        self.assertEqual(json.loads(fields[3]), [{"name": "textures", "value": "value", "signature": "sig"},
                                                 {"name": "plain", "value": "x"}])


class NoServerMessageTests(SynchronousTestCase):
    def test_last_kick_message_is_shown(self) -> None:
        """When every server refused, the player reads the last backend's own kick message."""
        error = NoServerAvailable([("a", BackendRefused("BACKEND_UNREACHABLE")),
                                   ("b", BackendRefused("BACKEND_KICKED", "Whitelist only"))])
        self.assertEqual(error.player_message(), "Whitelist only")

    def test_generic_message_without_a_kick(self) -> None:
        """Unreachable servers give a plain explanation, not a counter name."""
        error = NoServerAvailable([("a", BackendRefused("BACKEND_UNREACHABLE"))])
        self.assertIn("No server is available", error.player_message())
