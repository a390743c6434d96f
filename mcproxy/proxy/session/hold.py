"""A player held in play while a fallback that every server refused is tried again.

When a backend restarts, its crowd falls back to the others at once; those refuse logins
past their own cap for a moment, and the restarted one takes seconds to listen again.
Velocity and Gate networks keep such players with a reconnect plugin rather than drop
them: here the proxy does it itself. The client hears the proxy's own keep-alives (it
would otherwise time out on silence), is told it is reconnecting, and the fallback is
tried again with growing pauses until ``[proxy] fallback_hold`` seconds have passed.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IReactorTime

from mcproxy.proxy.deadlines import Deadlines

#: Pauses before each further try; the last one repeats.
RETRY_DELAYS = (1.0, 2.0, 4.0, 5.0)

#: Seconds between the proxy's keep-alives to a held client: under vanilla's 15 s, so a
#: client library that waits for keep-alives (not just any packet) is satisfied too.
KEEPALIVE_INTERVAL = 10.0


class FallbackHold:
    """The timing of one hold: when to try again, when to keep the client alive, when to give up.

    ``retry`` makes the next try; ``keep_alive`` sends the client a keep-alive with the
    given id. Both are called from the deadline sweep; the owner calls :meth:`refused` after
    each refused try and :meth:`end` once the hold is over, either way.
    """

    def __init__(self, clock: IReactorTime, deadlines: Deadlines, limit: float,
                 retry: Callable[[], None], keep_alive: Callable[[int], None]) -> None:
        self._clock = clock
        self._deadlines = deadlines
        self._limit = limit
        self._retry = retry
        self._keep_alive = keep_alive
        self.started = clock.seconds()
        self.tries = 0
        self.active = True
        self._keep_alive_key = (self, "keep-alive")
        self._retry_key = (self, "retry")
        self._deadlines.set(self._keep_alive_key, KEEPALIVE_INTERVAL, self._send_keep_alive)

    @property
    def held_for(self) -> float:
        return self._clock.seconds() - self.started

    def refused(self) -> bool:
        """Schedule the next try; False (and the hold ended) when it would pass the limit."""
        delay = RETRY_DELAYS[min(self.tries, len(RETRY_DELAYS) - 1)]
        if not self.active or self.held_for + delay > self._limit:
            self.end()
            return False
        self.tries += 1
        self._deadlines.set(self._retry_key, delay, self._try_again)
        return True

    def end(self) -> None:
        self.active = False
        self._deadlines.cancel(self._keep_alive_key)
        self._deadlines.cancel(self._retry_key)

    def _try_again(self) -> None:
        if self.active:
            self._retry()

    def _send_keep_alive(self) -> None:
        if not self.active:
            return
        self._keep_alive(int(self._clock.seconds() * 1000) & 0x7FFFFFFF)
        self._deadlines.set(self._keep_alive_key, KEEPALIVE_INTERVAL, self._send_keep_alive)
