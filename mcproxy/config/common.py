"""Tables both files have: [admin], [logging] and the control-plane limits."""

from __future__ import annotations

from typing import Any

from twisted.logger import InvalidLogLevelError, LogLevel

from mcproxy.config.reader import _Table
from mcproxy.config.schema import MIN_PROBE_INTERVAL, AdminSection, LoggingSection, MessagingSection
from mcproxy.config.secrets import _secret


def _logging(table: _Table) -> LoggingSection:
    level = table.string("level", LoggingSection.level).lower()
    try:
        LogLevel.levelWithName(level)
    except InvalidLogLevelError:
        names = ", ".join(lvl.name for lvl in LogLevel.iterconstants())
        raise table.error("level", f"must be one of {names}, not {level!r}")
    file = table.path("file")
    table.finish()
    return LoggingSection(level=level, file=file)


def _control_limits(t: _Table) -> dict[str, Any]:
    return {
        "control_max_payload": t.integer(
            "control_max_payload", MessagingSection.control_max_payload,
            65536, 64 * 1048576,
        ),
        "control_max_clock_skew": t.number(
            "control_max_clock_skew", MessagingSection.control_max_clock_skew,
            0, 3600,
        ),
    }


def _admin_section(t: _Table, default_bind: str, probes: bool = False) -> AdminSection:
    """``probes``: the proxy probes its backends; a backend has no probe_interval key."""
    bind = t.server_endpoint("bind", default_bind, optional=True)
    token, token_file = _secret(t, "token")
    interval = AdminSection.probe_interval
    if probes:
        interval = t.number("probe_interval", interval, 0, 3600)
        if interval < MIN_PROBE_INTERVAL:
            raise t.error(
                "probe_interval",
                f"must be at least {MIN_PROBE_INTERVAL:g} seconds, not {interval:g}",
            )
    history_dir = t.path("history_dir", AdminSection.history_dir)
    history_period = t.number("history_period", AdminSection.history_period, 0, 3600)
    if history_period < 1:
        raise t.error("history_period", f"must be at least 1 second, not {history_period:g}")
    history_retention = t.number("history_retention", AdminSection.history_retention, 0, 30 * 86400)
    if history_retention < history_period:
        raise t.error("history_retention",
                      f"must be at least history_period ({history_period:g} s), not {history_retention:g}")
    t.finish()
    return AdminSection(bind=bind, token=token, token_file=token_file, probe_interval=interval,
                        history_dir=history_dir, history_period=history_period,
                        history_retention=history_retention)
