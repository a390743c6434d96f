"""Generate mcproxy/wire/packet_ids.json and protocols.json from the pinned minecraft-data.

Packet ids change with every protocol version; rather than typing them in, we read them
from minecraft-data (npm, pinned in peers/package.json) and check the result in, so the
table is reviewable in diffs and the package needs no Node at run time.

``packet_ids.json`` holds every packet of the fully supported versions.  ``protocols.json``
holds, for every release protocol from 1.8 (47) on, the packets the proxy watches, their
layouts as minecraft-data writes them (with the named types they use), and the facts
derived from those layouts (configuration state or not, what Login Start carries, which
chat packets exist).
Newer protocols minecraft-data has no tables for take the ids that BungeeCord and Gate
agree on (``tools/upstream_packet_ids.json``, written by ``tools/read_upstream_ids.py``).

Run from the repository root after ``npm ci`` in ``peers/``::

    python tools/gen_packet_ids.py [--data peers/node_modules/minecraft-data]
"""

from __future__ import annotations

import argparse
import hashlib
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


# Every release protocol from 1.8 on: the packets the proxy watches, their layouts, and facts.

#: The oldest protocol the tables cover (1.8); pre-netty numbers below it are reused.
OLDEST_PROTOCOL = 47

#: Packets the proxy reads, writes or must recognise in play, by direction; every packet
#: of the handshaking, status, login and configuration states is watched.  A name absent
#: from a version is simply not recorded for it (absence is a fact too).
WATCHED_PLAY = {
    "clientbound": (
        "login", "respawn", "kick_disconnect", "keep_alive", "custom_payload", "chat",
        "player_chat", "system_chat", "profileless_chat", "declare_commands", "tab_complete",
        "start_configuration", "transfer", "store_cookie", "cookie_request", "set_compression",
        "boss_bar", "playerlist_header", "player_info", "player_remove", "scoreboard_objective",
        "scoreboard_display_objective", "scoreboard_score", "reset_score", "scoreboard_team",
        "teams", "title", "set_title_text", "set_title_subtitle", "set_title_time",
        "clear_titles", "action_bar", "resource_pack_send", "add_resource_pack",
        "remove_resource_pack", "game_state_change", "update_health", "position",
        "spawn_position", "bundle_delimiter", "ping",
    ),
    "serverbound": (
        "keep_alive", "custom_payload", "chat", "chat_message", "chat_command",
        "chat_command_signed", "tab_complete", "configuration_acknowledged", "cookie_response",
        "settings", "resource_pack_receive", "pong", "teleport_confirm",
        "message_acknowledgement", "chat_session_update",
    ),
}

#: Packets whose layout the proxy reads or writes: (state, direction, name).
LAYOUTS = (
    ("login", "serverbound", "login_start"),
    ("login", "serverbound", "encryption_begin"),
    ("login", "serverbound", "login_plugin_response"),
    ("login", "serverbound", "cookie_response"),
    ("login", "clientbound", "disconnect"),
    ("login", "clientbound", "encryption_begin"),
    ("login", "clientbound", "success"),
    ("login", "clientbound", "compress"),
    ("login", "clientbound", "login_plugin_request"),
    ("login", "clientbound", "cookie_request"),
    ("configuration", "clientbound", "disconnect"),
    ("configuration", "clientbound", "custom_payload"),
    ("configuration", "clientbound", "keep_alive"),
    ("configuration", "clientbound", "transfer"),
    ("configuration", "clientbound", "store_cookie"),
    ("configuration", "clientbound", "cookie_request"),
    ("configuration", "serverbound", "custom_payload"),
    ("configuration", "serverbound", "keep_alive"),
    ("configuration", "serverbound", "cookie_response"),
    ("play", "clientbound", "login"),
    ("play", "clientbound", "respawn"),
    ("play", "clientbound", "kick_disconnect"),
    ("play", "clientbound", "keep_alive"),
    ("play", "clientbound", "custom_payload"),
    ("play", "clientbound", "chat"),
    ("play", "clientbound", "player_chat"),
    ("play", "clientbound", "system_chat"),
    ("play", "clientbound", "profileless_chat"),
    ("play", "clientbound", "declare_commands"),
    ("play", "clientbound", "tab_complete"),
    ("play", "clientbound", "transfer"),
    ("play", "clientbound", "store_cookie"),
    ("play", "clientbound", "cookie_request"),
    ("play", "serverbound", "keep_alive"),
    ("play", "serverbound", "custom_payload"),
    ("play", "serverbound", "chat"),
    ("play", "serverbound", "chat_message"),
    ("play", "serverbound", "chat_command"),
    ("play", "serverbound", "chat_command_signed"),
    ("play", "serverbound", "tab_complete"),
    ("play", "serverbound", "cookie_response"),
)

_CHAT = {
    "clientbound": ("chat", "player_chat", "system_chat", "profileless_chat"),
    "serverbound": ("chat", "chat_message", "chat_command", "chat_command_signed"),
}


def _is_release(name: str) -> bool:
    parts = name.split(".")
    return 2 <= len(parts) <= 3 and all(part.isdigit() for part in parts)


def _release_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


def release_protocols(data_dir: Path) -> dict[int, list[str]]:
    """Every netty-era release protocol from 1.8 on -> its release names, oldest first."""
    releases: dict[int, list[str]] = {}
    for entry in _load(data_dir / "pc" / "common" / "protocolVersions.json"):
        name, number = entry["minecraftVersion"], entry["version"]
        if entry.get("usesNetty") and _is_release(name) and number >= OLDEST_PROTOCOL:
            releases.setdefault(number, []).append(name)
    return {number: sorted(names, key=_release_key) for number, names in sorted(releases.items())}


def _field_names(layout) -> list[str]:
    if isinstance(layout, list) and layout and layout[0] == "container":
        return [field.get("name", "") for field in layout[1]]
    return []


def _field_type(layout, field: str):
    if isinstance(layout, list) and layout and layout[0] == "container":
        for entry in layout[1]:
            if entry.get("name") == field:
                return entry["type"]
    return None


def _facts(ids: dict, layouts: dict) -> dict:
    """Per-version facts the per-version code switches on, derived from the layouts."""
    def has(state: str, direction: str, name: str) -> bool:
        return name in ids.get(state, {}).get(direction, {})

    def layout(state: str, direction: str, name: str):
        return layouts.get(f"{state}.{direction}.{name}")

    kick_reason = _field_type(layout("play", "clientbound", "kick_disconnect"), "reason")
    keep_alive_id = _field_type(layout("play", "clientbound", "keep_alive"), "keepAliveId")
    return {
        "configuration_state": "configuration" in ids,
        "login_start_fields": _field_names(layout("login", "serverbound", "login_start")),
        "login_success_fields": _field_names(layout("login", "clientbound", "success")),
        "login_plugin_messages": has("login", "clientbound", "login_plugin_request"),
        "cookies": has("login", "clientbound", "cookie_request"),
        "transfer": has("play", "clientbound", "transfer"),
        "declare_commands": has("play", "clientbound", "declare_commands"),
        "play_set_compression": has("play", "clientbound", "set_compression"),
        "chat_packets": {
            direction: [name for name in names if has("play", direction, name)]
            for direction, names in _CHAT.items()
        },
        "text_format": "json" if kick_reason == "string" else "nbt",
        "keep_alive_id": keep_alive_id,
    }


def _strings(value, skip=("name", "compareTo", "mappings")):
    """Every string in a minecraft-data definition that may name a type."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from _strings(item, skip)


def _named_types(protocol: dict, layouts: dict) -> dict:
    """The named types the layouts use (``SpawnInfo``, ``command_node`` …), from the
    protocol's shared types or the layout's own state and direction, followed through
    each other, so a layout can be read without minecraft-data at hand."""
    shared = protocol.get("types", {})
    found: dict[str, object] = {}
    for where, layout in layouts.items():
        state, direction, _ = where.split(".")
        theirs = next(key for key, value in DIRECTIONS.items() if value == direction)
        local = protocol[state][theirs]["types"]
        pool = {name: definition for name, definition in {**shared, **local}.items()
                if definition != "native" and name != "packet"}
        pending = [layout]
        while pending:
            for name in _strings(pending.pop()):
                if name in pool and name not in found:
                    found[name] = pool[name]
                    pending.append(pool[name])
    return found


def _layout_key(layout) -> str:
    text = json.dumps(layout, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _watched(protocol: dict, where: str) -> tuple[dict, dict]:
    """The watched ids (state -> direction -> name -> id) and their layouts."""
    ids: dict[str, dict[str, dict[str, int]]] = {}
    layouts: dict[str, object] = {}
    for state in STATES:
        if state not in protocol:
            continue
        ids[state] = {}
        for theirs, ours in DIRECTIONS.items():
            every = _packet_map(protocol, state, theirs, where)
            wanted = WATCHED_PLAY[ours] if state == "play" else tuple(every)
            ids[state][ours] = {name: every[name] for name in wanted if name in every}
            for layout_state, direction, name in LAYOUTS:
                if (layout_state, direction) == (state, ours) and name in every:
                    layouts[f"{state}.{ours}.{name}"] = _layout(protocol, state, theirs, name,
                                                                where)
    return ids, layouts


def _layout(protocol: dict, state: str, direction: str, name: str, where: str):
    """minecraft-data's definition of one packet, found through the packet switch
    (shared packets such as cookies are defined once, at the top level)."""
    types = protocol[state][direction]["types"]
    try:
        switch = next(f["type"] for f in types["packet"][1] if f["name"] == "params")
        type_name = switch[1]["fields"][name]
    except (KeyError, IndexError, TypeError, StopIteration):
        raise GenerationError(f"{where}: no layout for {state}.{direction}.{name}") from None
    if type_name in types:
        return types[type_name]
    if type_name in protocol.get("types", {}):
        return protocol["types"][type_name]
    raise GenerationError(f"{where}: {state}.{direction}.{name}: no type {type_name}")


#: What changed against 26.1 in the layouts the proxy reads or writes, for protocols whose
#: ids come from upstream sources (docs/versions.md cites the commits).  Everything else
#: keeps 26.1's facts: both sources leave Login Start, encryption, Set Compression, the
#: configuration packets, system chat, plugin messages, disconnect, keep-alive, Transfer and
#: cookies as they were.
UPSTREAM_FACTS = {
    776: {
        # A trailing play session id (UUID): BungeeCord 0cf68b5, Gate 48a7f91.
        "login_success_fields": ["uuid", "username", "properties", "sessionId"],
        # An online-mode flag between the sea level and enforcesSecureChat: BungeeCord
        # c21769b, Gate 48a7f91.
        "join_game_online_mode": True,
        # The team colour behind a presence flag: BungeeCord 2c270f0, 0b2812d.
        "team_color_optional": True,
        "teleport_confirm_position": False,
        # Parser ids and properties as 26.1 (Gate renamed parser 16 only).
        "command_parsers": "26.1",
    },
    777: {
        "login_success_fields": ["uuid", "username", "properties", "sessionId"],
        "join_game_online_mode": True,
        "team_color_optional": True,
        # Teleport Confirm carries the position and rotation after the id: BotFilter
        # (Leymooo/BungeeCord 7959e44) and LimboAPI read them from 26.3 on.
        "teleport_confirm_position": True,
        # Five parsers inserted, dialog and uuid moved (Gate 23f41dc); no source gives the
        # new parsers' properties.
        "command_parsers": None,
    },
}


def readings(source: dict) -> dict:
    """A source's tables by protocol: its checkout's, then its newer reading's (a newer
    commit or file of the same lineage, for protocols the checkout does not know)."""
    return {**source["protocols"], **source.get("newer", {}).get("protocols", {})}


def agreed_upstream_ids(upstream: dict, number: str) -> dict | None:
    """The ids every recorded source gives for ``number``, or ``None`` if a source lacks
    the protocol; two sources disagreeing on an id is an error, not a choice to make."""
    tables = [readings(source).get(number) for source in upstream["sources"].values()]
    if len(tables) < 2 or any(table is None for table in tables):
        return None
    agreed: dict[str, dict[str, dict[str, int]]] = {}
    first, *others = tables
    for state, directions in first.items():
        for direction, names in directions.items():
            for name, packet_id in names.items():
                seen = [other.get(state, {}).get(direction, {}).get(name) for other in others]
                if any(other is not None and other != packet_id for other in seen):
                    raise GenerationError(f"{number}: sources disagree on {state}.{direction}."
                                          f"{name}: {[packet_id, *seen]}")
                if all(other == packet_id for other in seen):
                    agreed.setdefault(state, {}).setdefault(direction, {})[name] = packet_id
    return agreed


def generate_protocols(data_root: Path, upstream: dict | None = None) -> dict:
    """The every-version table: see the module docstring.  Protocols minecraft-data has
    no tables for take the ids the ``upstream`` sources agree on."""
    package = _load(data_root / "package.json")
    data_dir = data_root / "minecraft-data" / "data"
    paths = _load(data_dir / "dataPaths.json")["pc"]
    shared_layouts: dict[str, object] = {}
    protocols: dict[str, dict] = {}
    without_tables: dict[str, list[str]] = {}
    for number, releases in release_protocols(data_dir).items():
        with_data = [name for name in releases if "protocol" in paths.get(name, {})]
        if not with_data:
            without_tables[str(number)] = releases
            continue
        data_name = with_data[-1]
        declared = _load(data_dir / paths[data_name]["version"] / "version.json")
        if declared.get("version") != number:
            raise GenerationError(
                f"{data_name}: minecraft-data says protocol {declared.get('version')}, not {number}"
            )
        protocol = _load(data_dir / paths[data_name]["protocol"] / "protocol.json")
        ids, layouts = _watched(protocol, data_name)
        refs, type_refs = {}, {}
        for where, layout in sorted(layouts.items()):
            key = _layout_key(layout)
            shared_layouts[key] = layout
            refs[where] = key
        for name, definition in sorted(_named_types(protocol, layouts).items()):
            key = _layout_key(definition)
            shared_layouts[key] = definition
            type_refs[name] = key
        protocols[str(number)] = {
            "releases": releases,
            "data": data_name,
            "source": "minecraft-data",
            "ids": ids,
            "layouts": refs,
            "types": type_refs,
            "facts": _facts(ids, layouts),
        }
    if upstream is not None:
        for number in sorted(without_tables, key=int):
            agreed = agreed_upstream_ids(upstream, number)
            if agreed is not None:
                protocols[number] = {
                    "releases": without_tables.pop(number),
                    "source": "upstream",
                    "ids": agreed,
                    "facts": {**protocols[str(max(VERSIONS))]["facts"],
                              "teleport_confirm_position": False, "command_parsers": "26.1",
                              **UPSTREAM_FACTS.get(int(number), {})},
                }
    return {
        "generator": "tools/gen_packet_ids.py",
        "minecraft_data_version": package["version"],
        "protocols": protocols,
        "without_tables": without_tables,
        "layouts": dict(sorted(shared_layouts.items())),
    }


def dump_compact(table: dict) -> str:
    """Compact JSON with one top-level entry per line, so diffs stay readable."""
    lines = ["{"]
    items = list(table.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if isinstance(value, dict) and value:
            lines.append(f"{json.dumps(key)}:{{")
            inner = list(value.items())
            for inner_index, (inner_key, inner_value) in enumerate(inner):
                inner_comma = "," if inner_index < len(inner) - 1 else ""
                lines.append(f"{json.dumps(inner_key)}:"
                             f"{json.dumps(inner_value, separators=(',', ':'))}{inner_comma}")
            lines.append(f"}}{comma}")
        else:
            lines.append(f"{json.dumps(key)}:{json.dumps(value, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "peers/node_modules/minecraft-data",
                        help="the minecraft-data package directory")
    parser.add_argument("--out", type=Path, default=ROOT / "mcproxy/wire/packet_ids.json")
    parser.add_argument("--protocols-out", type=Path,
                        default=ROOT / "mcproxy/wire/protocols.json")
    parser.add_argument("--upstream", type=Path, default=ROOT / "tools/upstream_packet_ids.json",
                        help="ids recorded from BungeeCord and Gate by read_upstream_ids.py")
    args = parser.parse_args(argv)
    try:
        table = generate(args.data)
        protocols = generate_protocols(args.data, _load(args.upstream))
    except GenerationError as e:
        print(f"gen_packet_ids: {e}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    args.protocols_out.write_text(dump_compact(protocols), encoding="utf-8")
    print(f"wrote {args.out} and {args.protocols_out} "
          f"from minecraft-data {table['minecraft_data_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
