"""What each protocol version looks like to the proxy, from the generated ``protocols.json``.

One entry per release protocol from 1.8 (47) on: its release names, the ids of the packets
the proxy watches in every state, the layouts it reads or writes (minecraft-data's own
definitions, with the named types they use, stored once where versions share them) and
facts derived from them (configuration state, what Login Start carries, which chat
packets exist, JSON or NBT text).  Per-version code asks these questions of the data
instead of comparing protocol numbers.  Entries for versions minecraft-data lacks (26.2,
26.3) come from the ids BungeeCord and Gate agree on; they carry ids only
(``source == "upstream"``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

from mcproxy.wire.packets import Direction, State


@dataclass(frozen=True)
class ProtocolInfo:
    """One protocol number's packets, layouts and facts."""

    protocol: int
    releases: tuple[str, ...]
    source: str
    _ids: Mapping[str, Mapping[str, Mapping[str, int]]]
    _layouts: Mapping[str, str]
    _types: Mapping[str, str]
    facts: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The newest release with this protocol, as players name their client."""
        return self.releases[-1]

    @property
    def display_name(self) -> str:
        """``1.8-1.8.9`` for a protocol several releases share, else the one release."""
        if len(self.releases) == 1:
            return self.releases[0]
        return f"{self.releases[0]}-{self.releases[-1]}"

    def has_state(self, state: State) -> bool:
        return state.value in self._ids

    def id(self, state: State, direction: Direction, name: str) -> int | None:
        """The id of packet ``name``, or ``None`` if this version has no such packet
        (absence is a fact: no configuration state before 1.20.2, no cookies before 1.20.5)."""
        return self._ids.get(state.value, {}).get(direction.value, {}).get(name)

    def ids(self, state: State, direction: Direction) -> Mapping[str, int]:
        """Every watched packet of a state and direction: name -> id."""
        return MappingProxyType(self._ids.get(state.value, {}).get(direction.value, {}))

    def layout(self, state: State, direction: Direction, name: str) -> Any:
        """minecraft-data's definition of a packet the proxy reads or writes, or ``None``."""
        key = self._layouts.get(f"{state.value}.{direction.value}.{name}")
        return None if key is None else _data()["layouts"][key]

    def named_type(self, name: str) -> Any:
        """The definition of a named type a layout refers to (``SpawnInfo``), or ``None``."""
        key = self._types.get(name)
        return None if key is None else _data()["layouts"][key]


def protocol_info(protocol: int) -> ProtocolInfo | None:
    """The entry for ``protocol``, or ``None`` for a number the tables do not know."""
    return _infos().get(protocol)


def known_protocols() -> tuple[int, ...]:
    """Every protocol number with an entry, oldest first."""
    return tuple(sorted(_infos()))


def without_tables() -> Mapping[int, tuple[str, ...]]:
    """Release protocols in the range that no source gives tables for (1.9.1, 1.14.2)."""
    return MappingProxyType({int(number): tuple(releases)
                             for number, releases in _data()["without_tables"].items()})


@functools.cache
def _data() -> dict:
    text = resources.files("mcproxy.wire").joinpath("protocols.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _infos() -> Mapping[int, ProtocolInfo]:
    return MappingProxyType({
        int(number): ProtocolInfo(
            protocol=int(number),
            releases=tuple(entry["releases"]),
            source=entry["source"],
            _ids=entry["ids"],
            _layouts=entry.get("layouts", {}),
            _types=entry.get("types", {}),
            facts=MappingProxyType(entry.get("facts", {})),
        )
        for number, entry in _data()["protocols"].items()
    })
