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

Run from the repository root with bare or full clones of both projects::

    python tools/read_upstream_ids.py --bungeecord DIR@COMMIT --gate DIR@COMMIT
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


def read_bungeecord(protocol_java: str, constants_java: str) -> dict:
    """(state, direction, class) -> [(first protocol, id, None)]."""
    constants = {name: int(value) for name, value in
                 re.findall(r"int (MINECRAFT_\w+) = (\d+);", constants_java)}
    sections = [(m.start(), _BUNGEE_STATES[m.group(1)]) for m in
                re.finditer(r"^    (HANDSHAKE|GAME|STATUS|LOGIN|CONFIGURATION)\b", protocol_java,
                            re.M)]
    out: dict = {}
    for m in re.finditer(r"(TO_CLIENT|TO_SERVER)\.registerPacket\(\s*(\w+)\.class,(.*?)\);",
                         protocol_java, re.S):
        state = [s for start, s in sections if start < m.start()][-1]
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


def read_sources(bungee: str, gate: str) -> dict:
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
    return {
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bungeecord", required=True, help="BungeeCord git dir@commit")
    parser.add_argument("--gate", required=True, help="Gate git dir@commit")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        recorded = read_sources(args.bungeecord, args.gate)
    except ReadError as e:
        print(f"read_upstream_ids: {e}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
