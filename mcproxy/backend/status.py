"""What the limbo says to server-list pings: the status JSON and the pre-1.7 legacy reply."""

from __future__ import annotations

import json

from mcproxy.wire.legacy import LegacyStatus
from mcproxy.wire.packets import TIER1_PROTOCOLS, supported_range

#: Shown (with our newest protocol) to clients whose version we cannot log in.
UNSUPPORTED_VERSION_NAME = f"mcproxy {supported_range()}"
NEWEST_PROTOCOL = max(TIER1_PROTOCOLS)


def status_json(protocol: int, motd_json: dict, online: int, max_players: int,
                sample: list[tuple[str, str]] | None = None) -> str:
    """The status response: the client's protocol echoed when we can serve it."""
    if protocol in TIER1_PROTOCOLS:
        version = {"name": "mcproxy", "protocol": protocol}
    else:
        version = {"name": UNSUPPORTED_VERSION_NAME, "protocol": NEWEST_PROTOCOL}
    players: dict = {"max": max_players, "online": online}
    if sample:
        players["sample"] = [{"name": name, "id": ident} for name, ident in sample]
    return json.dumps({"version": version, "players": players, "description": motd_json,
                       "enforcesSecureChat": False}, separators=(",", ":"))


def legacy_status(motd: str, online: int, max_players: int) -> LegacyStatus:
    """What pre-1.7 clients are told: they cannot join, so the version says which can."""
    return LegacyStatus(motd=motd, online=online, max_players=max_players, protocol=127,
                        version=UNSUPPORTED_VERSION_NAME)
