"""Packet ids per protocol version, from the generated ``packet_ids.json``.

The table is facts taken from minecraft-data by ``tools/gen_packet_ids.py``; packet names
are minecraft-data's (``kick_disconnect``, ``chat_command``, ``start_configuration`` …).
It is loaded once, on first use, into plain dicts in both directions, so that a lookup
on the relay's path is a single dict access; hot code can hold on to :meth:`PacketTable.ids`
or :meth:`PacketTable.names` for one state and direction.
"""

from __future__ import annotations

import enum
import functools
import json
from importlib import resources
from types import MappingProxyType
from typing import Mapping


class State(enum.Enum):
    """Protocol states, named as in minecraft-data."""

    HANDSHAKING = "handshaking"
    STATUS = "status"
    LOGIN = "login"
    CONFIGURATION = "configuration"
    PLAY = "play"


class Direction(enum.Enum):
    """Which way a packet travels (minecraft-data's ``toServer`` / ``toClient``)."""

    SERVERBOUND = "serverbound"
    CLIENTBOUND = "clientbound"


#: Protocol numbers with full support, and their Minecraft versions.
VERSION_NAMES: Mapping[int, str] = MappingProxyType({
    766: "1.20.5",
    767: "1.21.1",
    768: "1.21.3",
    769: "1.21.4",
    770: "1.21.5",
    771: "1.21.6",
    772: "1.21.8",
    773: "1.21.9",
    774: "1.21.11",
    775: "26.1",
})
TIER1_PROTOCOLS: tuple[int, ...] = tuple(sorted(VERSION_NAMES))


class PacketTable:
    """The packet ids of one protocol version."""

    __slots__ = ("protocol", "version", "_ids", "_names")

    def __init__(self, protocol: int, version: str,
                 states: Mapping[str, Mapping[str, Mapping[str, int]]]) -> None:
        self.protocol = protocol
        self.version = version
        self._ids: dict[tuple[State, Direction], Mapping[str, int]] = {}
        self._names: dict[tuple[State, Direction], Mapping[int, str]] = {}
        for state in State:
            for direction in Direction:
                ids = dict(states[state.value][direction.value])
                self._ids[state, direction] = MappingProxyType(ids)
                self._names[state, direction] = MappingProxyType(
                    {packet_id: name for name, packet_id in ids.items()}
                )

    def __repr__(self) -> str:
        return f"<PacketTable {self.protocol} ({self.version})>"

    @classmethod
    def for_protocol(cls, protocol: int) -> PacketTable | None:
        """The table for ``protocol``, or ``None`` for a protocol we do not support
        (the caller is looking at a client's handshake, so that is an answer, not a bug).
        """
        return _tables().get(protocol)

    def id(self, state: State, direction: Direction, name: str) -> int:
        """The id of packet ``name``; ``KeyError`` if this version has no such packet."""
        return self._ids[state, direction][name]

    def name(self, state: State, direction: Direction, packet_id: int) -> str | None:
        """The name of the packet with ``packet_id``, or ``None`` if the id is unused
        (ids come off the wire, so an unknown one is input to refuse, not a bug).
        """
        return self._names[state, direction].get(packet_id)

    def ids(self, state: State, direction: Direction) -> Mapping[str, int]:
        """Every packet of a state and direction: name -> id."""
        return self._ids[state, direction]

    def names(self, state: State, direction: Direction) -> Mapping[int, str]:
        """Every packet of a state and direction: id -> name."""
        return self._names[state, direction]


def _load_json() -> dict:
    text = resources.files("mcproxy.wire").joinpath("packet_ids.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _tables() -> Mapping[int, PacketTable]:
    data = _load_json()
    return MappingProxyType({
        int(number): PacketTable(int(number), entry["version"], entry["states"])
        for number, entry in data["protocols"].items()
    })


@functools.cache
def minecraft_data_version() -> str:
    """The minecraft-data release the table was generated from."""
    return str(_load_json()["minecraft_data_version"])
