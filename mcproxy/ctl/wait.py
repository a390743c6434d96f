"""Waiting for a state a moment away, as an operator would, so scripted steps do not race
the processes they just started: ``mcproxyctl health --wait 30`` right after launching."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def poll(attempt: Callable[[], tuple[bool, T]], seconds: float, *,
         retry_on: tuple[type[Exception], ...] = (), interval: float = 0.5,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``attempt`` (``(done, value)``) until it is done or ``seconds`` have passed; the
    last value. ``retry_on`` errors (an admin listener not up yet) are retried too, and
    raised only when time is up. ``seconds = 0`` asks once."""
    deadline = clock() + seconds
    while True:
        try:
            done, value = attempt()
        except retry_on:
            if clock() >= deadline:
                raise
        else:
            if done or clock() >= deadline:
                return value
        sleep(max(0.0, min(interval, deadline - clock())))
