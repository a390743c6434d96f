"""Chat components in their two encodings, and the packet each version shows them in.

Login-state disconnects and the status response carry a component as a JSON string in
every version; play and configuration text is a JSON string before 1.20.3 and network NBT
from it.  Components are plain ``dict``/``str`` values in the JSON shape (``{"text": ...,
"extra": [...]}``); converting one to NBT follows vanilla: booleans become bytes, and a
list mixing plain strings with compounds has its strings wrapped as ``{"text": ...}``.

Every message the proxy writes to a player in play goes through :func:`system_message` and
every play or configuration text field (a kick) through :func:`encode_text`, so the
per-version choice lives here alone.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Union

from mcproxy.wire.nbt import decode_network_nbt, encode_network_nbt
from mcproxy.wire.packets import Direction, State, packet_ids
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import Bytes, Reader, WireError, encode_bool, encode_string, encode_varint

Component = Union[str, dict]

#: Vanilla's ceiling for a JSON chat string (UTF-16 units).
JSON_CHAT_MAX_CHARS = 262144
#: What clients before 1.19 read a JSON chat string or kick reason with.
OLD_JSON_CHAT_MAX_CHARS = 32767
#: The ``position`` of clientbound ``chat`` before 1.19 that means a system message.
LEGACY_POSITION_SYSTEM = 1
#: 1.19's ``system_chat`` type for the chat box (0 is player chat, 2 the action bar).
SYSTEM_CHAT_TYPE = 1


def text_component(text: str) -> dict:
    """A component showing ``text`` literally (no formatting codes are interpreted)."""
    return {"text": text}


def component_to_json(component: Component) -> str:
    """Encode a component as the JSON string the login and status states use."""
    return json.dumps(component, ensure_ascii=False, separators=(",", ":"))


def text_to_json(text: str) -> str:
    """JSON chat for plain ``text``."""
    return component_to_json(text_component(text))


def json_to_component(text: str) -> Component:
    """Parse a JSON chat string; ``WireError`` (``BAD_CHAT``) unless it is a component."""
    if len(text) > JSON_CHAT_MAX_CHARS:
        raise WireError("STRING_TOO_LONG", f"JSON chat over {JSON_CHAT_MAX_CHARS} characters")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise WireError("BAD_CHAT", "not JSON") from None
    if isinstance(value, list):
        value = _join(value)
    if not isinstance(value, (str, dict)):
        raise WireError("BAD_CHAT", "not a chat component")
    return value


def _join(items: list) -> dict:
    """A top-level JSON array means the first component with the rest as its extra."""
    if not items:
        raise WireError("BAD_CHAT", "empty component list")
    first = items[0] if isinstance(items[0], dict) else {"text": str(items[0])}
    extra = first.get("extra")
    return {**first, "extra": (extra if isinstance(extra, list) else []) + items[1:]}


def _to_nbt_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _to_nbt_value(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_to_nbt_value(item) for item in value]
        if any(isinstance(item, dict) for item in items):
            items = [item if isinstance(item, dict) else {"text": str(item)} for item in items]
        return items
    if value is None:
        raise WireError("BAD_CHAT", "null in a chat component")
    return value


def component_to_nbt(component: Component) -> bytes:
    """Encode a component as network NBT (a compound, or a bare string tag for ``str``)."""
    return encode_network_nbt(_to_nbt_value(component))


def text_to_nbt(text: str) -> bytes:
    """Network NBT chat for plain ``text``, as a ``{"text": ...}`` compound."""
    return component_to_nbt(text_component(text))


def nbt_to_component(data: Bytes, offset: int = 0) -> tuple[Component, int]:
    """Decode a network NBT component at ``offset``; return ``(component, offset after)``."""
    value, end = decode_network_nbt(data, offset)
    if not isinstance(value, (str, dict)):
        raise WireError("BAD_CHAT", "NBT chat is neither a compound nor a string")
    return value, end


def plain_text(component: Component) -> str:
    """The component's literal text with formatting dropped (for logs and tests)."""
    parts: list[str] = []
    stack: list[Any] = [component]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict):
            text = item.get("text", item.get("", ""))
            parts.append(text if isinstance(text, str) else str(text))
            extra = item.get("extra", [])
            if isinstance(extra, list):
                stack.extend(reversed(extra))
    return "".join(parts)


# Per version ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextPackets:
    """How one protocol version carries text in play, read off its layouts."""

    protocol: int
    #: Play and configuration text is a JSON string (before 1.20.3), else network NBT.
    json: bool
    #: The packet system messages go in: ``system_chat`` (1.19+) or ``chat``.
    message_id: int
    #: What follows the text in that packet.
    message_tail: bytes
    #: The longest JSON text the client reads.
    max_chars: int


def _field_names(layout) -> list[str]:
    if isinstance(layout, list) and len(layout) == 2 and layout[0] == "container":
        return [field.get("name", "") for field in layout[1]]
    return []


@functools.cache
def text_packets(protocol: int) -> TextPackets:
    """The text facts of ``protocol``; ``KeyError`` for a protocol the tables do not know."""
    ids = packet_ids(protocol)
    info = protocol_info(protocol)
    facts = info.facts if info is not None else {}
    as_json = facts.get("text_format", "nbt") == "json"
    if ids.play_system_chat is not None:
        layout = info.layout(State.PLAY, Direction.CLIENTBOUND, "system_chat") if info is not None else None
        names = _field_names(layout)
        tail = encode_varint(SYSTEM_CHAT_TYPE) if names[1:2] == ["type"] else encode_bool(False)
        return TextPackets(protocol, as_json, ids.play_system_chat, tail, JSON_CHAT_MAX_CHARS)
    names = _field_names(info.layout(State.PLAY, Direction.CLIENTBOUND, "chat"))
    tail = bytes([LEGACY_POSITION_SYSTEM]) + (bytes(16) if "sender" in names else b"")
    return TextPackets(protocol, as_json, ids.play_chat_legacy, tail, OLD_JSON_CHAT_MAX_CHARS)


def encode_text(protocol: int, component: Component) -> bytes:
    """A play or configuration text field: JSON string or NBT, as ``protocol`` reads it.

    Text too long for the client (a JSON string over its limit, an NBT string over 65535
    bytes) is cut to its plain text, never refused: the player still learns something."""
    facts = text_packets(protocol)
    try:
        return _encode(facts, component)
    except WireError:
        # A character is at most 6 JSON characters (an escape) and 3 modified UTF-8 bytes.
        return _encode(facts, text_component(plain_text(component)[:facts.max_chars // 12]))


def _encode(facts: TextPackets, component: Component) -> bytes:
    if facts.json:
        return encode_string(component_to_json(component), facts.max_chars)
    return component_to_nbt(component)


def decode_text(protocol: int, data: Bytes, offset: int = 0) -> tuple[Component, int]:
    """Read a play or configuration text field at ``offset``: ``(component, offset after)``."""
    if not text_packets(protocol).json:
        return nbt_to_component(data, offset)
    reader = Reader(data, offset)
    component = json_to_component(reader.string(JSON_CHAT_MAX_CHARS))
    return component, reader.offset


def system_message(protocol: int, component: Component) -> tuple[int, bytes]:
    """The packet (id, fields) that shows ``component`` in the chat box of a ``protocol`` client."""
    facts = text_packets(protocol)
    return facts.message_id, encode_text(protocol, component) + facts.message_tail
