"""One shared timer for every connection's deadline.

A ``callLater`` per connection and per phase costs a heap push and pop each time a
deadline moves; a single sweep a second over a dict costs nothing on the data path and
is precise enough for timeouts measured in seconds.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall


class Sweep:
    """Runs the subclass's ``_sweep`` every ``resolution`` seconds between start and stop."""

    def __init__(self, clock: IReactorTime, resolution: float = 1.0) -> None:
        self._clock = clock
        self._resolution = resolution
        self._sweeper = LoopingCall(self._sweep)
        self._sweeper.clock = clock

    def start(self) -> None:
        if not self._sweeper.running:
            self._sweeper.start(self._resolution, now=False)

    def stop(self) -> None:
        if self._sweeper.running:
            self._sweeper.stop()


class Deadlines(Sweep):
    """Calls ``on_expiry`` for each registered key whose deadline has passed."""

    def __init__(self, clock: IReactorTime, resolution: float = 1.0) -> None:
        super().__init__(clock, resolution)
        self._due: dict[object, tuple[float, Callable[[], None]]] = {}

    def set(self, key: object, timeout: float, on_expiry: Callable[[], None]) -> None:
        """(Re)arm ``key`` to expire ``timeout`` seconds from now."""
        self._due[key] = (self._clock.seconds() + timeout, on_expiry)

    def cancel(self, key: object) -> None:
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)

    def _sweep(self) -> None:
        now = self._clock.seconds()
        expired = [key for key, (due, _) in self._due.items() if due <= now]
        for key in expired:
            entry = self._due.pop(key, None)
            if entry is not None:
                entry[1]()
