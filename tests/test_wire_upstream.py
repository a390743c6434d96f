"""The packet ids recorded from BungeeCord and Gate agree with each other and with ours.

minecraft-data has no tables for 26.2 (776); its ids come from two independent proxies,
read by ``tools/read_upstream_ids.py``.  Each reading is checked against minecraft-data
for every version both have, so a misread source cannot slip a wrong id into 26.2.
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


def ids_of(source: str, protocol: int) -> dict[tuple[str, str, str], int]:
    table = SOURCES[source]["protocols"][str(protocol)]
    return {(state, direction, name): packet_id
            for state, directions in table.items()
            for direction, names in directions.items()
            for name, packet_id in names.items()}


class RecordedSourcesTests(SynchronousTestCase):
    def test_provenance(self) -> None:
        """Each source names its repository, commit and files."""
        self.assertEqual(set(SOURCES), {"bungeecord", "gate"})
        for source in SOURCES.values():
            self.assertRegex(source["commit"], r"^[0-9a-f]{40}$")
            self.assertTrue(source["repository"].startswith("https://github.com/"))
            self.assertEqual(len(source["paths"]), 2)

    def test_both_sources_know_26_2(self) -> None:
        """Both sources define 26.2; neither defines 26.3 in the recorded commits."""
        for source in SOURCES.values():
            self.assertIn("776", source["protocols"])
            self.assertNotIn("777", source["protocols"])

    def test_sources_agree_with_each_other(self) -> None:
        """Where both sources give an id, it is the same id, in 26.1 and 26.2."""
        for protocol in (775, 776):
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
        for name, source in SOURCES.items():
            for key, history in source["mappings"].items():
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
        self.assertGreater(compared, 3000)

    def test_26_2_table_is_what_both_sources_agree_on(self) -> None:
        """The 26.2 entry holds exactly the ids both sources give, and they equal 26.1's."""
        info = protocol_info(776)
        bungee, gate = ids_of("bungeecord", 776), ids_of("gate", 776)
        agreed = {key: packet_id for key, packet_id in bungee.items() if gate.get(key) == packet_id}
        table = {(state.value, direction.value, name): packet_id
                 for state in State for direction in Direction
                 for name, packet_id in info.ids(state, direction).items()}
        self.assertEqual(table, agreed)
        older = protocol_info(775)
        for (state, direction, name), packet_id in table.items():
            self.assertEqual(older.id(State(state), Direction(direction), name), packet_id)

    def test_named_packets_at_26_2(self) -> None:
        """Of the packets the proxy and the reference backend resolve by name, all those
        the proxy needs to relay and switch have a 26.2 id from both sources; the rest are
        the limbo's, which one source or none gives (the gap docs/versions.md names)."""
        bungee, gate = ids_of("bungeecord", 776), ids_of("gate", 776)
        coverage = {}
        for field, (state, direction, name) in _NAMED.items():
            if getattr(packet_ids(775), field) is None:
                continue  # gone before 26.1 (the old chat, titles): no source has it either
            key = (state.value, direction.value, name)
            found = tuple(source for source, ids in (("bungeecord", bungee), ("gate", gate))
                          if key in ids)
            if found != ("bungeecord", "gate"):
                coverage[field] = found
        self.assertEqual(coverage, {
            "config_feature_flags": ("gate",),
            "config_registry_data": ("gate",),
            "config_cookie_response": ("gate",),
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
        })


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
