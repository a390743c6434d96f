"""The routing cookie: signed by the proxy, followed only when genuine, fresh and the player's own."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.cookies import CookieRejected, decode_route, encode_route

SECRET = b"k" * 32
OLD = b"o" * 32
PLAYER = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
NOW = 1_800_000_000.0


class RouteCookieTests(SynchronousTestCase):
    def rejected(self, payload: bytes, secrets=(SECRET,), player=PLAYER, now=NOW) -> str:
        with self.assertRaises(CookieRejected) as caught:
            decode_route(payload, secrets, player, now)
        return caught.exception.reason

    def test_genuine(self) -> None:
        """A cookie we signed for this player a moment ago names its server."""
        payload = encode_route(SECRET, PLAYER, "game", NOW - 2)
        self.assertEqual(decode_route(payload, (SECRET,), PLAYER, NOW), "game")

    def test_previous_secret(self) -> None:
        """During a rotation a cookie signed with the previous secret still verifies."""
        payload = encode_route(OLD, PLAYER, "game", NOW)
        self.assertEqual(decode_route(payload, (SECRET, OLD), PLAYER, NOW), "game")

    def test_wrong_key(self) -> None:
        """A cookie signed with another key is forged."""
        self.assertEqual(self.rejected(encode_route(b"x" * 32, PLAYER, "game", NOW)), "FORGED_ROUTING_COOKIE")

    def test_tampered(self) -> None:
        """Changing the server name after signing breaks the signature."""
        payload = encode_route(SECRET, PLAYER, "game", NOW).replace(b"game", b"gamf")
        self.assertEqual(self.rejected(payload), "FORGED_ROUTING_COOKIE")

    def test_other_player(self) -> None:
        """Another player's genuine cookie is forged for this one."""
        payload = encode_route(SECRET, uuid.uuid4(), "game", NOW)
        self.assertEqual(self.rejected(payload), "FORGED_ROUTING_COOKIE")

    def test_stale(self) -> None:
        """A genuine cookie older than a minute is stale; so is one from the future."""
        self.assertEqual(self.rejected(encode_route(SECRET, PLAYER, "game", NOW - 61)), "STALE_ROUTING_COOKIE")
        self.assertEqual(self.rejected(encode_route(SECRET, PLAYER, "game", NOW + 61)), "STALE_ROUTING_COOKIE")

    def test_garbage(self) -> None:
        """Short, empty-keyed or oversized payloads are forged, without an exception of another kind."""
        self.assertEqual(self.rejected(b"\x01" * 10), "FORGED_ROUTING_COOKIE")
        self.assertEqual(self.rejected(b"\x00" * 6000), "FORGED_ROUTING_COOKIE")
        self.assertEqual(self.rejected(encode_route(SECRET, PLAYER, "game", NOW), secrets=(b"",)),
                         "FORGED_ROUTING_COOKIE")
