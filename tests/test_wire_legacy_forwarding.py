"""BungeeCord legacy forwarding and BungeeGuard, read from a handshake host field."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.forwarding import ForwardedPlayer, ForwardingRefusal, ProfileProperty, Refused
from mcproxy.wire.handshake import Intent, parse_handshake
from mcproxy.wire.legacy_forwarding import (
    BUNGEEGUARD_PROPERTY, FORWARDED_HOST_MAX_CHARS, verify_legacy_forwarding,
)
from mcproxy.wire.types import WireError, encode_string, encode_ushort, encode_varint
from tests.fuzzing import fuzz

PLAYER = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
SECRETS = [("current", b"the-current-secret"), ("previous", b"the-old-secret")]


def host(*extra: str, properties: list | None = None) -> str:
    fields = ["play.example.com", "198.51.100.7", PLAYER.hex, *extra]
    if properties is not None:
        fields.append(json.dumps(properties))
    return "\x00".join(fields)


class LegacyForwardingTests(SynchronousTestCase):
    def test_identity_read(self) -> None:
        """Address, UUID and properties come from the host field; the name from Login Start."""
        result = verify_legacy_forwarding(host(properties=[
            {"name": "textures", "value": "v", "signature": "s"}]), "Notch")
        self.assertEqual(result, ForwardedPlayer(PLAYER, "Notch", "198.51.100.7",
                                                 (ProfileProperty("textures", "v", "s"),), 0,
                                                 "legacy"))
        self.assertEqual(verify_legacy_forwarding(host(), "Notch").properties, ())
        self.assertEqual(verify_legacy_forwarding(host() + "\x00FML\x00", "Notch").uuid, PLAYER)

    def test_plain_host_is_not_via_proxy(self) -> None:
        """A client's own host field (with or without Forge's marker) names no identity."""
        for field in ("play.example.com", "play.example.com\x00FML\x00"):
            self.assertEqual(verify_legacy_forwarding(field, "x").reason,
                             ForwardingRefusal.NOT_VIA_PROXY)

    def test_malformed(self) -> None:
        """A bad UUID, empty address or broken properties is MALFORMED_FORWARDING."""
        for field in ("h\x00a\x00nothex" + "0" * 25, "h\x00\x00" + PLAYER.hex,
                      "h\x00a\x00" + str(PLAYER), host("{"), host("[1]"),
                      host('[{"name": 1, "value": "v"}]'), host(json.dumps([{}] * 65))):
            result = verify_legacy_forwarding(field, "x")
            self.assertEqual(result.reason, ForwardingRefusal.MALFORMED_FORWARDING, field)

    def test_bungeeguard(self) -> None:
        """The token must equal a configured secret; it is not kept as a property."""
        for token, label in (("the-current-secret", "current"), ("the-old-secret", "previous")):
            result = verify_legacy_forwarding(
                host(properties=[{"name": BUNGEEGUARD_PROPERTY, "value": token}]), "Notch",
                SECRETS, bungeeguard=True)
            self.assertEqual((result.secret_label, result.properties), (label, ()))
        for properties in (None, [{"name": BUNGEEGUARD_PROPERTY, "value": "guess"}],
                           [{"name": BUNGEEGUARD_PROPERTY, "value": "the-old-secret"}] * 2):
            result = verify_legacy_forwarding(host(properties=properties), "Notch", SECRETS,
                                              bungeeguard=True)
            self.assertEqual(result.reason, ForwardingRefusal.BAD_FORWARDING_SIGNATURE)
            self.assertNotIn("secret", result.detail)

    @fuzz()
    @given(st.text(max_size=300), st.text(max_size=16))
    def test_any_host_field_answers(self, field: str, name: str) -> None:
        """Whatever the host field holds, the answer is an identity or a refusal."""
        result = verify_legacy_forwarding(field, name, SECRETS, bungeeguard=True)
        self.assertIsInstance(result, (ForwardedPlayer, Refused))


class ForwardedHandshakeTests(SynchronousTestCase):
    def handshake(self, field: str) -> bytes:
        return (encode_varint(0) + encode_varint(47) + encode_string(field, 32767)
                + encode_ushort(25565) + encode_varint(2))

    def test_raw_host_kept_and_hidden(self) -> None:
        """The host field is kept as sent, the host normalised, and repr shows no token."""
        field = host(properties=[{"name": BUNGEEGUARD_PROPERTY, "value": "tok3n"}])
        parsed = parse_handshake(self.handshake(field), FORWARDED_HOST_MAX_CHARS)
        self.assertEqual((parsed.host, parsed.raw_host, parsed.intent),
                         ("play.example.com", field, Intent.LOGIN))
        self.assertNotIn("tok3n", repr(parsed))

    def test_client_limit_by_default(self) -> None:
        """Without the larger limit a forwarded field over 1024 characters is refused."""
        field = host(properties=[{"name": "textures", "value": "v" * 1100}])
        with self.assertRaises(WireError):
            parse_handshake(self.handshake(field))
        self.assertEqual(parse_handshake(self.handshake(field), FORWARDED_HOST_MAX_CHARS).raw_host,
                         field)
