"""The client's command tree: the backend's Declare Commands with the proxy's commands added.

The packet is a flat list of Brigadier nodes and the index of the root.  We read just
enough of each node to find where it ends (flags, children, redirect, name, and for an
argument node its parser id and properties), copy every node but the root verbatim,
rewrite the root's children, and append a literal per proxy command (with one greedy
string argument when it takes arguments, suggested by asking the server, i.e. us).
Parser ids and their properties' layouts change between protocol versions; they come
from ``mcproxy/wire/command_parsers.json``, generated from minecraft-data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

from mcproxy.wire.types import Incomplete, Reader, WireError, encode_string, encode_varint

ROOT, LITERAL, ARGUMENT = 0, 1, 2
TYPE_MASK = 0x03
EXECUTABLE = 0x04
HAS_REDIRECT = 0x08
HAS_SUGGESTIONS = 0x10
#: Brigadier's StringArgumentType modes.
GREEDY_PHRASE = 2
ASK_SERVER = "minecraft:ask_server"
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


@lru_cache(maxsize=None)
def _table() -> dict[int, tuple[tuple[str, str], ...]]:
    text = resources.files("mcproxy.wire").joinpath("command_parsers.json").read_text("utf-8")
    return {int(protocol): tuple((name, layout) for name, layout in parsers)
            for protocol, parsers in json.loads(text)["protocols"].items()}


def parsers(protocol: int) -> tuple[tuple[str, str], ...]:
    """(name, properties layout) by parser id for ``protocol``; KeyError if unknown."""
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


def parse(fields: bytes, table: Sequence[tuple[str, str]]) -> CommandTree:
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
                parser_id = reader.varint()
                if not 0 <= parser_id < len(table):
                    raise CommandTreeError(f"unknown parser id {parser_id}")
                _skip_properties(reader, table[parser_id][1])
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


def merge(tree: CommandTree, commands: Iterable[Literal], table: Sequence[tuple[str, str]]) -> bytes:
    """The packet's fields again, with ``commands`` as literal children of the root.

    A backend command of the same name is unlinked from the root: the proxy runs it.
    """
    commands = list(commands)
    ours = {c.name.lower() for c in commands}
    nodes = tree.nodes
    data = tree.data
    root = nodes[tree.root]
    children = [i for i in root.children if (nodes[i].name or "").lower() not in ours]
    string_parser = next(i for i, (name, _) in enumerate(table) if name == "brigadier:string")
    extra: list[bytes] = []
    index = len(nodes)
    for command in commands:
        children.append(index)
        if command.takes_arguments:
            extra.append(_node(LITERAL | EXECUTABLE, [index + 1], command.name))
            extra.append(_node(ARGUMENT | EXECUTABLE | HAS_SUGGESTIONS, [], "args")
                         + encode_varint(string_parser) + encode_varint(GREEDY_PHRASE) + encode_string(ASK_SERVER))
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
