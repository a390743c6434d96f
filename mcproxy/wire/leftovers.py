"""What a client before 1.20.2 keeps across a Join Game, read and removed packet by packet.

A vanilla client drops its world on a new Join Game but keeps its boss bars, the
scoreboard's objectives and teams (a 1.8 client rebuilds the scoreboard with the world,
later ones do not), the tab list, its header and footer, and the title on screen.  A proxy
that moves it to another server must take each away itself, and to remove a boss bar,
an objective, a team or a tab list entry it must have seen it created: the readers here
give the name or UUIDs a packet adds or removes, the encoders the packet that removes
them.  Layouts are minecraft-data's for 1.8 – 1.20.1.
"""

from __future__ import annotations

import uuid as _uuid

from mcproxy.wire import chat
from mcproxy.wire.types import Reader, WireError, encode_bool, encode_string, encode_varint

#: The action numbers these packets share in every version they exist in.
BOSS_BAR_ADD, BOSS_BAR_REMOVE = 0, 1
OBJECTIVE_CREATE, OBJECTIVE_REMOVE = 0, 1
TEAM_CREATE, TEAM_REMOVE = 0, 1
PLAYER_INFO_ADD, PLAYER_INFO_REMOVE = 0, 4
#: 1.19.3's Player Info Update: flags, the first of which adds the player.
_ADD_PLAYER, _INITIALIZE_CHAT, _GAME_MODE, _LISTED, _LATENCY, _DISPLAY_NAME = (1 << bit for bit in range(6))
#: The Title packet's reset action: 1.11 inserted "action bar" at 2.
PROTOCOL_1_11 = 315
#: The most tab list entries one packet may name: more is malformed.
MAX_ENTRIES = 4096


def read_boss_bar(fields: bytes) -> tuple[_uuid.UUID, int]:
    """A Boss Bar's UUID and action."""
    reader = Reader(fields)
    return reader.uuid(), reader.varint()


def remove_boss_bar(bar: _uuid.UUID) -> bytes:
    return bar.bytes + encode_varint(BOSS_BAR_REMOVE)


def read_named(fields: bytes) -> tuple[str, int]:
    """The name and mode of a Scoreboard Objective or a Teams packet (they start alike)."""
    reader = Reader(fields)
    return reader.string(), reader.byte()


def remove_named(name: str) -> bytes:
    """An objective or team removal: its name, then mode 1 (remove in both)."""
    return encode_string(name) + b"\x01"


def _entries(reader: Reader) -> int:
    count = reader.varint()
    if count < 0 or count > MAX_ENTRIES:
        raise WireError("ARRAY_TOO_LONG", f"{count} tab list entries")
    return count


def _properties(reader: Reader) -> None:
    for _ in range(_entries(reader)):
        reader.string()
        reader.string()
        if reader.bool():
            reader.string()


def read_player_info(fields: bytes, signed_keys: bool) -> tuple[list, list]:
    """The UUIDs an old-style Player Info (before 1.19.3) adds and removes.

    ``signed_keys``: 1.19 – 1.19.2 end an added entry with the player's optional key.
    """
    reader = Reader(fields)
    action = reader.varint()
    if action not in (PLAYER_INFO_ADD, PLAYER_INFO_REMOVE):
        return [], []
    uuids = []
    for _ in range(_entries(reader)):
        uuids.append(reader.uuid())
        if action == PLAYER_INFO_ADD:
            reader.string()
            _properties(reader)
            reader.varint()
            reader.varint()
            if reader.bool():
                reader.string()
            if signed_keys and reader.bool():
                reader.long()
                reader.byte_array(4096)
                reader.byte_array(4096)
    return (uuids, []) if action == PLAYER_INFO_ADD else ([], uuids)


def read_player_info_update(fields: bytes) -> list:
    """The UUIDs a Player Info Update (1.19.3 – 1.20.1) adds."""
    reader = Reader(fields)
    actions = reader.ubyte()
    added = []
    for _ in range(_entries(reader)):
        entry = reader.uuid()
        if actions & _ADD_PLAYER:
            added.append(entry)
            reader.string()
            _properties(reader)
        if actions & _INITIALIZE_CHAT and reader.bool():
            reader.uuid()
            reader.long()
            reader.byte_array(4096)
            reader.byte_array(4096)
        if actions & _GAME_MODE:
            reader.varint()
        if actions & _LISTED:
            reader.bool()
        if actions & _LATENCY:
            reader.varint()
        if actions & _DISPLAY_NAME and reader.bool():
            reader.string()
    return added


def read_player_remove(fields: bytes) -> list:
    """The UUIDs a Player Remove (1.19.3+) takes off the tab list."""
    reader = Reader(fields)
    return [reader.uuid() for _ in range(_entries(reader))]


def remove_players(uuids, separate_packet: bool) -> bytes:
    """Tab list removal: Player Remove's fields (1.19.3+), else Player Info's action 4."""
    body = encode_varint(len(uuids)) + b"".join(entry.bytes for entry in uuids)
    return body if separate_packet else encode_varint(PLAYER_INFO_REMOVE) + body


def empty_header_footer() -> bytes:
    """Tab list header and footer, both empty (JSON text, as before 1.20.3)."""
    empty = encode_string(chat.text_to_json(""))
    return empty + empty


def reset_title(protocol: int) -> bytes:
    """The Title packet (1.8 – 1.16) that clears the title and resets its timings."""
    return encode_varint(5 if protocol >= PROTOCOL_1_11 else 4)


def clear_titles() -> bytes:
    """Clear Titles (1.17+) with its reset flag set."""
    return encode_bool(True)
