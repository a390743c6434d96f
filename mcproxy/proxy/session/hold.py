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
from mcproxy.proxy.relay import Phase as RelayPhase
from mcproxy.wire.types import encode_long, encode_varint

#: Pauses before each further try; the last one repeats.
RETRY_DELAYS = (1.0, 2.0, 4.0, 5.0)

#: The first protocol (1.12.2) whose keep-alive id is a Long rather than a VarInt.
LONG_KEEP_ALIVE_PROTOCOL = 340

#: Seconds between the proxy's keep-alives to a held client: under vanilla's 15 s, so a
#: client library that waits for keep-alives (not just any packet) is satisfied too.
KEEPALIVE_INTERVAL = 10.0


def keep_alive_interval(read_timeout: float) -> float:
    """How often a held client is sent a keep-alive: its answers are all the proxy hears
    from it, so they must come well inside ``read_timeout`` too."""
    return min(KEEPALIVE_INTERVAL, read_timeout / 3)


class FallbackHold:
    """The timing of one hold: when to try again, when to keep the client alive, when to give up.

    ``retry`` makes the next try; ``keep_alive`` sends the client a keep-alive with the
    given id. Both are called from the deadline sweep; the owner calls :meth:`refused` after
    each refused try and :meth:`end` once the hold is over, either way.
    """

    def __init__(self, clock: IReactorTime, deadlines: Deadlines, limit: float,
                 retry: Callable[[], None], keep_alive: Callable[[int], None],
                 interval: float = KEEPALIVE_INTERVAL) -> None:
        self._clock = clock
        self._interval = interval
        self._deadlines = deadlines
        self._limit = limit
        self._retry = retry
        self._keep_alive = keep_alive
        self.started = clock.seconds()
        self.tries = 0
        self.active = True
        self._keep_alive_key = (self, "keep-alive")
        self._retry_key = (self, "retry")
        self._deadlines.set(self._keep_alive_key, self._interval, self._send_keep_alive)

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
        self._deadlines.set(self._keep_alive_key, self._interval, self._send_keep_alive)


class PlayerHold:
    """The hold of one player: started when a switch with nothing to stay on is refused by
    every server, over when that switch lands, fails, or the player leaves.

    ``retry(switch)`` asks the router again; its answer comes back to the transition.
    """

    def __init__(self, play, retry: Callable[[object], None]) -> None:
        self._play = play
        self._retry = retry
        self._timing: FallbackHold | None = None

    def refused(self, switch) -> bool:
        """Hold on and try again later (True), or give up: past ``fallback_hold`` (False)."""
        if self._timing is None:
            self._start(switch)
        if self._timing.refused():
            return True
        self.end("gave_up")
        return False

    def end(self, outcome: str) -> None:
        """``reconnected``, ``gave_up`` or ``left``: counted once per hold."""
        timing, self._timing = self._timing, None
        if timing is not None:
            timing.end()
            self._play.connection.proxy.metrics.fallback_holds.labels(outcome).inc()

    def _start(self, switch) -> None:
        play = self._play
        connection = play.connection
        proxy = connection.proxy
        self._timing = FallbackHold(proxy.reactor, proxy.deadlines, proxy.settings.fallback_hold,
                                    lambda: self._try_again(switch), lambda ident: self._keep_alive(switch, ident),
                                    keep_alive_interval(proxy.settings.read_timeout))
        proxy.log.info("holding {player}: no server took them yet", player=connection.profile.name,
                       correlation_id=connection.correlation_id)
        if play.in_play:
            # A client in configuration hears why once it is in play on the new server.
            play.send_system_message(f"{switch.notice} Reconnecting…".lstrip())

    def _still_held(self, switch) -> bool:
        play = self._play
        if play.switch is switch and switch.in_flight and play.active:
            return True
        self.end("left")
        return False

    def _try_again(self, switch) -> None:
        if self._still_held(switch):
            self._retry(switch)

    def _keep_alive(self, switch, ident: int) -> None:
        """Nothing else speaks to the client while it is held: in play, or in the
        configuration it was taken into (or was in) when its server went away."""
        play = self._play
        if not self._still_held(switch):
            return
        connection = play.connection
        if play.in_play:
            body = encode_long(ident) if connection.handshake.protocol >= LONG_KEEP_ALIVE_PROTOCOL else encode_varint(ident)
            play.send_down(connection.ids.play_keep_alive, body)
        elif play.down.phase is RelayPhase.CONFIGURATION:
            play.configuration.keep_alive(ident)
