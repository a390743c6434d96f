"""The packet ids recorded from BungeeCord and Gate agree with each other and with ours.

minecraft-data has no tables for 26.2 (776) and 26.3 (777); their ids come from two
independent proxies, read by ``tools/read_upstream_ids.py`` (26.3 from a newer reading of
each: a BungeeCord fork's ``Protocol.java`` and Gate's 26.3 table test).  Each reading with
an id history is checked against minecraft-data for every version both have, so a misread
source cannot slip a wrong id into 26.2 or 26.3.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.packets import _NAMED, Direction, State, packet_ids
from mcproxy.wire.protocols import known_protocols, protocol_info

REPO = Path(__file__).resolve().parent.parent
RECORDED = json.loads((REPO / "tools" / "upstream_packet_ids.json").read_text())
SOURCES = RECORDED["sources"]


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readings(source: str) -> dict:
    recorded = SOURCES[source]
    return {**recorded["protocols"], **recorded.get("newer", {}).get("protocols", {})}


def ids_of(source: str, protocol: int) -> dict[tuple[str, str, str], int]:
    table = readings(source)[str(protocol)]
    return {(state, direction, name): packet_id
            for state, directions in table.items()
            for direction, names in directions.items()
            for name, packet_id in names.items()}


def table_and_agreed(protocol: int) -> tuple[dict, dict]:
    """The ids the proxy's table gives ``protocol``, and those both sources agree on."""
    info = protocol_info(protocol)
    bungee, gate = ids_of("bungeecord", protocol), ids_of("gate", protocol)
    agreed = {key: packet_id for key, packet_id in bungee.items() if gate.get(key) == packet_id}
    table = {(state.value, direction.value, name): packet_id
             for state in State for direction in Direction
             for name, packet_id in info.ids(state, direction).items()}
    return table, agreed


def coverage_of(protocol: int) -> dict[str, tuple[str, ...]]:
    """The named packets (of those 26.1 still has) that not both sources give ``protocol``
    an id for, and which of them do."""
    bungee, gate = ids_of("bungeecord", protocol), ids_of("gate", protocol)
    coverage = {}
    for field, (state, direction, name) in _NAMED.items():
        if getattr(packet_ids(775), field) is None:
            continue  # gone before 26.1 (the old chat, titles): no source has it either
        key = (state.value, direction.value, name)
        found = tuple(source for source, ids in (("bungeecord", bungee), ("gate", gate))
                      if key in ids)
        if found != ("bungeecord", "gate"):
            coverage[field] = found
    return coverage


class RecordedSourcesTests(SynchronousTestCase):
    def test_provenance(self) -> None:
        """Each source and each newer reading names its repository, commit and files."""
        self.assertEqual(set(SOURCES), {"bungeecord", "gate"})
        for source in SOURCES.values():
            self.assertRegex(source["commit"], r"^[0-9a-f]{40}$")
            self.assertTrue(source["repository"].startswith("https://github.com/"))
            self.assertEqual(len(source["paths"]), 2)
            newer = source["newer"]
            self.assertRegex(newer["commit"], r"^[0-9a-f]{40}$")
            self.assertTrue(newer["repository"].startswith("https://github.com/"))
            self.assertEqual(len(newer["paths"]), 1)
        self.assertEqual(SOURCES["bungeecord"]["newer"]["repository"],
                         "https://github.com/Leymooo/BungeeCord")

    def test_26_3_comes_from_the_newer_readings(self) -> None:
        """Both checkouts define 26.2 and not 26.3; each lineage's newer reading gives 26.3."""
        for source in SOURCES.values():
            self.assertIn("776", source["protocols"])
            self.assertNotIn("777", source["protocols"])
            self.assertEqual(set(source["newer"]["protocols"]), {"777"})

    def test_sources_agree_with_each_other(self) -> None:
        """Where both sources give an id, it is the same id, in 26.1, 26.2 and 26.3."""
        for protocol in (775, 776, 777):
            bungee, gate = ids_of("bungeecord", protocol), ids_of("gate", protocol)
            common = set(bungee) & set(gate)
            self.assertGreater(len(common), 50)
            for key in common:
                self.assertEqual(bungee[key], gate[key], (protocol, key))

    def test_readings_match_minecraft_data(self) -> None:
        """Every id either source gives for any version minecraft-data also covers is
        minecraft-data's id (a source's class may carry another name in old versions,
        as BungeeCord's Title before 1.17; such names are absent there and skipped)."""
        compared = 0
        histories = [(name, source["mappings"]) for name, source in SOURCES.items()]
        histories.append(("bungeecord fork", SOURCES["bungeecord"]["newer"]["mappings"]))
        for name, mappings in histories:
            for key, history in mappings.items():
                state, direction, packet = key.split(".")
                for protocol in known_protocols():
                    info = protocol_info(protocol)
                    if info.source != "minecraft-data":
                        continue
                    ours = info.id(State(state), Direction(direction), packet)
                    theirs = resolve(history, protocol)
                    if ours is None or theirs is None:
                        continue
                    compared += 1
                    self.assertEqual(theirs, ours, (name, protocol, key))
        self.assertGreater(compared, 4500)

    def test_26_2_table_is_what_both_sources_agree_on(self) -> None:
        """The 26.2 entry holds exactly the ids both sources give, and they equal 26.1's."""
        table, agreed = table_and_agreed(776)
        self.assertEqual(table, agreed)
        older = protocol_info(775)
        for (state, direction, name), packet_id in table.items():
            self.assertEqual(older.id(State(state), Direction(direction), name), packet_id)

    def test_26_3_table_is_what_both_sources_agree_on(self) -> None:
        """The 26.3 entry holds exactly the ids both sources give; the play and
        configuration ids after 26.3's inserted packets moved, as both say."""
        info = protocol_info(777)
        table, agreed = table_and_agreed(777)
        self.assertEqual(table, agreed)
        self.assertEqual(info.source, "upstream")
        self.assertEqual(info.releases, ("26.3",))
        moved = {key for key, packet_id in table.items()
                 if protocol_info(776).id(State(key[0]), Direction(key[1]), key[2]) != packet_id}
        self.assertEqual(moved, {
            ("configuration", "clientbound", "store_cookie"),
            ("configuration", "clientbound", "transfer"),
            ("configuration", "clientbound", "select_known_packs"),
            ("play", "clientbound", "keep_alive"),
            ("play", "clientbound", "login"),
            ("play", "clientbound", "respawn"),
            ("play", "clientbound", "player_remove"),
            ("play", "clientbound", "player_info"),
            ("play", "clientbound", "set_title_subtitle"),
            ("play", "clientbound", "set_title_text"),
            ("play", "clientbound", "set_title_time"),
            ("play", "clientbound", "start_configuration"),
            ("play", "clientbound", "store_cookie"),
            ("play", "clientbound", "system_chat"),
            ("play", "clientbound", "playerlist_header"),
            ("play", "clientbound", "transfer"),
        })
        self.assertEqual((packet_ids(777).play_login, packet_ids(777).play_respawn,
                          packet_ids(777).play_system_chat, packet_ids(777).config_transfer),
                         (0x32, 0x54, 0x7C, 0x0C))

    def test_named_packets_at_26_3(self) -> None:
        """The packets the proxy needs to relay and switch have a 26.3 id from both sources;
        the same few as in 26.2 have one source or none."""
        coverage = coverage_of(777)
        self.assertEqual(set(coverage), set(ONE_SOURCE_OR_NONE_AT_26_2))

    def test_named_packets_at_26_2(self) -> None:
        """Of the packets the proxy and the reference backend resolve by name, all those
        the proxy needs to relay and switch have a 26.2 id from both sources; the rest are
        the limbo's, which one source or none gives (the gap docs/versions.md names)."""
        coverage = coverage_of(776)
        self.assertEqual(coverage, ONE_SOURCE_OR_NONE_AT_26_2)


#: The named packets 26.2 has from one source or none, and which.
ONE_SOURCE_OR_NONE_AT_26_2 = {
    "config_feature_flags": ("gate",),
    "config_registry_data": ("gate",),
    "config_cookie_response": ("gate",),
    # Only for a server taking a configuration over: without it the question goes to the client.
    "config_known_packs_answer": ("gate",),
    "play_game_event": ("bungeecord",),
    "play_spawn_position": (),
    "play_position": (),
    "play_update_health": (),
    "play_teleport_confirm": (),
    "play_message_acknowledgement": ("gate",),
    # Relayed untouched from 1.20.2 on (a switch re-enters configuration, and the
    # client drops its world itself), so one source or none is enough.
    "play_player_chat": (),
    "play_profileless_chat": (),
    "play_scoreboard_objective": ("bungeecord",),
    "play_scoreboard_display_objective": ("bungeecord",),
    "play_scoreboard_score": ("bungeecord",),
    "play_teams": ("bungeecord",),
}


class AgreementRuleTests(SynchronousTestCase):
    def test_disagreement_fails_generation(self) -> None:
        """Two sources giving different ids for one packet stop the generator."""
        generator = load_tool("gen_packet_ids")
        upstream = {"sources": {
            "a": {"protocols": {"900": {"play": {"clientbound": {"login": 1}}}}},
            "b": {"protocols": {"900": {"play": {"clientbound": {"login": 2}}}}},
        }}
        with self.assertRaises(generator.GenerationError):
            generator.agreed_upstream_ids(upstream, "900")

    def test_one_source_is_not_enough(self) -> None:
        """A protocol only one source knows gets no entry; ids only one gives are left out."""
        generator = load_tool("gen_packet_ids")
        upstream = {"sources": {
            "a": {"protocols": {"900": {"play": {"clientbound": {"login": 1, "respawn": 2}}}}},
            "b": {"protocols": {"901": {}, "900": {"play": {"clientbound": {"login": 1}}}}},
        }}
        self.assertEqual(generator.agreed_upstream_ids(upstream, "900"),
                         {"play": {"clientbound": {"login": 1}}})
        self.assertIsNone(generator.agreed_upstream_ids(upstream, "901"))


class ReaderTests(SynchronousTestCase):
    """The source readers, on small excerpts shaped like the real files."""

    def test_bungeecord(self) -> None:
        """A mapping applies from its version on; -1 removes the packet."""
        reader = load_tool("read_upstream_ids")
        constants = ("public static final int MINECRAFT_1_8 = 47;\n"
                     "public static final int MINECRAFT_1_9 = 107;\n"
                     "public static final int MINECRAFT_1_19 = 759;\n")
        protocol = """
    GAME
    {
            TO_CLIENT.registerPacket(
                    Chat.class,
                    Chat::new,
                    map( ProtocolConstants.MINECRAFT_1_8, 0x02 ),
                    map( ProtocolConstants.MINECRAFT_1_9, 0x0F ),
                    map( ProtocolConstants.MINECRAFT_1_19, -1 )
            );
    }
"""
        registry = reader.read_bungeecord(protocol, constants)
        history = registry["play", "clientbound", "Chat"]
        self.assertEqual([reader._resolve(history, p) for p in (47, 107, 340, 759)],
                         [0x02, 0x0F, 0x0F, None])

    def test_bungeecord_fork(self) -> None:
        """A fork's own protocol sections are not read as the last standard one, a
        commented registration is read, and versions the constants lack come from the
        release list."""
        reader = load_tool("read_upstream_ids")
        constants = "public static final int MINECRAFT_26_1 = 775;\n"
        protocol = """
    CONFIGURATION
    {
            TO_CLIENT.registerPacket(
                //todo
                    KeepAlive.class,
                    KeepAlive::new,
                    map( ProtocolConstants.MINECRAFT_26_1, 0x04 )
            );
    },
    BOTFILTER
    {
            TO_CLIENT.registerPacket(
                    KeepAlive.class, KeepAlive::new,
                    map( ProtocolConstants.MINECRAFT_26_1, 0x2C ),
                    map( ProtocolConstants.MINECRAFT_26_3, 0x2D )
            );
    }
"""
        registry = reader.read_bungeecord(protocol, constants, {"MINECRAFT_26_3": 777})
        self.assertEqual(registry,
                         {("configuration", "clientbound", "KeepAlive"): [(775, 4, None)]})
        self.assertEqual(reader.release_constants(
            '[{"minecraftVersion": "26.3", "version": 777, "usesNetty": true,'
            ' "releaseType": "release"}, {"minecraftVersion": "26.3-pre1", "version": 1,'
            ' "usesNetty": true, "releaseType": "snapshot"}]'), {"MINECRAFT_26_3": 777})

    def test_gate_26_3_statement(self) -> None:
        """Gate's stated 26.3 changes move a 26.2 id past each insertion and back over a
        removal, and drop the removed packet."""
        reader = load_tool("read_upstream_ids")
        moved = reader.moved_by_26_3
        self.assertEqual([moved("play", "clientbound", i) for i in (0x24, 0x25, 0x52, 0x79, 0x81)],
                         [0x24, 0x26, 0x54, 0x7C, 0x84])
        self.assertEqual([moved("play", "serverbound", i) for i in (0x2D, 0x31, 0x3F, 0x44)],
                         [0x2D, 0x32, None, 0x44])
        self.assertEqual([moved("configuration", "clientbound", i) for i in (0x09, 0x0A)],
                         [0x09, 0x0B])
        self.assertEqual(moved("login", "clientbound", 0x02), 0x02)

    def test_gate_table(self) -> None:
        """Rows are taken as they are, other watched packets carried from 26.2 by the
        statement; a row the statement does not explain, or whose 26.2 id is not the
        registry's, stops the reading."""
        reader = load_tool("read_upstream_ids")
        registry = {key: [(764, 0x10, None)] for key in reader.GATE_NAMES}
        registry["play", "clientbound", "p.JoinGame"] = [(775, 0x31, None)]
        row = '{"play JoinGame", Play, proto.ClientBound, &p.JoinGame{}, 0x31, 0x32},'
        ids, carried = reader.read_gate_table(row, registry)
        self.assertEqual(ids["play"]["clientbound"]["login"], 0x32)
        self.assertEqual(ids["play"]["clientbound"]["keep_alive"], 0x10)
        self.assertNotIn("play.clientbound.login", carried)
        self.assertIn("play.clientbound.keep_alive", carried)
        with self.assertRaises(reader.ReadError):
            reader.read_gate_table(row.replace("0x32", "0x31"), registry)
        with self.assertRaises(reader.ReadError):
            reader.read_gate_table(row.replace("0x31, 0x32", "0x30, 0x31"), registry)
        with self.assertRaises(reader.ReadError):
            reader.read_gate_table("no rows", registry)

    def test_gate(self) -> None:
        """``m`` applies from its version on; ``ml`` only up to its last version."""
        reader = load_tool("read_upstream_ids")
        version_go = ('Minecraft_1_8 = v(47, "1.8")\nMinecraft_1_9 = v(107, "1.9")\n'
                      'Minecraft_1_12 = v(335, "1.12")\n')
        register = ("\tPlay.ClientBound.Register(&p.Thing{},\n"
                    "\t\tm(0x01, version.Minecraft_1_8),\n"
                    "\t\tml(0x05, version.Minecraft_1_9, version.Minecraft_1_9),\n"
                    "\t)\n")
        registry = reader.read_gate(register, version_go)
        history = registry["play", "clientbound", "p.Thing"]
        self.assertEqual([reader._resolve(history, p) for p in (47, 107, 335)], [1, 5, None])


def resolve(history: list, protocol: int) -> int | None:
    found = None
    for first, packet_id, last in history:
        if first <= protocol and (last is None or protocol <= last):
            found = packet_id
        elif first <= protocol:
            found = None
    return None if found is None or found < 0 else found
