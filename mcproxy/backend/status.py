"""What the limbo says to server-list pings; the pre-1.7 reply is wire.legacy's, shared with the proxy."""

from __future__ import annotations

import json
from typing import AbstractSet

from mcproxy.backend.registries import RegistryStore
from mcproxy.backend.packets import field_type
from mcproxy.wire.packets import TIER1_PROTOCOLS, VERSION_NAMES, Direction, State
from mcproxy.wire.protocols import known_protocols, protocol_info


def served_protocols(registries: RegistryStore) -> frozenset[int]:
    """Every protocol the limbo can log in: tier 1, and each older one minecraft-data has
    tables for whose world data (the dimension codec, 1.16 on) was captured too."""
    worlds = set(registries.world_protocols())
    served = set(TIER1_PROTOCOLS)
    for protocol in known_protocols():
        info = protocol_info(protocol)
        if protocol in served or info.source != "minecraft-data" or protocol > max(TIER1_PROTOCOLS):
            continue
        login = info.layout(State.PLAY, Direction.CLIENTBOUND, "login")
        needs_world = field_type(login, "dimensionCodec") is not None or info.facts.get(
            "configuration_state")
        if not needs_world or protocol in worlds:
            served.add(protocol)
    return frozenset(served)


def served_range(protocols: AbstractSet[int]) -> str:
    """The served versions as players read them, ``1.8-26.1``."""
    oldest = protocol_info(min(protocols)).releases[0]
    return f"{oldest}-{VERSION_NAMES[max(protocols)]}"


def status_json(protocol: int, motd_json: dict, online: int, max_players: int,
                sample: list[tuple[str, str]] | None = None,
                served: AbstractSet[int] = frozenset(TIER1_PROTOCOLS)) -> str:
    """The status response: the client's protocol echoed when we can serve it."""
    if protocol in served:
        version = {"name": "mcproxy", "protocol": protocol}
    else:
        version = {"name": f"mcproxy {served_range(served)}", "protocol": max(served)}
    players: dict = {"max": max_players, "online": online}
    if sample:
        players["sample"] = [{"name": name, "id": ident} for name, ident in sample]
    return json.dumps({"version": version, "players": players, "description": motd_json,
                       "enforcesSecureChat": False}, separators=(",", ":"))
