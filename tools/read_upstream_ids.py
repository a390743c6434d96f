"""Record the packet ids BungeeCord and Gate give for versions minecraft-data lacks.

minecraft-data 3.119.0 lists 26.2 (776) and 26.3 (777) but has no protocol tables for
them.  Two independent proxies carry their ids: BungeeCord's ``Protocol.java`` (with
``ProtocolConstants.java``) and Gate's ``proto/state/register.go`` (with
``proto/version/version.go``).  This script reads both from git checkouts at a given
commit and writes, for each source, the ids of the packets we watch under
minecraft-data's names, for 26.1 (where minecraft-data can check the reading) and for
every newer protocol the source knows, and each packet's id history over all versions
(which the tests hold against every minecraft-data table we generate).
``tools/gen_packet_ids.py`` takes a newer protocol into ``protocols.json`` only where both
sources agree.

Protocols newer than those checkouts know come from a newer reading of each lineage, kept
as the source's ``newer`` entry: a BungeeCord fork's ``Protocol.java`` (same format; its
version constants from BungeeCord's ``ProtocolConstants.java``, and any it adds from
minecraft-data's release list), and Gate's table test of a version's ids
(``register_26_3_test.go``), whose rows are taken as they are and whose stated insertions
move Gate's other 26.2 ids (the reader checks the statement against every row).  Both are
plain files saved from the named commit (``git show COMMIT:PATH`` in a clone, or the raw
file of that commit).

Run from the repository root with bare or full clones of both projects::

    python tools/read_upstream_ids.py --bungeecord DIR@COMMIT --gate DIR@COMMIT \
        [--bungeecord-fork OWNER/NAME@COMMIT=Protocol.java] \
        [--gate-table COMMIT=register_26_3_test.go]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tools" / "upstream_packet_ids.json"

#: The newest protocol minecraft-data has tables for; sources are read from here on.
CHECKED_PROTOCOL = 775

BUNGEE_PROTOCOL = "protocol/src/main/java/net/md_5/bungee/protocol/Protocol.java"
BUNGEE_CONSTANTS = "protocol/src/main/java/net/md_5/bungee/protocol/ProtocolConstants.java"
GATE_REGISTER = "pkg/edition/java/proto/state/register.go"
GATE_VERSION = "pkg/edition/java/proto/version/version.go"
GATE_TABLE_26_3 = "pkg/edition/java/proto/state/register_26_3_test.go"
RELEASES = ROOT / "peers/node_modules/minecraft-data/minecraft-data/data/pc/common/protocolVersions.json"

_BUNGEE_STATES = {"HANDSHAKE": "handshaking", "STATUS": "status", "LOGIN": "login",
                  "CONFIGURATION": "configuration", "GAME": "play"}
_GATE_STATES = {"Handshake": "handshaking", "Status": "status", "Login": "login",
                "Config": "configuration", "Play": "play"}
_DIRECTIONS = {"TO_CLIENT": "clientbound", "TO_SERVER": "serverbound",
               "ClientBound": "clientbound", "ServerBound": "serverbound"}

#: (state, direction, class) -> minecraft-data packet name, for the packets we watch.
BUNGEE_NAMES = {
    ("handshaking", "serverbound", "Handshake"): "set_protocol",
    ("status", "serverbound", "StatusRequest"): "ping_start",
    ("status", "serverbound", "PingPacket"): "ping",
    ("status", "clientbound", "StatusResponse"): "server_info",
    ("status", "clientbound", "PingPacket"): "ping",
    ("login", "serverbound", "LoginRequest"): "login_start",
    ("login", "serverbound", "EncryptionResponse"): "encryption_begin",
    ("login", "serverbound", "LoginPayloadResponse"): "login_plugin_response",
    ("login", "serverbound", "LoginAcknowledged"): "login_acknowledged",
    ("login", "serverbound", "CookieResponse"): "cookie_response",
    ("login", "clientbound", "Kick"): "disconnect",
    ("login", "clientbound", "EncryptionRequest"): "encryption_begin",
    ("login", "clientbound", "LoginSuccess"): "success",
    ("login", "clientbound", "SetCompression"): "compress",
    ("login", "clientbound", "LoginPayloadRequest"): "login_plugin_request",
    ("login", "clientbound", "CookieRequest"): "cookie_request",
    ("configuration", "serverbound", "ClientSettings"): "settings",
    ("configuration", "serverbound", "PluginMessage"): "custom_payload",
    ("configuration", "serverbound", "FinishConfiguration"): "finish_configuration",
    ("configuration", "serverbound", "KeepAlive"): "keep_alive",
    ("configuration", "clientbound", "CookieRequest"): "cookie_request",
    ("configuration", "clientbound", "PluginMessage"): "custom_payload",
    ("configuration", "clientbound", "Kick"): "disconnect",
    ("configuration", "clientbound", "FinishConfiguration"): "finish_configuration",
    ("configuration", "clientbound", "KeepAlive"): "keep_alive",
    ("configuration", "clientbound", "StoreCookie"): "store_cookie",
    ("configuration", "clientbound", "Transfer"): "transfer",
    ("configuration", "clientbound", "KnownPacks"): "select_known_packs",
    ("play", "serverbound", "KeepAlive"): "keep_alive",
    ("play", "serverbound", "PluginMessage"): "custom_payload",
    ("play", "serverbound", "ClientChat"): "chat_message",
    ("play", "serverbound", "ClientCommand"): "chat_command_signed",
    ("play", "serverbound", "UnsignedClientCommand"): "chat_command",
    ("play", "serverbound", "TabCompleteRequest"): "tab_complete",
    ("play", "serverbound", "ClientSettings"): "settings",
    ("play", "serverbound", "StartConfiguration"): "configuration_acknowledged",
    ("play", "serverbound", "CookieResponse"): "cookie_response",
    ("play", "clientbound", "KeepAlive"): "keep_alive",
    ("play", "clientbound", "Login"): "login",
    ("play", "clientbound", "Respawn"): "respawn",
    ("play", "clientbound", "Kick"): "kick_disconnect",
    ("play", "clientbound", "PluginMessage"): "custom_payload",
    ("play", "clientbound", "SystemChat"): "system_chat",
    ("play", "clientbound", "Commands"): "declare_commands",
    ("play", "clientbound", "TabCompleteResponse"): "tab_complete",
    ("play", "clientbound", "StartConfiguration"): "start_configuration",
    ("play", "clientbound", "Transfer"): "transfer",
    ("play", "clientbound", "StoreCookie"): "store_cookie",
    ("play", "clientbound", "CookieRequest"): "cookie_request",
    ("play", "clientbound", "BossBar"): "boss_bar",
    ("play", "clientbound", "PlayerListHeaderFooter"): "playerlist_header",
    ("play", "clientbound", "PlayerListItemUpdate"): "player_info",
    ("play", "clientbound", "PlayerListItemRemove"): "player_remove",
    ("play", "clientbound", "ScoreboardObjective"): "scoreboard_objective",
    ("play", "clientbound", "ScoreboardDisplay"): "scoreboard_display_objective",
    ("play", "clientbound", "ScoreboardScore"): "scoreboard_score",
    ("play", "clientbound", "ScoreboardScoreReset"): "reset_score",
    ("play", "clientbound", "Team"): "teams",
    ("play", "clientbound", "Title"): "set_title_text",
    ("play", "clientbound", "Subtitle"): "set_title_subtitle",
    ("play", "clientbound", "TitleTimes"): "set_title_time",
    ("play", "clientbound", "ClearTitles"): "clear_titles",
    ("play", "clientbound", "GameState"): "game_state_change",
    ("play", "clientbound", "BundleDelimiter"): "bundle_delimiter",
}

GATE_NAMES = {
    ("handshaking", "serverbound", "p.Handshake"): "set_protocol",
    ("status", "serverbound", "p.StatusRequest"): "ping_start",
    ("status", "serverbound", "p.StatusPing"): "ping",
    ("status", "clientbound", "p.StatusResponse"): "server_info",
    ("status", "clientbound", "p.StatusPing"): "ping",
    ("login", "serverbound", "p.ServerLogin"): "login_start",
    ("login", "serverbound", "p.EncryptionResponse"): "encryption_begin",
    ("login", "serverbound", "p.LoginPluginResponse"): "login_plugin_response",
    ("login", "serverbound", "p.LoginAcknowledged"): "login_acknowledged",
    ("login", "serverbound", "cookie.CookieResponse"): "cookie_response",
    ("login", "clientbound", "p.Disconnect"): "disconnect",
    ("login", "clientbound", "p.EncryptionRequest"): "encryption_begin",
    ("login", "clientbound", "p.ServerLoginSuccess"): "success",
    ("login", "clientbound", "p.SetCompression"): "compress",
    ("login", "clientbound", "p.LoginPluginMessage"): "login_plugin_request",
    ("login", "clientbound", "cookie.CookieRequest"): "cookie_request",
    ("configuration", "serverbound", "p.ClientSettings"): "settings",
    ("configuration", "serverbound", "plugin.Message"): "custom_payload",
    ("configuration", "serverbound", "config.FinishedUpdate"): "finish_configuration",
    ("configuration", "serverbound", "p.KeepAlive"): "keep_alive",
    ("configuration", "serverbound", "cookie.CookieResponse"): "cookie_response",
    ("configuration", "clientbound", "cookie.CookieRequest"): "cookie_request",
    ("configuration", "clientbound", "plugin.Message"): "custom_payload",
    ("configuration", "clientbound", "p.Disconnect"): "disconnect",
    ("configuration", "clientbound", "config.FinishedUpdate"): "finish_configuration",
    ("configuration", "clientbound", "p.KeepAlive"): "keep_alive",
    ("configuration", "clientbound", "cookie.CookieStore"): "store_cookie",
    ("configuration", "clientbound", "p.Transfer"): "transfer",
    ("configuration", "clientbound", "config.KnownPacks"): "select_known_packs",
    ("configuration", "clientbound", "config.RegistrySync"): "registry_data",
    ("configuration", "clientbound", "config.ActiveFeatures"): "feature_flags",
    ("configuration", "clientbound", "config.TagsUpdate"): "tags",
    ("configuration", "serverbound", "config.KnownPacks"): "select_known_packs",
    ("play", "serverbound", "p.KeepAlive"): "keep_alive",
    ("play", "serverbound", "plugin.Message"): "custom_payload",
    ("play", "serverbound", "chat.SessionPlayerChat"): "chat_message",
    ("play", "serverbound", "chat.ChatAcknowledgement"): "message_acknowledgement",
    ("play", "serverbound", "chat.SessionPlayerCommand"): "chat_command_signed",
    ("play", "serverbound", "chat.UnsignedPlayerCommand"): "chat_command",
    ("play", "serverbound", "p.TabCompleteRequest"): "tab_complete",
    ("play", "serverbound", "p.ClientSettings"): "settings",
    ("play", "serverbound", "config.FinishedUpdate"): "configuration_acknowledged",
    ("play", "serverbound", "cookie.CookieResponse"): "cookie_response",
    ("play", "clientbound", "p.KeepAlive"): "keep_alive",
    ("play", "clientbound", "p.JoinGame"): "login",
    ("play", "clientbound", "p.Respawn"): "respawn",
    ("play", "clientbound", "p.Disconnect"): "kick_disconnect",
    ("play", "clientbound", "plugin.Message"): "custom_payload",
    ("play", "clientbound", "chat.SystemChat"): "system_chat",
    ("play", "clientbound", "p.AvailableCommands"): "declare_commands",
    ("play", "clientbound", "p.TabCompleteResponse"): "tab_complete",
    ("play", "clientbound", "config.StartUpdate"): "start_configuration",
    ("play", "clientbound", "p.Transfer"): "transfer",
    ("play", "clientbound", "cookie.CookieStore"): "store_cookie",
    ("play", "clientbound", "cookie.CookieRequest"): "cookie_request",
    ("play", "clientbound", "bossbar.BossBar"): "boss_bar",
    ("play", "clientbound", "p.HeaderAndFooter"): "playerlist_header",
    ("play", "clientbound", "playerinfo.Upsert"): "player_info",
    ("play", "clientbound", "playerinfo.Remove"): "player_remove",
    ("play", "clientbound", "title.Text"): "set_title_text",
    ("play", "clientbound", "title.Subtitle"): "set_title_subtitle",
    ("play", "clientbound", "title.Times"): "set_title_time",
    ("play", "clientbound", "title.Clear"): "clear_titles",
    ("play", "clientbound", "p.BundleDelimiter"): "bundle_delimiter",
}


#: What Gate's 26.3 table test says 26.3 changed against 26.2, per state and direction:
#: packets inserted (at their 26.3 id) and removed (at their 26.2 id); nothing else moved.
#: ``read_gate_table`` checks this statement against every row of the test's table.
GATE_26_3_CHANGES = {
    ("configuration", "clientbound"): {"inserted": (0x0A,), "removed": ()},
    ("play", "clientbound"): {"inserted": (0x25, 0x53, 0x7B), "removed": ()},
    ("play", "serverbound"): {"inserted": (0x2E,), "removed": (0x3F,)},
}
_GATE_TABLE_DIRECTIONS = {"proto.ClientBound": "clientbound", "proto.ServerBound": "serverbound"}


class ReadError(Exception):
    """A source file is missing or not shaped as expected."""


def git_show(checkout: Path, commit: str, path: str) -> str:
    try:
        return subprocess.run(["git", "--git-dir", str(checkout), "show", f"{commit}:{path}"],
                              check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise ReadError(f"{checkout}@{commit}:{path}: {e}") from None


def _resolve(mappings: list[tuple[int, int, int | None]], protocol: int) -> int | None:
    """The id at ``protocol`` from (first protocol, id, last protocol or None) entries."""
    found = None
    for first, packet_id, last in sorted(mappings, key=lambda m: m[0]):
        if first <= protocol and (last is None or protocol <= last):
            found = packet_id
        elif first <= protocol:
            found = None
    return None if found is None or found < 0 else found


def read_bungeecord(protocol_java: str, constants_java: str,
                    extra_constants: dict[str, int] | None = None) -> dict:
    """(state, direction, class) -> [(first protocol, id, None)]; ``extra_constants``
    names versions ``constants_java`` lacks (a fork ahead of it)."""
    constants = {name: int(value) for name, value in
                 re.findall(r"int (MINECRAFT_\w+) = (\d+);", constants_java)}
    for name, number in (extra_constants or {}).items():
        constants.setdefault(name, number)
    # Every enum constant starts a section; a fork's own (BotFilter's) map to no state.
    sections = [(m.start(), _BUNGEE_STATES.get(m.group(1))) for m in
                re.finditer(r"^    ([A-Z][A-Z_]*)\s*$", protocol_java, re.M)]
    out: dict = {}
    for m in re.finditer(r"(TO_CLIENT|TO_SERVER)\.registerPacket\(\s*(?://[^\n]*\s*)?"
                         r"(\w+)\.class,(.*?)\);", protocol_java, re.S):
        state = [s for start, s in sections if start < m.start()][-1]
        if state is None:
            continue
        maps = re.findall(r"map\(\s*ProtocolConstants\.(\w+),\s*(-?0x[0-9A-Fa-f]+|-?\d+)\s*\)",
                          m.group(3))
        out[state, _DIRECTIONS[m.group(1)], m.group(2)] = [
            (constants[version], int(packet_id, 0), None) for version, packet_id in maps
        ]
    return out


def read_gate(register_go: str, version_go: str) -> dict:
    """(state, direction, type) -> [(first protocol, id, last protocol or None)]."""
    versions = {name: int(value) for name, value in
                re.findall(r"(Minecraft_\w+)\s*=\s*v\((\d+)", version_go)}
    out: dict = {}
    for m in re.finditer(r"(\w+)\.(ServerBound|ClientBound)\.Register\(&([\w.]+)\{\},(.*?)\)\s*\n",
                         register_go, re.S):
        body = m.group(4)
        entries = []
        for kind, packet_id, first, last in re.findall(
                r"\b(ml?)\((0x[0-9A-Fa-f]+|-?\d+),\s*version\.(\w+)"
                r"(?:,\s*version\.(\w+))?\)", body):
            entries.append((versions[first], int(packet_id, 0),
                            versions[last] if kind == "ml" and last else None))
        out[_GATE_STATES[m.group(1)], _DIRECTIONS[m.group(2)], m.group(3)] = entries
    return out


def release_constants(releases_json: str) -> dict[str, int]:
    """``MINECRAFT_26_3`` -> 777 for every release in minecraft-data's protocol list."""
    return {"MINECRAFT_" + entry["minecraftVersion"].replace(".", "_"): entry["version"]
            for entry in json.loads(releases_json)
            if entry.get("releaseType") == "release" and entry.get("usesNetty")}


def moved_by_26_3(state: str, direction: str, packet_id: int) -> int | None:
    """A 26.2 id as Gate's 26.3 statement moves it; ``None`` for a removed packet."""
    changes = GATE_26_3_CHANGES.get((state, direction))
    if changes is None:
        return packet_id
    if packet_id in changes["removed"]:
        return None
    moved = packet_id - sum(1 for removed in changes["removed"] if removed < packet_id)
    for inserted in sorted(changes["inserted"]):
        if moved >= inserted:
            moved += 1
    return moved


def read_gate_table(test_go: str, gate_registry: dict) -> tuple[dict, list[str]]:
    """777's ids under minecraft-data's names from Gate's 26.3 table test, and which of
    them were moved from Gate's 26.2 registry by the test's stated insertions (the rest
    are rows).  Each row's 26.2 id must be the registry's, and the statement must give
    each row's 26.3 id, or the reading stops."""
    states = {"Config": "configuration", "Play": "play", "Login": "login"}
    rows = re.findall(r'\{"[^"]+", (\w+), (proto\.\w+), &([\w.]+)\{\}, '
                      r'(0x[0-9A-Fa-f]+), (0x[0-9A-Fa-f]+)\}', test_go)
    if not rows:
        raise ReadError("no rows in Gate's 26.3 table")
    table = {}
    for registry, direction, packet, id_262, id_263 in rows:
        key = (states[registry], _GATE_TABLE_DIRECTIONS[direction], packet)
        before, after = int(id_262, 16), int(id_263, 16)
        if key in gate_registry and _resolve(gate_registry[key], 776) != before:
            raise ReadError(f"Gate's 26.3 table: {key} is {before:#x} at 26.2, its registry "
                            f"says {_resolve(gate_registry[key], 776)}")
        if moved_by_26_3(key[0], key[1], before) != after:
            raise ReadError(f"Gate's 26.3 table: {key} {before:#x} -> {after:#x} is not "
                            "what its stated insertions give")
        table[key] = after
    ids: dict = {}
    moved = []
    for (state, direction, cls), name in sorted(GATE_NAMES.items()):
        if (state, direction, cls) in table:
            packet_id = table[state, direction, cls]
        else:
            before = _resolve(gate_registry[state, direction, cls], 776)
            packet_id = None if before is None else moved_by_26_3(state, direction, before)
            if packet_id is not None:
                moved.append(f"{state}.{direction}.{name}")
        if packet_id is not None:
            ids.setdefault(state, {}).setdefault(direction, {})[name] = packet_id
    return ids, moved


def ids_at(registry: dict, names: dict, protocol: int) -> dict:
    """state -> direction -> minecraft-data name -> id at ``protocol``."""
    table: dict = {}
    for (state, direction, cls), name in sorted(names.items()):
        if (state, direction, cls) not in registry:
            raise ReadError(f"no {state} {direction} {cls} in the source")
        packet_id = _resolve(registry[state, direction, cls], protocol)
        if packet_id is not None:
            table.setdefault(state, {}).setdefault(direction, {})[name] = packet_id
    return table


def mappings(registry: dict, names: dict) -> dict:
    """``state.direction.name`` -> [[first protocol, id, last protocol or None], ...]: the
    source's whole history of each watched packet, for checking every version we generate."""
    return {f"{state}.{direction}.{name}":
            [list(m) for m in sorted(registry[state, direction, cls])]
            for (state, direction, cls), name in sorted(names.items())}


def _checkout(spec: str) -> tuple[Path, str]:
    path, _, commit = spec.rpartition("@")
    if not path or not commit:
        raise ReadError(f"{spec}: expected DIR@COMMIT")
    return Path(path), commit


def read_bungeecord_fork(spec: str, constants_java: str, newest: int) -> dict:
    """The ``newer`` entry of BungeeCord's lineage from ``OWNER/NAME@COMMIT=FILE``."""
    source, _, path = spec.partition("=")
    repository, _, commit = source.partition("@")
    if not path or not commit or "/" not in repository:
        raise ReadError(f"{spec}: expected OWNER/NAME@COMMIT=FILE")
    registry = read_bungeecord(_read(path), constants_java,
                               release_constants(_read(str(RELEASES))))
    known = sorted({first for mappings in registry.values() for first, _, _ in mappings})
    return {
        "repository": f"https://github.com/{repository}",
        "commit": commit,
        "paths": [BUNGEE_PROTOCOL],
        "protocols": {str(p): ids_at(registry, BUNGEE_NAMES, p)
                      for p in known if p > newest},
        "mappings": mappings(registry, BUNGEE_NAMES),
    }


def read_gate_newer(spec: str, gate_registry: dict) -> dict:
    """The ``newer`` entry of Gate's lineage from ``COMMIT=FILE`` (its 26.3 table test)."""
    commit, _, path = spec.partition("=")
    if not path or not commit:
        raise ReadError(f"{spec}: expected COMMIT=FILE")
    ids, moved = read_gate_table(_read(path), gate_registry)
    return {
        "repository": "https://github.com/minekube/gate",
        "commit": commit,
        "paths": [GATE_TABLE_26_3],
        "protocols": {"777": ids},
        "carried_from_26_2": moved,
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ReadError(f"{path}: {e}") from None


def read_sources(bungee: str, gate: str, bungee_fork: str | None = None,
                 gate_table: str | None = None) -> dict:
    bungee_dir, bungee_commit = _checkout(bungee)
    gate_dir, gate_commit = _checkout(gate)
    constants = git_show(bungee_dir, bungee_commit, BUNGEE_CONSTANTS)
    version_go = git_show(gate_dir, gate_commit, GATE_VERSION)
    bungee_registry = read_bungeecord(git_show(bungee_dir, bungee_commit, BUNGEE_PROTOCOL),
                                      constants)
    gate_registry = read_gate(git_show(gate_dir, gate_commit, GATE_REGISTER), version_go)
    bungee_protocols = sorted({int(v) for v in re.findall(r"int MINECRAFT_\w+ = (\d+);", constants)
                               if int(v) >= CHECKED_PROTOCOL})
    gate_protocols = sorted({int(v) for v in re.findall(r"Minecraft_\w+\s*=\s*v\((\d+)", version_go)
                             if int(v) >= CHECKED_PROTOCOL})
    recorded = {
        "reader": "tools/read_upstream_ids.py",
        "sources": {
            "bungeecord": {
                "repository": "https://github.com/SpigotMC/BungeeCord",
                "commit": bungee_commit,
                "paths": [BUNGEE_PROTOCOL, BUNGEE_CONSTANTS],
                "protocols": {str(p): ids_at(bungee_registry, BUNGEE_NAMES, p)
                              for p in bungee_protocols},
                "mappings": mappings(bungee_registry, BUNGEE_NAMES),
            },
            "gate": {
                "repository": "https://github.com/minekube/gate",
                "commit": gate_commit,
                "paths": [GATE_REGISTER, GATE_VERSION],
                "protocols": {str(p): ids_at(gate_registry, GATE_NAMES, p)
                              for p in gate_protocols},
                "mappings": mappings(gate_registry, GATE_NAMES),
            },
        },
    }
    if bungee_fork:
        recorded["sources"]["bungeecord"]["newer"] = read_bungeecord_fork(
            bungee_fork, constants, max(bungee_protocols))
    if gate_table:
        recorded["sources"]["gate"]["newer"] = read_gate_newer(gate_table, gate_registry)
    return recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bungeecord", required=True, help="BungeeCord git dir@commit")
    parser.add_argument("--gate", required=True, help="Gate git dir@commit")
    parser.add_argument("--bungeecord-fork", help="OWNER/NAME@COMMIT=FILE: a newer fork's "
                        "Protocol.java, saved from that commit")
    parser.add_argument("--gate-table", help="COMMIT=FILE: Gate's register_26_3_test.go, "
                        "saved from that commit")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        recorded = read_sources(args.bungeecord, args.gate, args.bungeecord_fork,
                                args.gate_table)
    except ReadError as e:
        print(f"read_upstream_ids: {e}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
