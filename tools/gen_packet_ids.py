"""Generate mcproxy/wire/packet_ids.json from the pinned minecraft-data.

Packet ids change with every protocol version; rather than typing them in, we read them
from minecraft-data (npm, pinned in peers/package.json) and check the result in, so the
table is reviewable in diffs and the package needs no Node at run time.

Run from the repository root after ``npm ci`` in ``peers/``::

    python tools/gen_packet_ids.py [--data peers/node_modules/minecraft-data]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Tier-1 versions: protocol number -> minecraft-data version name.
VERSIONS = {
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
}

STATES = ("handshaking", "status", "login", "configuration", "play")

#: minecraft-data's direction names, seen from the packet's receiver.
DIRECTIONS = {"toServer": "serverbound", "toClient": "clientbound"}


class GenerationError(Exception):
    """minecraft-data is missing or does not say what we expect."""


def _load(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise GenerationError(f"{path}: {e}") from None


def _packet_map(protocol: dict, state: str, direction: str, where: str) -> dict[str, int]:
    """Read the id -> name mapper of one state and direction, as name -> id in id order."""
    try:
        container = protocol[state][direction]["types"]["packet"]
        fields = container[1]
        mapper = next(f["type"] for f in fields if f["name"] == "name")
        mappings = mapper[1]["mappings"]
    except (KeyError, IndexError, TypeError, StopIteration):
        raise GenerationError(f"{where}: no packet mapper for {state}.{direction}") from None
    by_id = sorted((int(key, 16), name) for key, name in mappings.items())
    out: dict[str, int] = {}
    for packet_id, name in by_id:
        if name in out:
            raise GenerationError(f"{where}: {state}.{direction}: {name} has two ids")
        out[name] = packet_id
    return out


def generate(data_root: Path) -> dict:
    package = _load(data_root / "package.json")
    data_dir = data_root / "minecraft-data" / "data"
    paths = _load(data_dir / "dataPaths.json")["pc"]
    protocols: dict[str, dict] = {}
    for number, version in VERSIONS.items():
        try:
            entry = paths[version]
        except KeyError:
            raise GenerationError(f"minecraft-data has no pc version {version}") from None
        declared = _load(data_dir / entry["version"] / "version.json")
        if declared.get("version") != number:
            raise GenerationError(
                f"{version}: minecraft-data says protocol {declared.get('version')}, not {number}"
            )
        protocol = _load(data_dir / entry["protocol"] / "protocol.json")
        states = {
            state: {
                ours: _packet_map(protocol, state, theirs, version)
                for theirs, ours in DIRECTIONS.items()
            }
            for state in STATES
        }
        protocols[str(number)] = {"version": version, "states": states}
    return {
        "generator": "tools/gen_packet_ids.py",
        "minecraft_data_version": package["version"],
        "protocols": protocols,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "peers/node_modules/minecraft-data",
                        help="the minecraft-data package directory")
    parser.add_argument("--out", type=Path, default=ROOT / "mcproxy/wire/packet_ids.json")
    args = parser.parse_args(argv)
    try:
        table = generate(args.data)
    except GenerationError as e:
        print(f"gen_packet_ids: {e}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} from minecraft-data {table['minecraft_data_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
