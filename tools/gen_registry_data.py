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

#: Protocol number -> the newest release sharing it (the version minecraft-data keys data by,
#: and what we announce as the ``minecraft:core`` known-pack version).
PROTOCOL_RELEASES = {
    766: "1.20.6", 767: "1.21.1", 768: "1.21.3", 769: "1.21.4", 770: "1.21.5",
    771: "1.21.6", 772: "1.21.8", 773: "1.21.10", 774: "1.21.11", 775: "26.1",
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


def main(data_root: str, out_path: str) -> None:
    root = Path(data_root)
    paths = json.loads((root / "dataPaths.json").read_text())["pc"]
    datasets: dict[str, list] = {}
    protocols: dict[str, dict] = {}
    for protocol, release in sorted(PROTOCOL_RELEASES.items()):
        login_dir = paths[release]["loginPacket"]
        if login_dir not in datasets:
            codec = json.loads((root / login_dir / "loginPacket.json").read_text())["dimensionCodec"]
            registries = []
            for registry_id, registry in codec.items():
                entries = [[entry["key"], base64.b64encode(network_nbt(entry["value"])).decode()]
                           for entry in registry["entries"]]
                registries.append([registry_id, entries])
            datasets[login_dir] = registries
        protocols[str(protocol)] = {"release": release, "registries": login_dir}
    document = {"source": "minecraft-data loginPacket.json", "protocols": protocols,
                "registries": datasets}
    raw = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
    # mtime=0 keeps the checked-in file byte-identical across regenerations.
    Path(out_path).write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else
         str(Path(__file__).resolve().parent.parent / "mcproxy/backend/registry_data.json.gz"))
