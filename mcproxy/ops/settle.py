"""Bounded waits for an admin action's effect, so an operator is answered with a settled state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task

from mcproxy.ops.admin import ActionError


@defer.inlineCallbacks
def settle(clock: Any, settled: Callable[[], bool], timeout: float,
           interval: float = 0.1) -> Any:
    """Fire with True once ``settled()`` holds, or with False after ``timeout`` seconds.

    Polling keeps the waited-for components unaware of who waits; an action answers
    "not settled" rather than hang when a peer never comes back.
    """
    deadline = clock.seconds() + timeout
    while not settled():
        if clock.seconds() >= deadline:
            return False
        yield task.deferLater(clock, min(interval, max(deadline - clock.seconds(), 0)), lambda: None)
    return True


def action_timeout(body: dict, default: float = 15.0, limit: float = 120.0) -> float:
    """The bounded wait an operator asked for in an action's body (``{"timeout": s}``)."""
    value = body.get("timeout", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= limit:
        raise ActionError(f"timeout must be a number of seconds between 0 and {limit:g}")
    return float(value)
