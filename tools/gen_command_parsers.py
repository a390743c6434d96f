"""Generate mcproxy/wire/command_parsers.json from the pinned minecraft-data.

The Declare Commands packet (1.13 on) names each argument node's parser, followed by
properties whose layout depends on the parser: by its string identifier (``brigadier:string``)
until 1.18.2, by a number that changes between versions from 1.19.  To find node boundaries
without understanding every parser, the proxy needs, per version, the parsers (by id, or by
name with the layout minecraft-data assumes for a name it does not list) and the shape of
each one's properties; this script reads them from minecraft-data's ``command_node`` type
for every release protocol that has one and checks the result in beside the packet ids.

Run from the repository root after ``npm ci`` in ``peers/``::

    python tools/gen_command_parsers.py [--data peers/node_modules/minecraft-data]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_packet_ids import ROOT, GenerationError, _load, release_protocols  # noqa: E402

#: Protocols minecraft-data has no tables for whose parsers are another's, id for id and
#: layout for layout: 26.2 kept 26.1's (BungeeCord df0f3db and Gate a8bd4dc agree; Gate only
#: renamed parser 16, ``minecraft:color``, to ``minecraft:team_color``).  26.3 is not here:
#: it inserted five parsers and moved ``dialog`` and ``uuid`` (Gate's 26.3 test, 23f41dc),
#: and no source gives the new parsers' properties, so the proxy leaves a 26.3 command tree
#: as the backend sent it.
SAME_PARSERS_AS = {776: 775}

#: Scalar sizes of the bounds of brigadier's numeric parsers.
_NUMBERS = {"f32": "f32", "f64": "f64", "i32": "i32", "i64": "i64"}


def _layout(spec: object, where: str) -> str:
    """Reduce one parser's properties type to a layout name the proxy can skip over."""
    if spec == "void":
        return "none"
    if isinstance(spec, list) and spec[0] == "mapper" and spec[1].get("type") == "varint":
        return "varint"
    if isinstance(spec, list) and spec[0] == "bitfield":
        if sum(f["size"] for f in spec[1]) == 8:
            return "byte"
    if isinstance(spec, list) and spec[0] == "container":
        fields = spec[1]
        types = [f["type"] for f in fields]
        if len(fields) == 1 and types[0] in ("i32", "string"):
            return types[0]
        if len(fields) == 1 and types[0] in ("bool", "i8", "u8"):
            return "byte"
        if (len(fields) == 3 and isinstance(types[0], list) and types[0][0] == "bitfield"
                and all(isinstance(t, list) and t[0] == "switch" for t in types[1:])):
            bound = types[1][1]["fields"]["1"]
            if bound in _NUMBERS and types[2][1]["fields"]["1"] == bound:
                return f"range_{bound}"
    raise GenerationError(f"{where}: properties layout not understood: {json.dumps(spec)[:200]}")


def _parsers(protocol: dict, where: str) -> list[list[str]] | dict | None:
    """A list of [name, layout] by parser id, or for string identifiers an object with the
    listed parsers and the default layout; None for a version without a commands tree."""
    node = protocol["types"].get("command_node")
    if node is None:
        return None
    try:
        extra = next(f["type"] for f in node[1] if f["name"] == "extraNodeData")
        argument = extra[1]["fields"]["2"][1]
        parser = next(f["type"] for f in argument if f["name"] == "parser")
        switch = next(f["type"] for f in argument if f["name"] == "properties")[1]
    except (KeyError, IndexError, TypeError, StopIteration):
        raise GenerationError(f"{where}: no command_node argument parsers") from None
    default = switch.get("default", "void")
    if parser == "string":
        listed = [[name, _layout(spec, f"{where}: {name}")] for name, spec in sorted(switch["fields"].items())]
        return {"by": "name", "parsers": listed, "default": _layout(default, f"{where}: default")}
    out = []
    for key, name in sorted(parser[1]["mappings"].items(), key=lambda item: int(item[0])):
        if int(key) != len(out):
            raise GenerationError(f"{where}: parser ids are not contiguous at {key}")
        out.append([name, _layout(switch["fields"].get(name, default), f"{where}: {name}")])
    return out


def generate(data_root: Path) -> dict:
    package = _load(data_root / "package.json")
    data_dir = data_root / "minecraft-data" / "data"
    paths = _load(data_dir / "dataPaths.json")["pc"]
    protocols = {}
    for number, releases in release_protocols(data_dir).items():
        with_data = [name for name in releases if "protocol" in paths.get(name, {})]
        if not with_data:
            continue
        protocol = _load(data_dir / paths[with_data[-1]]["protocol"] / "protocol.json")
        table = _parsers(protocol, with_data[-1])
        if table is not None:
            protocols[str(number)] = table
    for number, same in SAME_PARSERS_AS.items():
        protocols[str(number)] = protocols[str(same)]
    return {
        "generator": "tools/gen_command_parsers.py",
        "minecraft_data_version": package["version"],
        "protocols": protocols,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "peers/node_modules/minecraft-data",
                        help="the minecraft-data package directory")
    parser.add_argument("--out", type=Path, default=ROOT / "mcproxy/wire/command_parsers.json")
    args = parser.parse_args(argv)
    try:
        table = generate(args.data)
    except GenerationError as e:
        print(f"gen_command_parsers: {e}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} from minecraft-data {table['minecraft_data_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
