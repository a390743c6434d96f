"""What the limbo says to server-list pings; the pre-1.7 reply is wire.legacy's, shared with the proxy."""

from __future__ import annotations

import json

from mcproxy.wire.packets import TIER1_PROTOCOLS, unsupported_version_name

#: Shown (with our newest protocol) to clients whose version we cannot log in: the limbo's
#: own range, which lacks the proxy's 26.2 and 26.3 (no registry data for them).
UNSUPPORTED_VERSION_NAME = unsupported_version_name(TIER1_PROTOCOLS)
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

