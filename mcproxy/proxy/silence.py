"""Connections that have read nothing for too long, found by one sweep a second.

A peer can stop sending while keeping its TCP connection open: a backend stuck in a
loop, a client whose machine went away without a FIN.  A timer per read would cost the
relay a heap push and pop per packet; instead each watched connection counts its reads
(``reads``, one integer increment on the data path) and a sweep a second compares the
count with the one it saw last.  A connection whose count has not moved for ``timeout``
seconds is silent; it is noticed within a second of that.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from mcproxy.proxy.deadlines import Sweep

_log = Logger()


class ReadWatch(Sweep):
    """Calls a connection's ``on_silent`` once it has read nothing for its ``timeout``.

    A watched connection has an integer ``reads`` that grows with each read; it is
    forgotten once found silent, or when its owner calls :meth:`forget`.
    """

    def __init__(self, clock: IReactorTime, resolution: float = 1.0) -> None:
        super().__init__(clock, resolution)
        #: connection -> [reads last seen, when they last moved, timeout, on_silent]
        self._watched: dict[object, list] = {}

    def watch(self, connection, timeout: float, on_silent: Callable[[], None]) -> None:
        """Watch ``connection`` from now on (again, if it already was)."""
        self._watched[connection] = [connection.reads, self._clock.seconds(), timeout, on_silent]

    def silent_for(self, connection) -> float:
        """Seconds since ``connection`` was last seen reading (0 if it has read since the
        last sweep, or is not watched)."""
        entry = self._watched.get(connection)
        if entry is None or connection.reads != entry[0]:
            return 0.0
        return self._clock.seconds() - entry[1]

    def forget(self, connection) -> None:
        self._watched.pop(connection, None)

    def __contains__(self, connection) -> bool:
        return connection in self._watched

    def __len__(self) -> int:
        return len(self._watched)

    def _sweep(self) -> None:
        now = self._clock.seconds()
        silent = []
        for connection, entry in self._watched.items():
            reads = connection.reads
            if reads != entry[0]:
                entry[0] = reads
                entry[1] = now
            elif now - entry[1] >= entry[2]:
                silent.append(connection)
        for connection in silent:
            entry = self._watched.pop(connection, None)
            if entry is None:
                continue
            try:
                entry[3]()
            except Exception:
                # One connection's ending going wrong must not stop the sweep for all the others.
                _log.failure("ending a silent connection failed")
