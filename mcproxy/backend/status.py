"""What the limbo says to server-list pings: the status JSON and the pre-1.7 legacy reply."""

from __future__ import annotations

import json
import struct

from mcproxy.wire.packets import TIER1_PROTOCOLS

#: Shown (with our newest protocol) to clients whose version we cannot log in.
UNSUPPORTED_VERSION_NAME = "mcproxy 1.20.5-26.1"
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


def legacy_response(motd: str, online: int, max_players: int, modern: bool) -> bytes:
    """The kick packet (0xFF) pre-1.7 clients read as a ping answer.

    1.4-1.6 clients (``modern``: they sent ``FE 01``) get the ``§1`` form with protocol and
    version; older ones get ``motd§online§max``.
    """
    motd = motd.replace("§", "")
    if modern:
        text = "\u00a71\x00127\x00{}\x00{}\x00{}\x00{}".format(
            UNSUPPORTED_VERSION_NAME, motd, online, max_players)
    else:
        text = f"{motd}\u00a7{online}\u00a7{max_players}"
    raw = text.encode("utf-16-be")
    return b"\xff" + struct.pack(">H", len(raw) // 2) + raw
