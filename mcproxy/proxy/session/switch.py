"""A move between servers in flight (Velocity's ``connectionInFlight`` and transition handler).

A switch is born CONNECTING while the router logs the player in to the target.  Once a
backend accepts, a 1.20.2+ player is sent Start Configuration and the switch is
AWAITING_ACK until the client acknowledges; an older player stays relayed to the old
backend while the switch is AWAITING_JOIN, until the new backend's Join Game.  Then it is
DONE, or FAILED at any point.  ``result`` fires with the message for the player, or fails
with :class:`SwitchRefused`.
"""

from __future__ import annotations

import enum

from twisted.internet import defer

from mcproxy.proxy.events import SwitchCause

#: Causes where the old backend is already gone (or has kicked the player): nothing more
#: is relayed to or from it, and a failed switch leaves the player nowhere to be.
FALLBACKS = frozenset({SwitchCause.KICKED, SwitchCause.LOST})


class SwitchRefused(Exception):
    """A server switch that did not happen; the message is for the player."""


class SwitchState(enum.Enum):
    CONNECTING = "connecting"
    AWAITING_ACK = "awaiting-ack"
    AWAITING_JOIN = "awaiting-join"
    DONE = "done"
    FAILED = "failed"


class ServerSwitch:
    """One switch: where to, why, how far it got, and who waits for it."""

    __slots__ = ("targets", "cause", "previous", "notice", "target", "backend", "state", "leaving",
                 "old_gone", "reconfiguring", "configuring", "acknowledged", "result")

    def __init__(self, targets, cause: SwitchCause, previous: str | None, notice: str = "",
                 reconfiguring: bool = False, configuring: bool = False) -> None:
        self.targets = tuple(targets)
        self.cause = cause
        self.previous = previous
        #: Told to the player on the new server (after a fallback), or as the reason
        #: they are disconnected if the switch fails once the old backend is gone.
        self.notice = notice
        self.target: str | None = None
        self.backend = None
        self.state = SwitchState.CONNECTING
        #: The old backend is no longer relayed: it kicked the player, was lost, or the
        #: client is on its way to the new one.
        self.leaving = cause in FALLBACKS
        #: The old backend itself is gone (or kicked the player): there is no staying on it.
        self.old_gone = cause in FALLBACKS
        #: The client was already sent Start Configuration (by a switch whose target went
        #: away): it is not sent again, and its acknowledgement is this switch's.
        self.reconfiguring = reconfiguring or configuring
        #: The client is configuring with the server that went away (it joined, or was moved,
        #: a moment ago): the new server takes over that configuration as soon as it accepts,
        #: and what the client sends until then answers the lost server, so it goes nowhere.
        self.configuring = configuring
        #: The client acknowledged the configuration phase: the relay completes the switch.
        self.acknowledged = False
        self.result: defer.Deferred = defer.Deferred()
        if self.leaving:
            # Nobody asked for a fallback, so nobody waits for its outcome.
            self.result.addErrback(lambda failure: None)

    @property
    def in_flight(self) -> bool:
        return self.state in (SwitchState.CONNECTING, SwitchState.AWAITING_ACK, SwitchState.AWAITING_JOIN)

    def old_backend_gone(self, notice: str) -> None:
        """The backend the player is leaving went away (or kicked them) before the switch ended."""
        self.leaving = True
        self.old_gone = True
        if not self.notice:
            self.notice = notice

    def connected(self, name: str, backend, reconfigures: bool) -> None:
        """The target accepted: a client that reconfigures leaves the old backend now, an
        older one only at the new backend's Join Game."""
        self.target = name
        self.backend = backend
        if reconfigures:
            self.state = SwitchState.AWAITING_ACK
            self.leaving = True
        else:
            self.state = SwitchState.AWAITING_JOIN

    def succeed(self) -> None:
        self.state = SwitchState.DONE
        self.result.callback(f"You are now connected to {self.target}.")

    def fail(self, message: str) -> None:
        if not self.in_flight:
            return
        self.state = SwitchState.FAILED
        self.result.errback(SwitchRefused(message))
