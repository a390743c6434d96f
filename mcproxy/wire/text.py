"""Plain-text fields (kick reasons, the proxy's notices) as each version writes them.

Which encoding a version uses (a JSON string before 1.20.3, NBT from it) and how long a
text it reads are decided in :mod:`mcproxy.wire.chat`; these are its plain-text
shorthands.  Login-state disconnects stay JSON in every version.
"""

from __future__ import annotations

from mcproxy.wire import chat
from mcproxy.wire.types import WireError


def encode_text(protocol: int, text: str) -> bytes:
    """A plain ``text`` as a play or configuration text field of ``protocol``."""
    return chat.encode_text(protocol, chat.text_component(text))


def read_text(protocol: int, fields: bytes) -> str:
    """The plain text of a play or configuration text field (a kick's reason) of ``protocol``."""
    try:
        return chat.plain_text(chat.decode_text(protocol, fields)[0])
    except (WireError, ValueError):
        return "(unreadable reason)"
