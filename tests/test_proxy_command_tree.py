"""The proxy's commands in the client's command tree, and tab completion for them."""

from __future__ import annotations

import json
import shutil
import uuid
from importlib import resources

from twisted.logger import Logger
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from mcproxy.proxy.command_tree import (
    CommandTreeError, Literal, ProxyCommandTree, merge, parse, parsers, root_names,
)
from mcproxy.proxy.commands import CommandDispatcher, ProxyCommand
from mcproxy.wire.packets import VERSION_NAMES, packet_ids
from mcproxy.wire.protocols import known_protocols, protocol_info
from mcproxy.wire.types import Reader, encode_string, encode_varint
from tests.test_wire_peers import NODE_MODULES, run_peer
from tests.test_wire_protocols import MINECRAFT_DATA, load_generator


def flags(protocol: int, kind: int, executable: bool = False, redirect: bool = False,
          suggestions: bool = False) -> dict:
    value = {"unused": 0, "has_custom_suggestions": int(suggestions), "has_redirect_node": int(redirect),
             "has_command": int(executable), "command_node_type": kind}
    if protocol >= 775:
        value["allows_restricted"] = 0
    return value


def sample_nodes(protocol: int) -> list[dict]:
    """A backend tree touching every properties layout: ranges, enums, flags, strings, redirects."""
    f = lambda *a, **k: flags(protocol, *a, **k)  # noqa: E731
    arg = lambda name, parser, properties=None, **k: {  # noqa: E731
        "flags": f(2, **k), "children": [], "extraNodeData": {"name": name, "parser": parser,
                                                               "properties": properties}}
    nodes = [
        {"flags": f(0), "children": [1, 5, 6, 7]},
        {"flags": f(1), "children": [2], "extraNodeData": {"name": "tp"}},
        {**arg("target", "minecraft:entity", {"unused": 0, "onlyAllowPlayers": 1, "onlyAllowEntities": 0}),
         "children": [3]},
        {**arg("amount", "brigadier:integer", {"flags": {"unused": 0, "max_present": 1, "min_present": 1},
                                                "min": 0, "max": 10}, executable=True), "children": [4]},
        arg("scale", "brigadier:double", {"flags": {"unused": 0, "max_present": 0, "min_present": 1}, "min": 0.5},
            executable=True),
        {"flags": f(1, executable=True), "children": [], "extraNodeData": {"name": "server"}},
        {"flags": f(1, redirect=True), "children": [], "redirectNode": 1, "extraNodeData": {"name": "teleport"}},
        {"flags": f(1), "children": [8, 9, 10], "extraNodeData": {"name": "misc"}},
        {**arg("msg", "brigadier:string", "GREEDY_PHRASE", executable=True, suggestions=True),
         "extraNodeData": {"name": "msg", "parser": "brigadier:string", "properties": "GREEDY_PHRASE",
                           "suggestionType": "minecraft:ask_server"}},
        (arg("when", "minecraft:time", {"min": 1}, executable=True) if parsers(protocol).layouts["minecraft:time"] == "i32"
         else arg("when", "minecraft:score_holder", {"unused": 0, "allowMultiple": 1}, executable=True)),
        arg("biome", "minecraft:resource_or_tag", {"registry": "minecraft:worldgen/biome"}, executable=True),
    ]
    return nodes


#: The tier-1 versions, and one of each older family of the commands tree.
TREE_VERSIONS = {404: "1.13.2", 754: "1.16.5", 758: "1.18.2", 759: "1.19", 760: "1.19.2", 763: "1.20.1",
                 765: "1.20.4", **VERSION_NAMES}


def dispatcher() -> CommandDispatcher:
    commands = CommandDispatcher(Logger(observer=lambda e: None), {"admin.only": ["Admin"]})
    commands.register(ProxyCommand("server", "", "mcproxy.command.server", lambda p, a: None, "[server]",
                                   suggest=lambda p, a: ["lobby", "game", "Lounge"]))
    commands.register(ProxyCommand("glist", "", "mcproxy.command.glist", lambda p, a: None))
    commands.register(ProxyCommand("secret", "", "admin.only", lambda p, a: None, default_allowed=False))
    return commands


class Player:
    def __init__(self, name: str) -> None:
        self.profile = type("Profile", (), {"name": name, "id": uuid.uuid4()})()
        self.correlation_id = "t"


class PeerTreeTests(SynchronousTestCase):
    def setUp(self) -> None:
        if shutil.which("node") is None or not (NODE_MODULES / "minecraft-protocol").is_dir():
            raise SkipTest("node and peers/node_modules are needed")

    def test_merge_round_trips_through_minecraft_protocol(self) -> None:
        """For every tier-1 version and each older family of the node layout (parsers by name
        before 1.19, by per-version id after), a tree minecraft-protocol encodes parses, and our
        merged tree parses back in minecraft-protocol with the backend's nodes intact and ours
        under the root."""
        requests = [{"op": "serialize", "version": TREE_VERSIONS[p], "state": "play", "direction": "toClient",
                     "name": "declare_commands", "params": {"nodes": sample_nodes(p), "rootIndex": 0}}
                    for p in TREE_VERSIONS]
        encoded = {p: bytes.fromhex(r["hex"]) for p, r in zip(TREE_VERSIONS, run_peer(requests))}
        merged = {}
        for protocol, packet in encoded.items():
            reader = Reader(packet)
            packet_id = reader.varint()
            self.assertEqual(packet_id, packet_ids(protocol).play_declare_commands)
            fields = packet[reader.offset:]
            self.assertEqual(root_names(fields, protocol), ["tp", "server", "teleport", "misc"])
            table = parsers(protocol)
            tree = parse(fields, table)
            merged[protocol] = encode_varint(packet_id) + merge(
                tree, [Literal("server", True), Literal("glist", False)], table)
        parsed = run_peer([{"op": "parse", "version": TREE_VERSIONS[p], "state": "play", "direction": "toClient",
                            "hex": merged[p].hex()} for p in TREE_VERSIONS])
        for protocol, result in zip(TREE_VERSIONS, parsed):
            nodes = result["params"]["nodes"]
            original = sample_nodes(protocol)
            root = nodes[result["params"]["rootIndex"]]
            names = [nodes[i]["extraNodeData"]["name"] for i in root["children"]]
            self.assertEqual(names, ["tp", "teleport", "misc", "server", "glist"], protocol)
            self.assertEqual(nodes[3]["extraNodeData"]["properties"]["max"], 10)
            self.assertEqual(nodes[10]["extraNodeData"]["properties"]["registry"], "minecraft:worldgen/biome")
            self.assertEqual(nodes[8]["extraNodeData"]["suggestionType"], "minecraft:ask_server")
            self.assertEqual(len(nodes), len(original) + 3)
            server = nodes[root["children"][3]]
            argument = nodes[server["children"][0]]
            self.assertEqual((argument["extraNodeData"]["parser"], argument["extraNodeData"]["properties"]),
                             ("brigadier:string", "GREEDY_PHRASE"))
            self.assertEqual(argument["extraNodeData"]["suggestionType"], "minecraft:ask_server")
            self.assertEqual(nodes[root["children"][4]]["children"], [])


def tiny_tree(parser_id: int | None = None) -> bytes:
    """Root with one literal "a", and optionally an argument under it with ``parser_id``."""
    nodes = [bytes([0]) + encode_varint(1) + encode_varint(1)]
    if parser_id is None:
        nodes.append(bytes([1]) + encode_varint(0) + encode_string("a"))
    else:
        nodes[0] = bytes([0]) + encode_varint(1) + encode_varint(1)
        nodes.append(bytes([1]) + encode_varint(1) + encode_varint(2) + encode_string("a"))
        nodes.append(bytes([2]) + encode_varint(0) + encode_string("x") + encode_varint(parser_id))
    return encode_varint(len(nodes)) + b"".join(nodes) + encode_varint(0)


class ParseTests(SynchronousTestCase):
    def test_unknown_parser_refused(self) -> None:
        """A parser id outside the version's table cannot be skipped, so the tree is not parsed."""
        self.assertRaises(CommandTreeError, parse, tiny_tree(999), parsers(769))

    def test_truncated_refused(self) -> None:
        """A packet cut short is refused rather than misread."""
        self.assertRaises(CommandTreeError, parse, tiny_tree()[:-2], parsers(769))

    def test_bad_child_index_refused(self) -> None:
        """A child index past the node list is refused."""
        data = encode_varint(1) + bytes([0]) + encode_varint(1) + encode_varint(5) + encode_varint(0)
        self.assertRaises(CommandTreeError, parse, data, parsers(769))

    def test_unparseable_tree_forwarded_and_logged_once(self) -> None:
        """A tree we cannot parse is left to pass untouched (None), with one warning per version."""
        events: list[dict] = []
        trees = ProxyCommandTree(dispatcher(), Logger(observer=events.append))
        self.assertIsNone(trees.merged(Player("a"), 769, tiny_tree(999)))
        self.assertIsNone(trees.merged(Player("a"), 769, tiny_tree(999)))
        self.assertEqual(len(events), 1)

    def test_only_permitted_commands(self) -> None:
        """A player sees the proxy commands they may run, not the others."""
        trees = ProxyCommandTree(dispatcher(), Logger(observer=lambda e: None))
        names = root_names(trees.merged(Player("Steve"), 769, tiny_tree()), 769)
        self.assertEqual(names, ["a", "glist", "server"])
        names = root_names(trees.merged(Player("Admin"), 769, tiny_tree()), 769)
        self.assertEqual(names, ["a", "glist", "secret", "server"])


class TabCompleteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.trees = ProxyCommandTree(dispatcher(), Logger(observer=lambda e: None))

    def request(self, text: str, transaction: int = 7) -> bytes | None:
        return self.trees.complete(Player("Steve"), encode_varint(transaction) + encode_string(text))

    def test_server_names(self) -> None:
        """"/server l" is answered by the proxy: matching server names, case-insensitively, for the last word."""
        answer = Reader(self.request("/server l"))
        self.assertEqual((answer.varint(), answer.varint(), answer.varint()), (7, 8, 1))
        count = answer.varint()
        matches = []
        for _ in range(count):
            matches.append(answer.string())
            self.assertFalse(answer.bool())
        answer.expect_end()
        self.assertEqual(matches, ["Lounge", "lobby"])

    def test_not_ours(self) -> None:
        """Completion for a backend command, for chat, or of a command's own name is left to the backend."""
        self.assertIsNone(self.request("/tp St"))
        self.assertIsNone(self.request("hello"))
        self.assertIsNone(self.request("/server"))

    def test_ours_without_suggestions(self) -> None:
        """A proxy command without a suggester is answered with no matches rather than shown to the backend."""
        answer = Reader(self.request("/glist x"))
        self.assertEqual([answer.varint() for _ in range(4)], [7, 7, 1, 0])
        answer.expect_end()

    def test_not_permitted(self) -> None:
        """A command the player may not run gets no completions from the proxy."""
        self.assertIsNone(self.request("/secret "))


class ParserTableTests(SynchronousTestCase):
    def test_every_version_with_a_tree(self) -> None:
        """Every version from 1.13 has its parsers: by name until 1.18.2, by id from 1.19."""
        for protocol in known_protocols():
            info = protocol_info(protocol)
            if info.source != "minecraft-data":
                continue
            has_tree = bool(info.facts.get("declare_commands"))
            if not has_tree:
                self.assertRaises(KeyError, parsers, protocol)
                continue
            table = parsers(protocol)
            self.assertEqual(table.by_name, protocol < 759, protocol)
            self.assertEqual(table.layouts["brigadier:string"], "varint", protocol)

    def test_upstream_only_version(self) -> None:
        """26.2, known from BungeeCord and Gate only, reads trees with 26.1's parsers (both
        sources keep ids and properties), so a 26.1-shaped tree merges; 26.3, whose parsers
        moved, and an unknown protocol have none."""
        self.assertEqual(parsers(776), parsers(775))
        self.assertRaises(KeyError, parsers, 777)
        names = root_names(ProxyCommandTree(dispatcher(), Logger(observer=lambda e: None)).merged(
            Player("Steve"), 776, tiny_tree()), 776)
        self.assertEqual(names, ["a", "glist", "server"])
        self.assertRaises(KeyError, parsers, 9999)

    def test_parser_by_name(self) -> None:
        """1.13 – 1.18.2 name a parser by string; one minecraft-data does not list reads as it
        assumes (no properties), and our string argument is written by name."""
        table = parsers(404)
        node = bytes([2]) + encode_varint(0) + encode_string("x") + encode_string("minecraft:block_pos")
        tree = parse(encode_varint(2) + bytes([0]) + encode_varint(1) + encode_varint(1) + node + encode_varint(0),
                     table)
        self.assertEqual(tree.nodes[1].name, "x")
        self.assertEqual(table.encode("brigadier:string"), encode_string("brigadier:string"))

    def test_checked_in_table_is_current(self) -> None:
        """command_parsers.json is exactly what the generator makes from the pinned data."""
        if not (MINECRAFT_DATA / "package.json").exists():
            raise SkipTest("minecraft-data is not installed")
        generated = load_generator("gen_command_parsers").generate(MINECRAFT_DATA)
        checked_in = json.loads(resources.files("mcproxy.wire").joinpath("command_parsers.json").read_text("utf-8"))
        self.assertEqual(generated, checked_in)
