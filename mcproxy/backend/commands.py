"""Chat commands in the limbo: its own few, and the bridge to the proxy's registry.

Clients learn command names from ``declare_commands`` (Brigadier's node graph): a root,
one executable literal per command, each with an optional greedy-string argument so any
arguments tab-complete as free text.
"""

from __future__ import annotations

from typing import Sequence

from mcproxy.wire.types import encode_string, encode_varint

#: The limbo's own commands and the one-line help for each.
BUILTIN_COMMANDS = {
    "help": "list the commands you can use",
    "where": "show which server you are on",
    "players": "list the players on this server",
}

_NODE_ROOT = 0
_NODE_LITERAL = 1
_NODE_ARGUMENT = 2
_FLAG_EXECUTABLE = 0x04
#: ``brigadier:string`` in the parser registry of every version since 1.19; 1.13 - 1.18.2
#: name the parser instead.  Property 2 = greedy phrase.
_PARSER_STRING = 5
_PARSER_STRING_NAME = "brigadier:string"
_STRING_GREEDY = 2


def encode_command_tree(names: Sequence[str], parser_by_name: bool = False) -> bytes:
    """The ``declare_commands`` body (without packet id) for these command names;
    ``parser_by_name`` for 1.13 - 1.18.2 clients."""
    parser = encode_string(_PARSER_STRING_NAME) if parser_by_name else encode_varint(_PARSER_STRING)
    names = sorted(set(names))
    nodes: list[bytes] = []
    # Node 0 is the root; command i is node 1 + 2i, its argument node 2 + 2i.
    children = [1 + 2 * index for index in range(len(names))]
    nodes.append(bytes((_NODE_ROOT,)) + encode_varint(len(children))
                 + b"".join(encode_varint(child) for child in children))
    for index, name in enumerate(names):
        argument = 2 + 2 * index
        nodes.append(bytes((_NODE_LITERAL | _FLAG_EXECUTABLE,)) + encode_varint(1)
                     + encode_varint(argument) + encode_string(name))
        nodes.append(bytes((_NODE_ARGUMENT | _FLAG_EXECUTABLE,)) + encode_varint(0)
                     + encode_string("args") + parser + encode_varint(_STRING_GREEDY))
    return encode_varint(len(nodes)) + b"".join(nodes) + encode_varint(0)


def split_command(line: str) -> tuple[str, str]:
    """``"msg bob hi"`` -> ``("msg", "bob hi")``; a leading slash is tolerated."""
    line = line.strip().lstrip("/")
    name, _, rest = line.partition(" ")
    return name.lower(), rest.strip()
