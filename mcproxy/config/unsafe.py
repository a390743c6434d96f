"""Departures from the runbook's safe defaults: allowed, but never silent.

A staging network may run without authenticated mode, a test rig with messaging
off; production should not, and an operator must be able to see (and alert on)
which of these a running process has. Each finding names the key, its value
(never a secret: none of these keys holds one) and why it matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcproxy.config.schema import BackendConfig, MessagingSection, ProxyConfig, RateLimitsSection

#: A limit this many times its default is "huge": it no longer bounds anything a flood needs.
HUGE_FACTOR = 16
#: Seconds of clock skew past which a captured control message stays usable for too long.
MAX_SAFE_CLOCK_SKEW = 300.0


@dataclass(frozen=True)
class UnsafeSetting:
    """One departure: the dotted key, its value as written, and what it exposes."""

    key: str
    value: str
    why: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value, "why": self.why}

    def line(self) -> str:
        return f"{self.key} = {self.value}: {self.why}"


def unsafe_settings(config: ProxyConfig | BackendConfig) -> list[UnsafeSetting]:
    """Every departure from the safe defaults in ``config``, in key order."""
    if isinstance(config, ProxyConfig):
        found = _proxy(config)
    else:
        found = _backend(config)
    return sorted(found, key=lambda setting: setting.key)


def _proxy(config: ProxyConfig) -> list[UnsafeSetting]:
    found = []
    if not config.messaging.enabled:
        found.append(UnsafeSetting(
            "messaging.enabled", "false",
            "no control plane: backends cannot sync commands or request transfers"))
    else:
        found.extend(_control_limits(config.messaging))
    limits, defaults = config.rate_limits, RateLimitsSection()
    for name in ("handshake_concurrent_max", "routing_concurrent_max"):
        value = getattr(limits, name)
        if value > HUGE_FACTOR * getattr(defaults, name):
            found.append(UnsafeSetting(
                f"rate_limits.{name}", str(value),
                f"more than {HUGE_FACTOR}x the default ({getattr(defaults, name)}): no longer bounds a flood"))
    return found


def _backend(config: BackendConfig) -> list[UnsafeSetting]:
    found = []
    backend = config.backend
    if not backend.enforce_proxy:
        found.append(UnsafeSetting(
            "backend.enforce_proxy", "false",
            "logins that did not come through the proxy are let in (the runbook says never disable it)"))
    if backend.enforce_proxy and backend.forwarding == "legacy":
        found.append(UnsafeSetting(
            "backend.forwarding", "legacy",
            "legacy forwarding carries no secret: anyone who reaches this listener can claim any "
            "identity (bungeeguard adds a token)"))
    if not backend.require_authenticated_mode:
        found.append(UnsafeSetting(
            "backend.require_authenticated_mode", "false",
            "players the proxy did not authenticate (offline mode) are let in"))
    if not config.messaging.enabled:
        found.append(UnsafeSetting(
            "messaging.enabled", "false",
            "no control plane: proxy commands and transfers from this backend are unavailable"))
    else:
        found.extend(_control_limits(config.messaging))
    return found


def _control_limits(messaging: object) -> list[UnsafeSetting]:
    found = []
    payload = getattr(messaging, "control_max_payload")
    if payload > HUGE_FACTOR * MessagingSection.control_max_payload:
        found.append(UnsafeSetting(
            "messaging.control_max_payload", str(payload),
            f"more than {HUGE_FACTOR}x the default ({MessagingSection.control_max_payload} bytes):"
            " one control message may hold that much memory"))
    skew = getattr(messaging, "control_max_clock_skew")
    if skew > MAX_SAFE_CLOCK_SKEW:
        found.append(UnsafeSetting(
            "messaging.control_max_clock_skew", f"{skew:g}",
            f"over {MAX_SAFE_CLOCK_SKEW:g} s: a control message held back (or a clock off) by that"
            " long is still accepted"))
    return found
