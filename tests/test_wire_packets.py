"""Tests for mcproxy.wire.packets: the generated packet id tables."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire import packets
from mcproxy.wire.packets import (
    TIER1_PROTOCOLS, VERSION_NAMES, Direction, PacketTable, State, minecraft_data_version, packet_ids,
)

REPO = Path(__file__).resolve().parent.parent
MINECRAFT_DATA = REPO / "peers" / "node_modules" / "minecraft-data"

SB, CB = Direction.SERVERBOUND, Direction.CLIENTBOUND


class PacketTableTests(SynchronousTestCase):
    def test_every_tier1_protocol(self) -> None:
        """Each tier-1 protocol, 766 to 775, has a table named after its version."""
        self.assertEqual(TIER1_PROTOCOLS, tuple(range(766, 776)))
        self.assertEqual(VERSION_NAMES[766], "1.20.5")
        self.assertEqual(VERSION_NAMES[775], "26.1")
        for protocol in TIER1_PROTOCOLS:
            table = PacketTable.for_protocol(protocol)
            self.assertEqual((table.protocol, table.version), (protocol, VERSION_NAMES[protocol]))

    def test_unknown_protocol(self) -> None:
        """An unsupported protocol has no table: None, not an exception."""
        self.assertIsNone(PacketTable.for_protocol(765))
        self.assertIsNone(PacketTable.for_protocol(-1))

    def test_tables_are_shared(self) -> None:
        """Tables are built once and reused."""
        self.assertIs(PacketTable.for_protocol(770), PacketTable.for_protocol(770))

    def test_known_ids(self) -> None:
        """Ids the proxy depends on match the protocol documentation."""
        t766 = PacketTable.for_protocol(766)
        t775 = PacketTable.for_protocol(775)
        self.assertEqual(t766.id(State.HANDSHAKING, SB, "set_protocol"), 0)
        self.assertEqual(t766.id(State.LOGIN, CB, "compress"), 3)
        self.assertEqual(t766.id(State.LOGIN, SB, "login_acknowledged"), 3)
        self.assertEqual(t766.id(State.LOGIN, CB, "cookie_request"), 5)
        self.assertEqual(t766.id(State.CONFIGURATION, CB, "finish_configuration"), 3)
        self.assertEqual(t766.id(State.CONFIGURATION, CB, "transfer"), 0x0B)
        self.assertEqual(t766.id(State.PLAY, SB, "chat_command"), 0x04)
        self.assertEqual(t766.id(State.PLAY, SB, "configuration_acknowledged"), 0x0C)
        self.assertEqual(t766.id(State.PLAY, CB, "start_configuration"), 0x69)
        self.assertEqual(t775.id(State.PLAY, SB, "chat_command"), 0x07)
        self.assertEqual(t775.name(State.STATUS, CB, 0), "server_info")

    def test_names_and_ids_agree(self) -> None:
        """name() inverts id() for every packet of every state and direction."""
        for protocol in TIER1_PROTOCOLS:
            table = PacketTable.for_protocol(protocol)
            for state in State:
                for direction in Direction:
                    ids = table.ids(state, direction)
                    self.assertEqual(len(set(ids.values())), len(ids))
                    for name, packet_id in ids.items():
                        self.assertEqual(table.name(state, direction, packet_id), name)
                    self.assertEqual(dict(table.names(state, direction)),
                                     {i: n for n, i in ids.items()})

    def test_packets_the_proxy_needs(self) -> None:
        """Every tier-1 version has the packets the proxy reads or writes."""
        needed = {
            (State.LOGIN, CB): ["disconnect", "encryption_begin", "success", "compress",
                                "login_plugin_request", "cookie_request"],
            (State.LOGIN, SB): ["login_start", "encryption_begin", "login_plugin_response",
                                "login_acknowledged", "cookie_response"],
            (State.CONFIGURATION, CB): ["disconnect", "finish_configuration", "registry_data",
                                        "select_known_packs", "store_cookie", "transfer",
                                        "keep_alive", "custom_payload", "cookie_request"],
            (State.CONFIGURATION, SB): ["finish_configuration", "select_known_packs",
                                        "keep_alive", "custom_payload", "cookie_response"],
            (State.PLAY, CB): ["login", "kick_disconnect", "system_chat", "keep_alive",
                               "declare_commands", "start_configuration", "transfer",
                               "store_cookie", "cookie_request", "spawn_position", "position",
                               "update_health", "tab_complete", "custom_payload"],
            (State.PLAY, SB): ["chat_command", "chat_command_signed", "chat_message",
                               "keep_alive", "configuration_acknowledged", "tab_complete",
                               "custom_payload", "cookie_response"],
        }
        for protocol in TIER1_PROTOCOLS:
            table = PacketTable.for_protocol(protocol)
            for (state, direction), names in needed.items():
                for name in names:
                    self.assertIsInstance(table.id(state, direction, name), int)

    def test_unknown_name_and_id(self) -> None:
        """An unknown name is a KeyError (a bug); an unknown id is None (wire input)."""
        table = PacketTable.for_protocol(766)
        self.assertRaises(KeyError, table.id, State.PLAY, SB, "no_such_packet")
        self.assertIsNone(table.name(State.PLAY, SB, 0x7FFF))

    def test_records_minecraft_data_version(self) -> None:
        """The table says which minecraft-data release it came from."""
        self.assertEqual(minecraft_data_version(), "3.119.0")


class PacketIdsTests(SynchronousTestCase):
    def test_every_named_packet_in_every_version(self) -> None:
        """Each tier-1 version resolves every packet either side uses by name; other
        versions are a KeyError the caller turns into a refusal."""
        for protocol in TIER1_PROTOCOLS:
            ids = packet_ids(protocol)
            table = PacketTable.for_protocol(protocol)
            self.assertEqual(ids.login_start, table.id(State.LOGIN, SB, "login_start"))
            self.assertEqual(ids.play_kick, table.id(State.PLAY, CB, "kick_disconnect"))
            self.assertIs(packet_ids(protocol), ids)
        self.assertRaises(KeyError, packet_ids, 5)

    def test_older_versions_name_what_they_have(self) -> None:
        """Before 1.20.5 the ids come from protocols.json: what a version lacks is None,
        and a packet minecraft-data renamed is found under its old name."""
        ids = packet_ids(47)
        self.assertEqual((ids.login_start, ids.play_chat_legacy, ids.play_teams), (0, 2, 62))
        self.assertIsNone(ids.login_acknowledged)
        self.assertIsNone(ids.play_declare_commands)
        self.assertIsNone(packet_ids(765).login_cookie_request)
        self.assertEqual(packet_ids(765).login_acknowledged, 3)
        self.assertIsNone(packet_ids(775).play_chat_legacy)

    def test_proxy_and_backend_share_them(self) -> None:
        """The reference backend's encoders write the ids the proxy reads."""
        from mcproxy.backend.packets import ServerPackets
        for protocol in TIER1_PROTOCOLS:
            self.assertIs(ServerPackets.for_protocol(protocol).ids, packet_ids(protocol))


class GeneratedTableTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not (MINECRAFT_DATA / "package.json").exists():
            raise self.skipTest(f"minecraft-data is not installed at {MINECRAFT_DATA}")

    def test_checked_in_table_is_current(self) -> None:
        """The checked-in JSON is exactly what the generator makes from the pinned data."""
        spec = importlib.util.spec_from_file_location("gen_packet_ids",
                                                      REPO / "tools" / "gen_packet_ids.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertEqual(module.VERSIONS, dict(VERSION_NAMES))
        self.assertEqual(module.generate(MINECRAFT_DATA), packets._load_json())

    def test_protocol_numbers_match_minecraft_data(self) -> None:
        """minecraft-data's own version.json gives each version the protocol we use."""
        data = MINECRAFT_DATA / "minecraft-data" / "data"
        paths = json.loads((data / "dataPaths.json").read_text())["pc"]
        for protocol, version in VERSION_NAMES.items():
            declared = json.loads((data / paths[version]["version"] / "version.json").read_text())
            self.assertEqual(declared["version"], protocol)

    def test_login_success_strict_flag_matches_minecraft_data(self) -> None:
        """Login Success carries strictErrorHandling exactly where minecraft-data says so:
        1.20.5 and 1.21.1, not 1.21.3 (768) onwards."""
        data = MINECRAFT_DATA / "minecraft-data" / "data"
        paths = json.loads((data / "dataPaths.json").read_text())["pc"]
        for protocol, version in VERSION_NAMES.items():
            protocol_json = json.loads((data / paths[version]["protocol"] / "protocol.json").read_text())
            fields = protocol_json["login"]["toClient"]["types"]["packet_success"][1]
            has_flag = any(field["name"] == "strictErrorHandling" for field in fields)
            self.assertEqual(packet_ids(protocol).login_success_has_strict_flag, has_flag, version)
