"""The Respawn pair built from a Join Game, and the layout interpreter it stands on."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import layout
from mcproxy.wire.nbt import skip_named_nbt
from mcproxy.wire.packets import Direction, State
from mcproxy.wire.protocols import known_protocols, protocol_info
from mcproxy.wire.respawn import read_join_game, respawn_pair
from mcproxy.wire.types import Reader, WireError
from tests.join_game import EMPTY_NBT, join_game_fields

#: Every protocol that moves players with Join Game and Respawn.
WITHOUT_CONFIGURATION = tuple(p for p in known_protocols()
                              if not protocol_info(p).facts.get("configuration_state")
                              and protocol_info(p).source == "minecraft-data")


def respawn(protocol: int, fields: bytes) -> dict:
    shape = protocol_info(protocol).layout(State.PLAY, Direction.CLIENTBOUND, "respawn")
    reader = Reader(fields)
    values = layout.read(shape, reader)
    reader.expect_end()
    return values


def place(values: dict):
    """Where a Respawn puts the client: its dimension number or its world name."""
    return values.get("worldName", values["dimension"])


class RespawnPairTests(SynchronousTestCase):
    def test_every_version_without_configuration(self) -> None:
        """From 1.8 to 1.20.1 the first Respawn goes somewhere else and the second back to the
        Join Game's own dimension, game mode and seed; each parses by its version's layout."""
        self.assertEqual(WITHOUT_CONFIGURATION[0], 47)
        self.assertEqual(WITHOUT_CONFIGURATION[-1], 763)
        for protocol in WITHOUT_CONFIGURATION:
            fields = join_game_fields(protocol, entityId=41, gameMode=1, hashedSeed=99)
            join = read_join_game(protocol, fields)
            away, back = (respawn(protocol, raw) for raw in respawn_pair(protocol, join))
            self.assertNotEqual(place(away), place(back), protocol)
            self.assertEqual(place(back), join.get("worldName", join.get("dimension")), protocol)
            self.assertEqual(back["gamemode"], 1, protocol)
            self.assertEqual(back.get("hashedSeed", 99), 99, protocol)
            self.assertFalse(back.get("copyMetadata", False), protocol)

    def test_numbered_dimensions_flip_between_overworld_and_nether(self) -> None:
        """Before 1.16 the temporary dimension is the nether from the overworld, else the overworld."""
        for dimension, elsewhere in ((0, -1), (-1, 0), (1, 0)):
            join = read_join_game(340, join_game_fields(340, dimension=dimension))
            away, back = (respawn(340, raw) for raw in respawn_pair(340, join))
            self.assertEqual((away["dimension"], back["dimension"]), (elsewhere, dimension))
        join = read_join_game(47, join_game_fields(47, dimension=-1))
        self.assertEqual([respawn(47, raw)["dimension"] for raw in respawn_pair(47, join)], [0, -1])

    def test_named_worlds_flip_to_another_listed_world(self) -> None:
        """From 1.16 the client keys its level by world name: the flip goes to another world
        the Join Game lists (or the nether/overworld when it lists none), with the same dimension type."""
        join = read_join_game(754, join_game_fields(754, worldName="minecraft:the_nether",
                                                    worldNames=["minecraft:the_nether", "lobby:hub"]))
        away, back = (respawn(754, raw) for raw in respawn_pair(754, join))
        self.assertEqual((away["worldName"], back["worldName"]), ("lobby:hub", "minecraft:the_nether"))
        self.assertEqual(away["dimension"], EMPTY_NBT)
        join = read_join_game(763, join_game_fields(763, worldName="minecraft:overworld", worldNames=[],
                                                    worldType="minecraft:overworld"))
        away, back = (respawn(763, raw) for raw in respawn_pair(763, join))
        self.assertEqual(away["worldName"], "minecraft:the_nether")
        self.assertEqual(back["dimension"], "minecraft:overworld")

    def test_death_location_and_portal_cooldown_kept(self) -> None:
        """1.19's last death location and 1.20's portal cooldown travel into the Respawn."""
        death = {"dimensionName": "minecraft:overworld", "location": b"\x00" * 7 + b"\x05"}
        join = read_join_game(763, join_game_fields(763, death=death, portalCooldown=20))
        back = respawn(763, respawn_pair(763, join)[1])
        self.assertEqual((back["death"], back["portalCooldown"]), (death, 20))

    def test_malformed_join_game(self) -> None:
        """A truncated, overlong or oversized Join Game is refused with a reason, not a traceback."""
        fields = join_game_fields(340)
        for bad, reason in ((fields[:-1], "TRUNCATED"), (fields + b"\x00", "TRAILING_BYTES")):
            with self.assertRaises(WireError) as caught:
                read_join_game(340, bad)
            self.assertEqual(caught.exception.reason, reason)
        huge = join_game_fields(754)[:7] + b"\xff\xff\x03"
        with self.assertRaises(WireError) as caught:
            read_join_game(754, huge)
        self.assertEqual(caught.exception.reason, "ARRAY_TOO_LONG")


class LayoutTests(SynchronousTestCase):
    def test_bytes_and_shorts_wrap_between_signed_and_unsigned(self) -> None:
        """One version's u8 field is another's i8: -1 and 255 write the same byte."""
        self.assertEqual(layout.write("u8", -1), b"\xff")
        self.assertEqual(layout.write("i8", 255), b"\xff")
        self.assertEqual(layout.read("i8", Reader(b"\xff")), -1)

    def test_named_nbt_skipped_whole(self) -> None:
        """A named root compound is skipped to its end; an absent one is one byte; a cut one is refused."""
        nested = b"\x0a\x00\x04root" + b"\x08\x00\x01k\x00\x02vv" + b"\x00"
        self.assertEqual(skip_named_nbt(nested + b"tail"), len(nested))
        self.assertEqual(skip_named_nbt(b"\x00rest"), 1)
        with self.assertRaises(WireError):
            skip_named_nbt(nested[:-1])

    def test_unknown_type_refused(self) -> None:
        """A layout type the interpreter does not know is an error with a reason."""
        with self.assertRaises(WireError) as caught:
            layout.read("entityMetadata", Reader(b""))
        self.assertEqual(caught.exception.reason, "UNKNOWN_LAYOUT")
