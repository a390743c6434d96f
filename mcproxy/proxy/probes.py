"""Player names an operator armed for smoke bots, so their sessions stay out of player lists.

Only the admin surface (token or loopback) arms names; a name is good for one login and
expires, and at most :data:`MAX_ARMED_NAMES` wait at once. No name pattern marks a
probe, so a real player can never hide by choosing a name.
"""

from __future__ import annotations

import re

import dataclasses

from mcproxy.ops.admin import ActionError
from mcproxy.proxy.auth import GameProfile
from mcproxy.wire.forwarding import PROBE_PROPERTY, ProfileProperty, without_probe

#: What a Minecraft player name may be; anything else cannot be armed.
PLAYER_NAME = re.compile(r"[A-Za-z0-9_]{3,16}")

#: Names armed at once, at most.
MAX_ARMED_NAMES = 256


class ProbeNames:
    """Armed probe player names (lower-cased) with their expiry, read from ``clock``."""

    def __init__(self, clock) -> None:
        self._clock = clock
        self._armed: dict[str, float] = {}

    def arm(self, names: list[str], ttl: float) -> bool:
        """Arm all of ``names`` for ``ttl`` seconds, or none if that would pass the bound."""
        now = self._clock.seconds()
        self._armed = {name: until for name, until in self._armed.items() if until > now}
        keys = {name.lower() for name in names}
        if len(keys | self._armed.keys()) > MAX_ARMED_NAMES:
            return False
        for key in keys:
            self._armed[key] = now + ttl
        return True

    def take(self, name: str) -> bool:
        """Whether ``name`` is armed and unexpired; it is disarmed either way."""
        until = self._armed.pop(name.lower(), None)
        return until is not None and until > self._clock.seconds()

    def __len__(self) -> int:
        now = self._clock.seconds()
        return sum(1 for until in self._armed.values() if until > now)


def arm_request(body: dict) -> tuple[list[str], float]:
    """The names and ttl of an ``arm_probe_players`` admin action, or a refusal saying why."""
    names = body.get("names")
    ttl = body.get("ttl", 60)
    if not isinstance(names, list) or not 1 <= len(names) <= 64 \
            or not all(isinstance(n, str) and PLAYER_NAME.fullmatch(n) for n in names):
        raise ActionError("names must be a list of 1 to 64 player names (3 to 16 of A-Z a-z 0-9 _)")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= 300:
        raise ActionError("ttl must be a number of seconds up to 300")
    return names, float(ttl)


def probe_profile(profile: GameProfile, probe: bool) -> GameProfile:
    """``profile`` as forwarded to backends: marked when it is an armed bot's, and never
    carrying a mark it brought itself."""
    properties, _ = without_probe(profile.properties)
    if probe:
        properties += (ProfileProperty(PROBE_PROPERTY, "1"),)
    return dataclasses.replace(profile, properties=properties)
