"""Chat components in the two encodings the tier-1 versions use.

Login-state disconnects and the status response carry a component as a JSON string; from
1.20.3 on, play and configuration disconnects and ``system_chat`` carry it as network
NBT.  Components are plain ``dict``/``str`` values in the JSON shape (``{"text": ...,
"extra": [...]}``); converting one to NBT follows vanilla: booleans become bytes, and a
list mixing plain strings with compounds has its strings wrapped as ``{"text": ...}``.
"""

from __future__ import annotations

import json
from typing import Any, Union

from mcproxy.wire.nbt import decode_network_nbt, encode_network_nbt
from mcproxy.wire.types import Bytes, WireError

Component = Union[str, dict]

#: Vanilla's ceiling for a JSON chat string (UTF-16 units).
JSON_CHAT_MAX_CHARS = 262144


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
