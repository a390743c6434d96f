"""Generate ``mcproxy/backend/registry_data.json.gz`` from a pinned minecraft-data.

Configuration-state clients need the server's registries (dimension types, biomes, chat
types, damage types, ...).  minecraft-data ships a capture of a real server's registries per
version in ``loginPacket.json``; this script turns each into ready-to-send network NBT per
registry entry, so the backend does no NBT work at run time.  Facts, not code: rerun it when
minecraft-data is bumped.

    python tools/gen_registry_data.py peers/node_modules/minecraft-data/minecraft-data/data
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcproxy.wire.nbt import encode_mutf8  # noqa: E402  (NBT strings are modified UTF-8)

#: Protocol number -> the newest release sharing it (the version minecraft-data keys data by).
PROTOCOL_RELEASES = {
    766: "1.20.6", 767: "1.21.1", 768: "1.21.3", 769: "1.21.4", 770: "1.21.5",
    771: "1.21.6", 772: "1.21.8", 773: "1.21.10", 774: "1.21.11", 775: "26.1",
}

#: The protocol in which each synchronized registry first had to be sent.  minecraft-data's
#: captures for some versions are older or partial (1.21.5-1.21.8 reuse 1.21.3's, 1.21.9's
#: lacks several); a registry a version needs but its capture lacks is filled in from the
#: oldest capture that has it.  Those fill-ins are what a vanilla client sharing the core
#: pack needs (entry names); their NBT may be a later version's shape.
REGISTRY_SINCE = {
    "minecraft:worldgen/biome": 766, "minecraft:chat_type": 766,
    "minecraft:trim_pattern": 766, "minecraft:trim_material": 766,
    "minecraft:wolf_variant": 766, "minecraft:dimension_type": 766,
    "minecraft:damage_type": 766, "minecraft:banner_pattern": 766,
    "minecraft:painting_variant": 767, "minecraft:enchantment": 767,
    "minecraft:jukebox_song": 767,
    "minecraft:instrument": 768,
    "minecraft:pig_variant": 770, "minecraft:cow_variant": 770,
    "minecraft:chicken_variant": 770, "minecraft:frog_variant": 770,
    "minecraft:cat_variant": 770, "minecraft:wolf_sound_variant": 770,
    "minecraft:test_environment": 770, "minecraft:test_instance": 770,
    "minecraft:dialog": 771,
    "minecraft:zombie_nautilus_variant": 774, "minecraft:timeline": 774,
    "minecraft:cat_sound_variant": 775, "minecraft:chicken_sound_variant": 775,
    "minecraft:cow_sound_variant": 775, "minecraft:pig_sound_variant": 775,
    "minecraft:world_clock": 775,
}

TAG_IDS = {
    "end": 0, "byte": 1, "short": 2, "int": 3, "long": 4, "float": 5, "double": 6,
    "byteArray": 7, "string": 8, "list": 9, "compound": 10, "intArray": 11, "longArray": 12,
}


def _string(text: str) -> bytes:
    raw = encode_mutf8(text)
    return struct.pack(">H", len(raw)) + raw


def _long(value) -> bytes:
    if isinstance(value, list):
        return struct.pack(">ii", value[0], value[1])
    return struct.pack(">q", value)


def encode_payload(tag: str, value) -> bytes:
    """NBT payload for minecraft-data's ``{type, value}`` JSON form."""
    if tag == "byte":
        return struct.pack(">b", value)
    if tag == "short":
        return struct.pack(">h", value)
    if tag == "int":
        return struct.pack(">i", value)
    if tag == "long":
        return _long(value)
    if tag == "float":
        return struct.pack(">f", value)
    if tag == "double":
        return struct.pack(">d", value)
    if tag == "string":
        return _string(value)
    if tag == "byteArray":
        return struct.pack(">i", len(value)) + struct.pack(f">{len(value)}b", *value)
    if tag == "intArray":
        return struct.pack(">i", len(value)) + struct.pack(f">{len(value)}i", *value)
    if tag == "longArray":
        return struct.pack(">i", len(value)) + b"".join(_long(v) for v in value)
    if tag == "compound":
        out = bytearray()
        for name, child in value.items():
            out.append(TAG_IDS[child["type"]])
            out += _string(name)
            out += encode_payload(child["type"], child["value"])
        out.append(0)
        return bytes(out)
    if tag == "list":
        element = value["type"]
        items = value["value"]
        out = bytearray([TAG_IDS[element]])
        out += struct.pack(">i", len(items))
        for item in items:
            out += encode_payload(element, item)
        return bytes(out)
    raise ValueError(f"unknown NBT tag {tag}")


def network_nbt(node: dict) -> bytes:
    """Network NBT (1.20.2+): the root tag's type, no name, then its payload."""
    return bytes([TAG_IDS[node["type"]]]) + encode_payload(node["type"], node["value"])


def _capture(root: Path, login_dir: str) -> dict[str, list]:
    """One capture's registries: id -> [[entry key, base64 network NBT], ...], in order."""
    codec = json.loads((root / login_dir / "loginPacket.json").read_text())["dimensionCodec"]
    return {
        registry_id: [[entry["key"], base64.b64encode(network_nbt(entry["value"])).decode()]
                      for entry in registry["entries"]]
        for registry_id, registry in codec.items()
    }


#: Protocols before the configuration state's per-registry packets (1.16 - 1.20.4) whose
#: world data the limbo sends whole: the dimension codec in Join Game (1.16 - 1.20.1) or in
#: the single ``registry_data`` of configuration (1.20.2 - 1.20.4), and from 1.16.2 to
#: 1.18.2 the dimension type itself.  Each is keyed by the newest release of the protocol.
WORLD_RELEASES = {
    735: "1.16", 736: "1.16.1", 751: "1.16.2", 753: "1.16.3", 754: "1.16.5",
    755: "1.17", 756: "1.17.1", 757: "1.18.1", 758: "1.18.2", 759: "1.19", 760: "1.19.2",
    761: "1.19.3", 762: "1.19.4", 763: "1.20.1", 764: "1.20.2", 765: "1.20.4",
}


def _world(root: Path, login_dir: str) -> dict[str, str | None]:
    """One capture's dimension codec (and dimension type, where Join Game carries it) as
    base64 compound payloads; the limbo adds the root header its version expects."""
    login = json.loads((root / login_dir / "loginPacket.json").read_text())
    dimension = login.get("dimension")
    return {
        "codec": base64.b64encode(encode_payload("compound",
                                                 login["dimensionCodec"]["value"])).decode(),
        "dimension": (base64.b64encode(encode_payload("compound", dimension["value"])).decode()
                      if isinstance(dimension, dict) else None),
    }


def _releases(root: Path) -> dict[int, list[str]]:
    """Every release name of each protocol (all are offered as core known-pack versions)."""
    versions = json.loads((root / "pc" / "common" / "protocolVersions.json").read_text())
    out: dict[int, list[str]] = {}
    for entry in versions:
        if entry.get("releaseType") == "release" and entry["version"] in PROTOCOL_RELEASES:
            out.setdefault(entry["version"], []).append(entry["minecraftVersion"])
    return {protocol: sorted(names) for protocol, names in out.items()}


def main(data_root: str, out_path: str) -> None:
    root = Path(data_root)
    paths = json.loads((root / "dataPaths.json").read_text())["pc"]
    releases = _releases(root)
    base = {protocol: paths[release]["loginPacket"]
            for protocol, release in PROTOCOL_RELEASES.items()}
    captures = {login_dir: _capture(root, login_dir) for login_dir in sorted(set(base.values()))}
    protocols: dict[str, dict] = {}
    for protocol in sorted(PROTOCOL_RELEASES):
        own = captures[base[protocol]]
        registries = [[registry_id, base[protocol]] for registry_id in own]
        for registry_id, since in REGISTRY_SINCE.items():
            if since <= protocol and registry_id not in own:
                donor = next(base[p] for p in sorted(base)
                             if p >= protocol and registry_id in captures[base[p]])
                registries.append([registry_id, donor])
        protocols[str(protocol)] = {"releases": releases[protocol], "registries": registries}
    world_dirs = {protocol: paths[release]["loginPacket"]
                  for protocol, release in WORLD_RELEASES.items()}
    worlds = {login_dir: _world(root, login_dir) for login_dir in sorted(set(world_dirs.values()))}
    document = {"source": "minecraft-data loginPacket.json", "protocols": protocols,
                "captures": captures,
                "world_protocols": {str(p): d for p, d in sorted(world_dirs.items())},
                "worlds": worlds}
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    # mtime=0 keeps the checked-in file byte-identical across regenerations.
    Path(out_path).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else
         str(Path(__file__).resolve().parent.parent / "mcproxy/backend/registry_data.json.gz"))
