"""Text fields (kick reasons, system messages) as each version writes them.

Play-state text was a JSON string until 1.20.3 and is NBT since; the fact comes from the
tables (``text_format``).  Login-state disconnects stay JSON in every version.
"""

from __future__ import annotations

from mcproxy.wire import chat
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import Reader, WireError, encode_string


def is_json_text(protocol: int) -> bool:
    """Whether ``protocol`` writes text (kicks, chat) as a JSON string: before 1.20.3,
    which switched to NBT."""
    info = protocol_info(protocol)
    return info is not None and info.facts.get("text_format") == "json"


def encode_text(protocol: int, text: str) -> bytes:
    """A plain ``text`` as a play-state text field of ``protocol``: a JSON string or NBT."""
    if is_json_text(protocol):
        return encode_string(chat.text_to_json(text))
    return chat.text_to_nbt(text)


def read_text(protocol: int, fields: bytes) -> str:
    """The plain text of a play-state text field (a kick's reason) of ``protocol``."""
    try:
        if is_json_text(protocol):
            return chat.plain_text(chat.json_to_component(Reader(fields).string()))
        return chat.plain_text(chat.nbt_to_component(fields)[0])
    except (WireError, ValueError):
        return "(unreadable reason)"
