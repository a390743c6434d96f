"""Tests for mcproxy.wire.protocols: every version's watched packets, layouts and facts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import protocols
from mcproxy.wire.packets import _NAMED, TIER1_PROTOCOLS, Direction, PacketTable, State
from mcproxy.wire.protocols import known_protocols, protocol_info, without_tables

REPO = Path(__file__).resolve().parent.parent
MINECRAFT_DATA = REPO / "peers" / "node_modules" / "minecraft-data"

SB, CB = Direction.SERVERBOUND, Direction.CLIENTBOUND

#: Every release protocol from 1.8 to 26.1 that minecraft-data has tables for.
RELEASE_PROTOCOLS = (
    47, 107, 109, 110, 210, 315, 316, 335, 338, 340, 393, 401, 404, 477, 480, 490, 498,
    573, 575, 578, 735, 736, 751, 753, 754, 755, 756, 757, 758, 759, 760, 761, 762, 763,
    764, 765, 766, 767, 768, 769, 770, 771, 772, 773, 774, 775,
)


def load_generator(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ProtocolTableTests(SynchronousTestCase):
    def test_every_release_protocol(self) -> None:
        """One entry per release protocol from 1.8 to 26.1, plus 26.2 and 26.3 from
        upstream sources."""
        self.assertEqual(known_protocols(), RELEASE_PROTOCOLS + (776, 777))
        for protocol in RELEASE_PROTOCOLS:
            self.assertEqual(protocol_info(protocol).source, "minecraft-data")
        self.assertEqual(protocol_info(776).source, "upstream")
        self.assertEqual(protocol_info(777).source, "upstream")

    def test_gaps_are_named(self) -> None:
        """Release protocols no source has tables for are listed, not silently skipped."""
        self.assertEqual(dict(without_tables()),
                         {108: ("1.9.1",), 485: ("1.14.2",)})
        self.assertIsNone(protocol_info(778))
        self.assertIsNone(protocol_info(46))
        self.assertIsNone(protocol_info(-1))

    def test_release_names(self) -> None:
        """A protocol several releases share names all of them, oldest first."""
        info = protocol_info(47)
        self.assertEqual(info.releases[0], "1.8")
        self.assertEqual(info.name, "1.8.9")
        self.assertEqual(info.display_name, "1.8-1.8.9")
        self.assertEqual(protocol_info(340).display_name, "1.12.2")
        self.assertEqual(protocol_info(754).releases, ("1.16.4", "1.16.5"))
        self.assertEqual(protocol_info(775).display_name, "26.1-26.1.2")

    def test_agrees_with_full_tables(self) -> None:
        """For the fully supported versions every watched id equals the full table's id."""
        for protocol in TIER1_PROTOCOLS:
            info, table = protocol_info(protocol), PacketTable.for_protocol(protocol)
            for state in State:
                for direction in Direction:
                    for name, packet_id in info.ids(state, direction).items():
                        self.assertEqual(table.id(state, direction, name), packet_id,
                                         (protocol, state, direction, name))

    def test_every_named_packet_is_watched(self) -> None:
        """Each packet the proxy or the reference backend resolves by name is in the table
        of every version they serve, so per-version code can move onto this table without
        losing one."""
        for protocol in TIER1_PROTOCOLS:
            info = protocol_info(protocol)
            table = PacketTable.for_protocol(protocol)
            for state, direction, name in _NAMED.values():
                self.assertEqual(info.id(state, direction, name), table.ids(state, direction).get(name),
                                 (protocol, name))

    def test_watched_ids_per_version(self) -> None:
        """Packet ids that moved across the years are each version's own."""
        self.assertEqual(protocol_info(47).id(State.PLAY, CB, "login"), 0x01)
        self.assertEqual(protocol_info(47).id(State.PLAY, CB, "chat"), 0x02)
        self.assertEqual(protocol_info(340).id(State.PLAY, CB, "login"), 0x23)
        self.assertEqual(protocol_info(340).id(State.PLAY, SB, "chat"), 0x02)
        self.assertEqual(protocol_info(404).id(State.PLAY, CB, "declare_commands"), 0x11)
        self.assertEqual(protocol_info(754).id(State.PLAY, CB, "login"), 0x24)
        self.assertEqual(protocol_info(764).id(State.PLAY, CB, "start_configuration"), 0x65)
        self.assertEqual(protocol_info(765).id(State.PLAY, CB, "start_configuration"), 0x67)

    def test_absent_packets_are_none(self) -> None:
        """A packet a version does not have answers None, not a KeyError."""
        self.assertIsNone(protocol_info(47).id(State.PLAY, CB, "declare_commands"))
        self.assertIsNone(protocol_info(47).id(State.LOGIN, CB, "login_plugin_request"))
        self.assertIsNone(protocol_info(763).id(State.CONFIGURATION, CB, "finish_configuration"))
        self.assertFalse(protocol_info(763).has_state(State.CONFIGURATION))
        self.assertTrue(protocol_info(764).has_state(State.CONFIGURATION))
        self.assertEqual(dict(protocol_info(47).ids(State.CONFIGURATION, CB)), {})

    def test_id_maps_are_read_only(self) -> None:
        """The tables are shared; a caller cannot change them for everyone."""
        ids = protocol_info(775).ids(State.PLAY, CB)
        with self.assertRaises(TypeError):
            ids["login"] = 0
        self.assertEqual(protocol_info(775).id(State.PLAY, CB, "login"), 0x31)


class FactsTests(SynchronousTestCase):
    def facts(self, protocol: int) -> dict:
        return dict(protocol_info(protocol).facts)

    def test_login_start(self) -> None:
        """Login Start: name only before 1.19, signature data in 1.19, both in 1.19.1-2,
        UUID from 1.19.3 on."""
        self.assertEqual(self.facts(47)["login_start_fields"], ["username"])
        self.assertEqual(self.facts(758)["login_start_fields"], ["username"])
        self.assertEqual(self.facts(759)["login_start_fields"], ["username", "signature"])
        self.assertEqual(self.facts(760)["login_start_fields"],
                         ["username", "signature", "playerUUID"])
        self.assertEqual(self.facts(761)["login_start_fields"], ["username", "playerUUID"])
        self.assertEqual(self.facts(775)["login_start_fields"], ["username", "playerUUID"])

    def test_login_success(self) -> None:
        """Login Success gains properties in 1.19 and the strict flag for 1.20.5-1.21.1."""
        self.assertEqual(self.facts(47)["login_success_fields"], ["uuid", "username"])
        self.assertIn("properties", self.facts(759)["login_success_fields"])
        self.assertIn("strictErrorHandling", self.facts(767)["login_success_fields"])
        self.assertNotIn("strictErrorHandling", self.facts(768)["login_success_fields"])

    def test_states_and_features(self) -> None:
        """Configuration from 1.20.2, login plugin messages and commands tree from 1.13,
        cookies and transfer from 1.20.5, play-state Set Compression only in 1.8."""
        for protocol in RELEASE_PROTOCOLS:
            facts = self.facts(protocol)
            self.assertEqual(facts["configuration_state"], protocol >= 764, protocol)
            self.assertEqual(facts["login_plugin_messages"], protocol >= 393, protocol)
            self.assertEqual(facts["declare_commands"], protocol >= 393, protocol)
            self.assertEqual(facts["cookies"], protocol >= 766, protocol)
            self.assertEqual(facts["transfer"], protocol >= 766, protocol)
            self.assertEqual(facts["play_set_compression"], protocol == 47, protocol)
            self.assertEqual(facts["text_format"], "nbt" if protocol >= 765 else "json", protocol)

    def test_chat_packets(self) -> None:
        """Chat is one packet each way before 1.19; then signed chat, system chat and
        commands; profileless chat from 1.19.3; signed commands their own packet from 1.20.5."""
        self.assertEqual(self.facts(754)["chat_packets"],
                         {"clientbound": ["chat"], "serverbound": ["chat"]})
        self.assertEqual(self.facts(759)["chat_packets"],
                         {"clientbound": ["player_chat", "system_chat"],
                          "serverbound": ["chat_message", "chat_command"]})
        self.assertIn("profileless_chat", self.facts(761)["chat_packets"]["clientbound"])
        self.assertIn("chat_command_signed", self.facts(766)["chat_packets"]["serverbound"])

    def test_keep_alive_id(self) -> None:
        """Keep-alive ids are VarInts until 1.12.1 and longs from 1.12.2."""
        self.assertEqual(self.facts(47)["keep_alive_id"], "varint")
        self.assertEqual(self.facts(338)["keep_alive_id"], "varint")
        self.assertEqual(self.facts(340)["keep_alive_id"], "i64")


class LayoutTests(SynchronousTestCase):
    def test_join_game_layouts(self) -> None:
        """The play login packet's fields are minecraft-data's, per version."""
        fields = [f["name"] for f in protocol_info(47).layout(State.PLAY, CB, "login")[1]]
        self.assertEqual(fields, ["entityId", "gameMode", "dimension", "difficulty",
                                  "maxPlayers", "levelType", "reducedDebugInfo"])
        modern = [f["name"] for f in protocol_info(775).layout(State.PLAY, CB, "login")[1]]
        self.assertIn("enforcesSecureChat", modern)

    def test_named_types_come_along(self) -> None:
        """A layout's named types are recorded with it, so it reads without minecraft-data:
        26.1's Join Game refers to SpawnInfo, whose fields are there; 1.8's needs none."""
        info = protocol_info(775)
        login = info.layout(State.PLAY, CB, "login")
        self.assertIn({"name": "worldState", "type": "SpawnInfo"}, login[1])
        spawn = info.named_type("SpawnInfo")
        self.assertEqual(spawn[0], "container")
        self.assertIn("portalCooldown", [f.get("name") for f in spawn[1]])
        self.assertIsNotNone(info.named_type("command_node"))
        self.assertIsNone(protocol_info(47).named_type("SpawnInfo"))

    def test_equal_layouts_are_stored_once(self) -> None:
        """Versions with the same layout share one stored definition."""
        a = protocol_info(757).layout(State.PLAY, CB, "keep_alive")
        b = protocol_info(758).layout(State.PLAY, CB, "keep_alive")
        self.assertIs(a, b)

    def test_no_layout_for_unwatched_or_upstream(self) -> None:
        """Layouts exist only where minecraft-data gave them."""
        self.assertIsNone(protocol_info(47).layout(State.PLAY, CB, "map_chunk"))
        self.assertIsNone(protocol_info(776).layout(State.PLAY, CB, "login"))


class GeneratedProtocolsTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not (MINECRAFT_DATA / "package.json").exists():
            raise self.skipTest(f"minecraft-data is not installed at {MINECRAFT_DATA}")

    def test_checked_in_table_is_current(self) -> None:
        """protocols.json is exactly what the generator makes from the pinned data and
        the recorded upstream ids."""
        generator = load_generator("gen_packet_ids")
        upstream = json.loads((REPO / "tools" / "upstream_packet_ids.json").read_text())
        self.assertEqual(generator.generate_protocols(MINECRAFT_DATA, upstream), protocols._data())

    def test_checked_in_file_is_compact(self) -> None:
        """The checked-in JSON stays small: compact encoding, layouts stored once."""
        path = REPO / "mcproxy" / "wire" / "protocols.json"
        self.assertLess(path.stat().st_size, 256 * 1024)
        generator = load_generator("gen_packet_ids")
        self.assertEqual(generator.dump_compact(protocols._data()), path.read_text())
