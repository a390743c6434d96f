"""Packets written from minecraft-data layouts (mcproxy.wire.layout)."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.layout import encode_layout, field_names, field_type
from mcproxy.wire.packets import Direction, State
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import Reader

PLAYER = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")


class EncodeLayoutTests(SynchronousTestCase):
    def test_primitives(self) -> None:
        """Each primitive is written big-endian at its width, strings length-prefixed."""
        layout = ["container", [{"name": n, "type": t} for n, t in (
            ("a", "i8"), ("b", "u8"), ("c", "i16"), ("d", "i32"), ("e", "i64"), ("f", "f32"),
            ("g", "f64"), ("h", "varint"), ("i", "bool"), ("j", "string"), ("k", "UUID"))]]
        raw = encode_layout(layout, {"a": -1, "b": 255, "c": -2, "d": 7, "e": -3, "f": 1.5,
                                     "g": 2.5, "h": 300, "i": True, "j": "hé", "k": PLAYER})
        reader = Reader(raw)
        self.assertEqual((reader.byte(), reader.ubyte(), reader.short(), reader.int(),
                          reader.long(), reader.float(), reader.double(), reader.varint(),
                          reader.bool(), reader.string(), reader.uuid()),
                         (-1, 255, -2, 7, -3, 1.5, 2.5, 300, True, "hé", PLAYER))
        reader.expect_end()

    def test_uuid_as_text(self) -> None:
        """A UUID given to a string field (Login Success before 1.16) is written dashed."""
        self.assertEqual(Reader(encode_layout("string", PLAYER)).string(), str(PLAYER))

    def test_option_array_and_nbt(self) -> None:
        """Options carry a presence flag, arrays a VarInt count, NBT its bytes as given."""
        layout = ["container", [
            {"name": "o", "type": ["option", "varint"]},
            {"name": "p", "type": ["option", "varint"]},
            {"name": "a", "type": ["array", {"countType": "varint", "type": "string"}]},
            {"name": "n", "type": "anonymousNbt"}]]
        raw = encode_layout(layout, {"o": None, "p": 5, "a": ["x", "y"], "n": b"\x08\x00\x01z"})
        self.assertEqual(raw, b"\x00\x01\x05\x02\x01x\x01y\x08\x00\x01z")

    def test_unknown_type_and_missing_field(self) -> None:
        """A type we do not write, or a field without a value, fails loudly."""
        with self.assertRaises(ValueError):
            encode_layout("slot", None)
        with self.assertRaises(ValueError):
            encode_layout(["array", {"count": 3, "type": "u8"}], [1, 2, 3])
        with self.assertRaises(KeyError):
            encode_layout(["container", [{"name": "x", "type": "u8"}]], {})

    def test_field_questions(self) -> None:
        """field_names and field_type read a container as the backend asks it."""
        login = protocol_info(47).layout(State.PLAY, Direction.CLIENTBOUND, "login")
        self.assertEqual(field_names(login), ("entityId", "gameMode", "dimension", "difficulty",
                                              "maxPlayers", "levelType", "reducedDebugInfo"))
        self.assertEqual(field_type(login, "dimension"), "i8")
        self.assertIsNone(field_type(login, "dimensionCodec"))
        with self.assertRaises(ValueError):
            field_names("i8" and ["array", {}])
