"""The client's command tree: the backend's Declare Commands with the proxy's commands added.

The packet is a flat list of Brigadier nodes and the index of the root.  We read just
enough of each node to find where it ends (flags, children, redirect, name, and for an
argument node its parser id and properties), copy every node but the root verbatim,
rewrite the root's children, and append a literal per proxy command (with one greedy
string argument when it takes arguments, suggested by asking the server, i.e. us).
Parsers are named by string identifier in 1.13 – 1.18.2 and by a per-version id from
1.19; both, and their properties' layouts, come from ``mcproxy/wire/command_parsers.json``,
generated from minecraft-data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from mcproxy.wire.types import Incomplete, Reader, WireError, encode_string, encode_varint

ROOT, LITERAL, ARGUMENT = 0, 1, 2
TYPE_MASK = 0x03
EXECUTABLE = 0x04
HAS_REDIRECT = 0x08
HAS_SUGGESTIONS = 0x10
#: Brigadier's StringArgumentType modes.
GREEDY_PHRASE = 2
ASK_SERVER = "minecraft:ask_server"
STRING_PARSER = "brigadier:string"
#: More nodes than any real server declares; a bound on what we parse.
MAX_NODES = 1 << 16

_FIXED = {"none": 0, "byte": 1, "i32": 4}
_RANGES = {"range_f32": 4, "range_f64": 8, "range_i32": 4, "range_i64": 8}


class CommandTreeError(Exception):
    """A Declare Commands packet we cannot parse (it is then forwarded untouched)."""


@dataclass(frozen=True, slots=True)
class Node:
    """Where one node lies in the packet, and what the merge needs of it."""

    start: int
    end: int
    after_children: int
    flags: int
    children: tuple[int, ...]
    name: str | None


@dataclass(frozen=True, slots=True)
class CommandTree:
    data: bytes
    nodes: tuple[Node, ...]
    root: int


@dataclass(frozen=True, slots=True)
class Parsers:
    """One version's argument parsers: named by a VarInt id (1.19 on) or by their string
    identifier (1.13 – 1.18.2), each with the layout of its properties."""

    by_name: bool
    #: By id, for the versions that number them.
    names: tuple[str, ...]
    layouts: Mapping[str, str]
    #: The layout minecraft-data assumes for a parser name it does not list.
    default: str | None

    def read(self, reader: Reader) -> str:
        """The properties layout of the parser at the reader; CommandTreeError if unknown."""
        if self.by_name:
            name = reader.string()
            layout = self.layouts.get(name, self.default)
            if layout is None:
                raise CommandTreeError(f"unknown parser {name}")
            return layout
        parser_id = reader.varint()
        if not 0 <= parser_id < len(self.names):
            raise CommandTreeError(f"unknown parser id {parser_id}")
        return self.layouts[self.names[parser_id]]

    def encode(self, name: str) -> bytes:
        """How an argument node names parser ``name``."""
        if self.by_name:
            return encode_string(name)
        return encode_varint(self.names.index(name))


@lru_cache(maxsize=None)
def _table() -> dict[int, Parsers]:
    text = resources.files("mcproxy.wire").joinpath("command_parsers.json").read_text("utf-8")
    out = {}
    for protocol, entry in json.loads(text)["protocols"].items():
        if isinstance(entry, dict):
            out[int(protocol)] = Parsers(True, (), MappingProxyType(dict(entry["parsers"])), entry["default"])
        else:
            out[int(protocol)] = Parsers(False, tuple(name for name, _ in entry),
                                         MappingProxyType(dict(entry)), None)
    return out


def parsers(protocol: int) -> Parsers:
    """The argument parsers of ``protocol``; KeyError for a version without a commands tree,
    or (26.3) one whose parsers no source describes.

    26.2, known only from upstream proxies, has 26.1's table in ``command_parsers.json``
    (both sources keep every parser's id and properties); 26.3 moved them (see
    ``tools/gen_command_parsers.py``), so it has none and its trees are relayed as sent."""
    return _table()[protocol]


def _skip_properties(reader: Reader, layout: str) -> None:
    if layout in _FIXED:
        reader.raw(_FIXED[layout])
    elif layout == "varint":
        reader.varint()
    elif layout == "string":
        reader.string()
    elif layout in _RANGES:
        flags = reader.ubyte()
        size = _RANGES[layout]
        reader.raw(size * (bool(flags & 0x01) + bool(flags & 0x02)))
    else:
        raise CommandTreeError(f"unknown properties layout {layout}")


def parse(fields: bytes, table: Parsers) -> CommandTree:
    """Find the nodes of a Declare Commands packet (the fields after its id)."""
    reader = Reader(fields)
    try:
        count = reader.varint()
        if not 0 < count <= MAX_NODES:
            raise CommandTreeError(f"{count} nodes")
        nodes = []
        for _ in range(count):
            start = reader.offset
            flags = reader.ubyte()
            children = tuple(reader.varint() for _ in range(_count(reader, count)))
            after_children = reader.offset
            if flags & HAS_REDIRECT:
                reader.varint()
            kind = flags & TYPE_MASK
            if kind not in (ROOT, LITERAL, ARGUMENT):
                raise CommandTreeError(f"node type {kind}")
            name = None
            if kind in (LITERAL, ARGUMENT):
                name = reader.string()
            if kind == ARGUMENT:
                _skip_properties(reader, table.read(reader))
                if flags & HAS_SUGGESTIONS:
                    reader.string()
            nodes.append(Node(start, reader.offset, after_children, flags, children, name))
        root = reader.varint()
        reader.expect_end()
    except (WireError, Incomplete) as error:
        raise CommandTreeError(f"malformed: {error}") from None
    if not 0 <= root < count or nodes[root].flags & TYPE_MASK != ROOT:
        raise CommandTreeError(f"root index {root} is not a root node")
    if any(child >= count for node in nodes for child in node.children):
        raise CommandTreeError("a child index is out of range")
    return CommandTree(bytes(fields), tuple(nodes), root)


def _count(reader: Reader, limit: int) -> int:
    n = reader.varint()
    if not 0 <= n <= limit:
        raise CommandTreeError(f"{n} children")
    return n


@dataclass(frozen=True, slots=True)
class Literal:
    """A proxy command as the tree shows it."""

    name: str
    takes_arguments: bool


def merge(tree: CommandTree, commands: Iterable[Literal], table: Parsers) -> bytes:
    """The packet's fields again, with ``commands`` as literal children of the root.

    A backend command of the same name is unlinked from the root: the proxy runs it.
    """
    commands = list(commands)
    ours = {c.name.lower() for c in commands}
    nodes = tree.nodes
    data = tree.data
    root = nodes[tree.root]
    children = [i for i in root.children if (nodes[i].name or "").lower() not in ours]
    string_parser = table.encode(STRING_PARSER)
    extra: list[bytes] = []
    index = len(nodes)
    for command in commands:
        children.append(index)
        if command.takes_arguments:
            extra.append(_node(LITERAL | EXECUTABLE, [index + 1], command.name))
            extra.append(_node(ARGUMENT | EXECUTABLE | HAS_SUGGESTIONS, [], "args")
                         + string_parser + encode_varint(GREEDY_PHRASE) + encode_string(ASK_SERVER))
            index += 2
        else:
            extra.append(_node(LITERAL | EXECUTABLE, [], command.name))
            index += 1
    out = [encode_varint(index)]
    for position, node in enumerate(nodes):
        if position == tree.root:
            out.append(bytes([node.flags]) + _varints(children) + data[node.after_children:node.end])
        else:
            out.append(data[node.start:node.end])
    out.extend(extra)
    out.append(encode_varint(tree.root))
    return b"".join(out)


def _varints(values: Sequence[int]) -> bytes:
    return encode_varint(len(values)) + b"".join(encode_varint(v) for v in values)


def _node(flags: int, children: Sequence[int], name: str) -> bytes:
    return bytes([flags]) + _varints(children) + encode_string(name)


def root_names(fields: bytes, protocol: int) -> list[str]:
    """The names of the root's children, for tests and diagnostics."""
    tree = parse(fields, parsers(protocol))
    return [tree.nodes[i].name or "" for i in tree.nodes[tree.root].children]


class ProxyCommandTree:
    """Per-player command trees and tab completion for the proxy's commands."""

    def __init__(self, commands, log) -> None:
        self._commands = commands
        self._log = log
        self._warned: set[int] = set()

    def merged(self, player, protocol: int, fields: bytes) -> bytes | None:
        """The Declare Commands fields with the commands ``player`` may run, or None to forward as is."""
        try:
            table = parsers(protocol)
            tree = parse(fields, table)
        except (KeyError, CommandTreeError) as error:
            if protocol not in self._warned:
                self._warned.add(protocol)
                self._log.warn("cannot add proxy commands to the command tree of protocol {protocol}: {error}",
                               protocol=protocol, error=str(error),
                               correlation_id=getattr(player, "correlation_id", ""))
            return None
        literals = [Literal(c.name, bool(c.usage or c.suggest)) for c in self._commands.visible(player)]
        return merge(tree, literals, table)

    def complete(self, player, fields: bytes) -> bytes | None:
        """The Tab-Complete answer for a request about a proxy command, or None when it is not ours."""
        try:
            reader = Reader(fields)
            transaction = reader.varint()
            text = reader.string(32500)
        except (WireError, Incomplete):
            return None
        if not text.startswith("/"):
            return None
        found = self._commands.suggestions(player, text[1:])
        if found is None:
            return None
        start, length, matches = found
        out = [encode_varint(transaction), encode_varint(start + 1), encode_varint(length), encode_varint(len(matches))]
        for match in matches:
            out.append(encode_string(match) + b"\x00")
        return b"".join(out)

    def complete_legacy(self, player, text: str) -> list[str] | None:
        """1.8 – 1.12.2: the matches for a line that is a proxy command with arguments
        (the proxy answers it), or None when the backend should."""
        if not text.startswith("/"):
            return None
        found = self._commands.suggestions(player, text[1:])
        return None if found is None else found[2]

    def names_for(self, player, text: str) -> list[str] | None:
        """1.8 – 1.12.2: for a ``/partial`` line (no space yet), ``/name`` of every proxy
        command ``player`` may run that starts with it; None for any other line."""
        if not text.startswith("/") or " " in text:
            return None
        partial = text[1:].lower()
        return ["/" + c.name for c in self._commands.visible(player) if c.name.lower().startswith(partial)]
