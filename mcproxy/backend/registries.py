"""Registry data for the configuration state, loaded once from the generated file.

``registry_data.json.gz`` is produced by ``tools/gen_registry_data.py`` from minecraft-data's
captures of real servers.  A client that answers the known-pack offer with the same
``minecraft:core`` version gets entries without NBT and fills them from its own copy, as
vanilla servers do; any other client (the minecraft-protocol family answers with no packs,
and mineflayer reads every entry's data) gets the full NBT.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

from mcproxy.backend.packets import ServerPackets

DATA_FILE = "registry_data.json.gz"


@dataclass(frozen=True)
class VersionRegistries:
    """What one protocol version needs during configuration."""

    protocol: int
    #: Every release of this protocol, each offered as a ``minecraft:core`` known pack so
    #: a vanilla client can answer with its own.
    releases: tuple[str, ...]
    #: Ready-to-frame ``registry_data`` packet bodies, one per registry, with full NBT.
    packets: tuple[bytes, ...]
    #: The same registries with entry names only, for clients sharing the core pack.
    known_pack_packets: tuple[bytes, ...]
    #: Index of each dimension type, for the play login packet.
    dimension_indices: dict[str, int]


@dataclass(frozen=True)
class WorldData:
    """1.16 - 1.20.4: the dimension codec sent whole, and (1.16.2 - 1.18.2) the dimension
    type Join Game carries; compound payloads without a root header."""

    codec: bytes
    dimension: bytes | None

    def codec_nbt(self, named: bool) -> bytes:
        """The codec as Join Game's named NBT (root name "") or configuration's nameless one."""
        return (b"\x0a\x00\x00" if named else b"\x0a") + self.codec

    def dimension_nbt(self) -> bytes | None:
        return None if self.dimension is None else b"\x0a\x00\x00" + self.dimension


class RegistryStore:
    """Builds each protocol's registry packets on first use and keeps them."""

    def __init__(self, document: dict) -> None:
        self._document = document
        self._built: dict[int, VersionRegistries] = {}
        self._worlds: dict[int, WorldData] = {}

    @classmethod
    def load(cls) -> "RegistryStore":
        raw = resources.files("mcproxy.backend").joinpath(DATA_FILE).read_bytes()
        return cls(json.loads(gzip.decompress(raw)))

    def protocols(self) -> Sequence[int]:
        return sorted(int(p) for p in self._document["protocols"])

    def world_protocols(self) -> Sequence[int]:
        """Protocols before 1.20.5 whose world data minecraft-data captured (1.16 on)."""
        return sorted(int(p) for p in self._document.get("world_protocols", {}))

    def world(self, protocol: int) -> WorldData:
        """The dimension codec of a 1.16 - 1.20.4 protocol (decoded once); ``KeyError`` for
        others."""
        world = self._worlds.get(protocol)
        if world is None:
            entry = self._document["worlds"][self._document["world_protocols"][str(protocol)]]
            dimension = entry["dimension"]
            world = self._worlds[protocol] = WorldData(
                base64.b64decode(entry["codec"]),
                None if dimension is None else base64.b64decode(dimension))
        return world

    def for_protocol(self, protocol: int) -> VersionRegistries:
        built = self._built.get(protocol)
        if built is None:
            built = self._built[protocol] = self._build(protocol)
        return built

    def _build(self, protocol: int) -> VersionRegistries:
        info = self._document["protocols"][str(protocol)]
        captures = self._document["captures"]
        packets = ServerPackets.for_protocol(protocol)
        bodies = []
        bare = []
        dimensions: dict[str, int] = {}
        for registry_id, capture in info["registries"]:
            decoded = [(key, base64.b64decode(nbt)) for key, nbt in captures[capture][registry_id]]
            bodies.append(packets.registry_data(registry_id, decoded))
            bare.append(packets.registry_data(registry_id, [(key, None) for key, _ in decoded]))
            if registry_id == "minecraft:dimension_type":
                dimensions = {key: index for index, (key, _) in enumerate(decoded)}
        return VersionRegistries(protocol, tuple(info["releases"]), tuple(bodies), tuple(bare),
                                 dimensions)
