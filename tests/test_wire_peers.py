"""Byte-level compatibility with minecraft-protocol (npm), the real peer.

Packets serialized by minecraft-protocol are decoded with our tables and Reader, and
packets we encode are parsed by minecraft-protocol, for every tier-1 version.  Node and
the pinned packages come from ``<repo>/peers/node_modules`` (``npm ci`` in ``peers/``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.chat import (
    component_to_nbt, json_to_component, nbt_to_component, plain_text, text_to_json,
    text_to_nbt,
)
from mcproxy.wire.packets import TIER1_PROTOCOLS, VERSION_NAMES, Direction, PacketTable, State
from mcproxy.wire.types import (
    Reader, encode_bool, encode_long, encode_string, encode_ushort, encode_uuid, encode_varint,
)

REPO = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO / "peers" / "node_modules"
SCRIPT = REPO / "tests" / "peers" / "serialize.js"

SB, CB = Direction.SERVERBOUND, Direction.CLIENTBOUND
TO = {SB: "toServer", CB: "toClient"}
PLAYER = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
BRAND = bytes.fromhex("076d6370726f7879")


def run_peer(requests: list[dict]) -> list[dict]:
    """Run the requests through tests/peers/serialize.js in one node process."""
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    done = subprocess.run([shutil.which("node"), str(SCRIPT)], input=json.dumps(requests),
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    results = json.loads(done.stdout)
    for request, result in zip(requests, results):
        if "error" in result:
            raise AssertionError(f"minecraft-protocol refused {request}: {result['error']}")
    return results


def nbt_tag(value: Any) -> dict:
    """prismarine-nbt's typed form of a plain string compound (for params we send)."""
    if isinstance(value, dict):
        return {"type": "compound", "name": "",
                "value": {k: nbt_tag(v) for k, v in value.items()}}
    return {"type": "string", "value": value}


def plain_nbt(tag: dict) -> Any:
    """Strip prismarine-nbt's type annotations down to plain values."""
    kind, value = tag["type"], tag["value"]
    if kind == "compound":
        return {key: plain_nbt(item) for key, item in value.items()}
    if kind == "list":
        return [plain_nbt({"type": value["type"], "value": item}) for item in value["value"]]
    return value


def long_from_pair(value: Any) -> int:
    """minecraft-protocol hands back an i64 as [high, low] 32-bit halves."""
    if isinstance(value, dict):
        return int(value["$bigint"])
    high, low = value
    return (high << 32) | (low & 0xFFFFFFFF)


class PeerTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        if shutil.which("node") is None:
            raise self.skipTest("node is not installed")
        if not (NODE_MODULES / "minecraft-protocol").is_dir():
            raise self.skipTest(f"minecraft-protocol is not installed in {NODE_MODULES}")


class DecodePeerBytesTests(PeerTestCase):
    """minecraft-protocol serializes; our tables and Reader decode."""

    def packets(self) -> list[tuple[State, Direction, str, dict]]:
        return [
            (State.HANDSHAKING, SB, "set_protocol",
             {"serverHost": "play.example.com", "serverPort": 25565, "nextState": 2}),
            (State.STATUS, SB, "ping_start", {}),
            (State.STATUS, CB, "server_info", {"response": json.dumps(
                {"version": {"name": "mcproxy", "protocol": 0},
                 "description": {"text": "A mcproxy network"}})}),
            (State.STATUS, SB, "ping", {"time": {"$bigint": "-1234567890123"}}),
            (State.LOGIN, SB, "login_start", {"username": "Notch", "playerUUID": str(PLAYER)}),
            (State.CONFIGURATION, CB, "select_known_packs",
             {"packs": [{"namespace": "minecraft", "id": "core", "version": "1"}]}),
            (State.CONFIGURATION, SB, "custom_payload",
             {"channel": "minecraft:brand", "data": {"$hex": BRAND.hex()}}),
            (State.CONFIGURATION, CB, "disconnect",
             {"reason": nbt_tag({"text": "Server closed", "color": "red"})}),
            (State.PLAY, SB, "chat_command", {"command": "server lobby"}),
            (State.PLAY, SB, "keep_alive", {"keepAliveId": {"$bigint": "8070450532247928832"}}),
            (State.PLAY, CB, "system_chat",
             {"content": nbt_tag({"text": "Welcome \U0001F600"}), "isActionBar": False}),
        ]

    def test_decode_peer_packets(self) -> None:
        """Each packet's id is the one in our table, and its fields read back exactly."""
        requests, expected = [], []
        for protocol in TIER1_PROTOCOLS:
            for state, direction, name, params in self.packets():
                if name == "set_protocol":
                    params = {"protocolVersion": protocol, **params}
                requests.append({"op": "serialize", "version": VERSION_NAMES[protocol],
                                 "state": state.value, "direction": TO[direction],
                                 "name": name, "params": params})
                expected.append((protocol, state, direction, name))
        for (protocol, state, direction, name), result in zip(expected, run_peer(requests)):
            table = PacketTable.for_protocol(protocol)
            reader = Reader(bytes.fromhex(result["hex"]))
            self.assertEqual(table.name(state, direction, reader.varint()), name,
                             f"{name} in {protocol}")
            self.check_fields(protocol, name, reader)
            reader.expect_end()

    def check_fields(self, protocol: int, name: str, reader: Reader) -> None:
        if name == "set_protocol":
            self.assertEqual((reader.varint(), reader.string(255), reader.ushort(),
                              reader.varint()), (protocol, "play.example.com", 25565, 2))
        elif name == "server_info":
            status = json.loads(reader.string())
            self.assertEqual(plain_text(status["description"]), "A mcproxy network")
        elif name == "ping":
            self.assertEqual(reader.long(), -1234567890123)
        elif name == "login_start":
            self.assertEqual((reader.string(16), reader.uuid()), ("Notch", PLAYER))
        elif name == "select_known_packs":
            self.assertEqual(reader.varint(), 1)
            self.assertEqual([reader.string() for _ in range(3)], ["minecraft", "core", "1"])
        elif name == "custom_payload":
            self.assertEqual((reader.string(), reader.rest()), ("minecraft:brand", BRAND))
        elif name == "disconnect":
            component, reader.offset = nbt_to_component(reader.data, reader.offset)
            self.assertEqual(component, {"text": "Server closed", "color": "red"})
        elif name == "chat_command":
            self.assertEqual(reader.string(), "server lobby")
        elif name == "keep_alive":
            self.assertEqual(reader.long(), 8070450532247928832)
        elif name == "system_chat":
            component, reader.offset = nbt_to_component(reader.data, reader.offset)
            # prismarine-nbt writes plain UTF-8 (4 bytes) where Java writes surrogate
            # pairs; the decoder accepts both.
            self.assertEqual((component, reader.bool()), ({"text": "Welcome \U0001F600"}, False))


class PeerParsesOurBytesTests(PeerTestCase):
    """We encode with our tables and codecs; minecraft-protocol parses."""

    def test_peer_parses_our_packets(self) -> None:
        """minecraft-protocol reads our handshake, login, status, configuration and play
        packets, NBT chat included, as the packets and values we meant."""
        kick = {"text": "Moved to ", "extra": [{"text": "lobby", "bold": True}]}
        requests, checks = [], []
        for version_protocol in (766, 775):
            table = PacketTable.for_protocol(version_protocol)

            def add(state: State, direction: Direction, name: str, fields: bytes,
                    check: Any) -> None:
                packet = encode_varint(table.id(state, direction, name)) + fields
                requests.append({"op": "parse", "version": table.version,
                                 "state": state.value, "direction": TO[direction],
                                 "hex": packet.hex()})
                checks.append((name, check))

            add(State.HANDSHAKING, SB, "set_protocol",
                encode_varint(version_protocol) + encode_string("localhost")
                + encode_ushort(25565) + encode_varint(1),
                {"protocolVersion": version_protocol, "serverHost": "localhost",
                 "serverPort": 25565, "nextState": 1})
            add(State.STATUS, CB, "server_info", encode_string(text_to_json("hello")),
                lambda p: self.assertEqual(json_to_component(p["response"]), {"text": "hello"}))
            add(State.LOGIN, SB, "login_start", encode_string("jeb_") + encode_uuid(PLAYER),
                {"username": "jeb_", "playerUUID": str(PLAYER)})
            add(State.CONFIGURATION, CB, "disconnect", component_to_nbt(kick),
                lambda p: self.assertEqual(plain_nbt(p["reason"]),
                                           {"text": "Moved to ",
                                            "extra": [{"text": "lobby", "bold": 1}]}))
            add(State.PLAY, SB, "chat_command", encode_string("server survival"),
                {"command": "server survival"})
            add(State.PLAY, SB, "keep_alive", encode_long(-42),
                lambda p: self.assertEqual(long_from_pair(p["keepAliveId"]), -42))
            # BMP text only: for characters past U+FFFF we write Java's modified UTF-8
            # (surrogate pairs), which vanilla requires and prismarine-nbt misreads.
            add(State.PLAY, CB, "system_chat", text_to_nbt("Hi \u00a7 \u00e9 \u2713")
                + encode_bool(True),
                lambda p: self.assertEqual((plain_nbt(p["content"]), p["isActionBar"]),
                                           ({"text": "Hi \u00a7 \u00e9 \u2713"}, True)))
        for (name, check), result in zip(checks, run_peer(requests)):
            self.assertEqual(result["name"], name)
            if callable(check):
                check(result["params"])
            else:
                self.assertEqual(result["params"], check)
