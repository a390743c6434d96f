"""What a player types, as each version sends it: chat lines and commands.

1.8 – 1.18.2 send one serverbound ``chat`` packet holding the line; a command is a line
starting with ``/``.  1.19 on send commands in ``chat_command`` and chat in
``chat_message``, with signing fields that changed three times (1.19: argument signatures
and a signed preview; 1.19.1: the last-seen messages; 1.19.3: an acknowledgement count and
bitset; 1.20.5 split unsigned commands off into a bare ``chat_command``).  The fields are
read off each version's minecraft-data layout, so a version is a row of data, not a branch.

What the proxy needs: the text, whether the client signed it, the bytes after the text
(kept when a plugin rewrites unsigned text), and, for a packet the proxy swallows, the
``message_acknowledgement`` fields that tell the backend what the client has seen, so the
client's chat chain stays in step with the server (as Velocity does).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from mcproxy.wire.packets import PROTOCOL_1_11, Direction, State
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import Incomplete, Reader, WireError, encode_string, encode_varint

#: The longest chat line a client may send (from 1.11; see :func:`max_line`).
MAX_LINE = 256
#: Before 1.11 a chat line was at most 100 characters; a server refuses a longer one.
OLD_MAX_LINE = 100
#: The longest command a 1.19+ client may send.
MAX_COMMAND = 32767
#: Matches in one old-style completion answer that we read before giving up merging.
MAX_MATCHES = 4096
#: 1.19.3 on: how many newly seen messages the packet acknowledges, by its field name.
_COUNTS = ("messageCount", "offset")
#: An empty last-seen list and no rejected message (1.19.1 – 1.19.2): nothing to tell.
_NOTHING_SEEN = b"\x00\x00"


@dataclass(frozen=True, slots=True)
class Typed:
    """One chat line or command as the client sent it."""

    text: str
    #: The client signed it (a chat signature, or argument signatures of a command).
    signed: bool
    #: The packet's bytes after the text.
    tail: bytes
    #: ``message_acknowledgement`` fields the backend must still get if the packet is
    #: dropped, or None when there is nothing to acknowledge.
    acknowledgement: bytes | None


class InputError(Exception):
    """A chat or command packet that does not match its version's layout."""


def max_line(protocol: int) -> int:
    """The longest chat line (or, before 1.19, command line) the backend of ``protocol`` accepts."""
    return MAX_LINE if protocol >= PROTOCOL_1_11 else OLD_MAX_LINE


@functools.cache
def _layout(protocol: int, name: str):
    info = protocol_info(protocol)
    layout = info.layout(State.PLAY, Direction.SERVERBOUND, name) if info is not None else None
    if not (isinstance(layout, list) and layout[:1] == ["container"]):
        return None, info
    return tuple(layout[1]), info


def read_typed(protocol: int, name: str, fields: bytes) -> Typed:
    """Read serverbound ``name`` (``chat``, ``chat_message``, ``chat_command``,
    ``chat_command_signed``) of ``protocol``; ``InputError`` if it is malformed."""
    layout, info = _layout(protocol, name)
    if layout is None:
        # No layout (a version known from upstream ids only): the text is all we can rely on.
        try:
            reader = Reader(fields)
            text = reader.string(MAX_COMMAND)
        except (WireError, Incomplete) as error:
            raise InputError(f"{name}: {error}") from None
        return Typed(text, name == "chat_command_signed", reader.rest(), None)
    reader = Reader(fields)
    text = ""
    tail_start = 0
    signed = False
    seen_from = None
    acknowledgement = None
    try:
        for position, field in enumerate(layout):
            field_name, kind = field["name"], field["type"]
            if position == 0:
                text = reader.string(MAX_COMMAND if "command" in name else MAX_LINE)
                tail_start = reader.offset
            elif field_name == "argumentSignatures":
                signed = _skip_array(reader, kind, info) > 0
            elif field_name == "signature":
                signed = _skip(reader, kind, info) != 0
            elif field_name in _COUNTS:
                count = reader.varint()
                acknowledgement = encode_varint(count) if count else None
            elif field_name == "previousMessages":
                seen_from = reader.offset
                _skip(reader, kind, info)
            else:
                _skip(reader, kind, info)
        reader.expect_end()
    except (WireError, Incomplete, KeyError) as error:
        raise InputError(f"{name}: {error}") from None
    if seen_from is not None:
        # 1.19.1 – 1.19.2: the acknowledgement packet is the last-seen list and the
        # last rejected message, the packet's final two fields.
        seen = bytes(fields[seen_from:])
        acknowledgement = None if seen == _NOTHING_SEEN else seen
    return Typed(text, signed, bytes(fields[tail_start:]), acknowledgement)


def _skip_array(reader: Reader, kind, info) -> int:
    count = reader.varint()
    if count < 0 or count > reader.remaining():
        raise WireError("BAD_LENGTH", f"{count} entries")
    for _ in range(count):
        _skip(reader, kind[1]["type"], info)
    return count


def _skip(reader: Reader, kind: Any, info) -> int:
    """Step over one value of minecraft-data type ``kind``; returns a size or flag seen
    (buffer length, option presence, array count) for the caller's signed checks."""
    if isinstance(kind, str):
        if kind == "string":
            reader.string(MAX_COMMAND)
        elif kind in ("i64", "u64"):
            reader.raw(8)
        elif kind == "UUID":
            reader.raw(16)
        elif kind in ("bool", "i8", "u8"):
            return reader.ubyte()
        elif kind == "varint":
            return reader.varint()
        elif kind == "void":
            pass
        else:
            named = info.named_type(kind) if info is not None else None
            if named is None:
                raise KeyError(f"type {kind}")
            return _skip(reader, named, info)
        return 0
    head, spec = kind[0], kind[1]
    if head == "buffer":
        size = spec["count"] if "count" in spec else reader.varint()
        if size < 0:
            raise WireError("NEGATIVE_LENGTH", "buffer")
        reader.raw(size)
        return size
    if head == "option":
        present = reader.ubyte()
        if present:
            _skip(reader, spec, info)
        return present
    if head == "array":
        return _skip_array(reader, kind, info)
    if head == "container":
        for field in spec:
            _skip(reader, field["type"], info)
        return 0
    raise KeyError(f"type {head}")


def read_completion_request(protocol: int, fields: bytes) -> tuple[str, bool]:
    """An old-style (1.8 – 1.12.2) tab completion request: the text, and whether it comes
    from a command block (1.9+: then it is a command without its "/")."""
    layout, _ = _layout(protocol, "tab_complete")
    names = [field["name"] for field in layout or ()]
    try:
        reader = Reader(fields)
        text = reader.string(MAX_COMMAND)
        assumed = "assumeCommand" in names and reader.bool()
    except (WireError, Incomplete) as error:
        raise InputError(f"tab_complete: {error}") from None
    return text, assumed


def encode_completions(matches: list[str]) -> bytes:
    """The fields of an old-style (1.8 – 1.12.2) clientbound tab completion: the matches."""
    return encode_varint(len(matches)) + b"".join(encode_string(m) for m in matches)


def decode_completions(fields: bytes) -> list[str]:
    """The matches of an old-style clientbound tab completion; WireError if malformed."""
    reader = Reader(fields)
    count = reader.varint()
    if not 0 <= count <= MAX_MATCHES:
        raise WireError("BAD_LENGTH", f"{count} matches")
    matches = [reader.string() for _ in range(count)]
    reader.expect_end()
    return matches
