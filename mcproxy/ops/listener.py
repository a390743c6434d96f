"""A listening service that says when, and on which port, it is bound.

Tests and tools ask which port ``tcp:0`` got; ``/health`` asks whether a listener is up.
"""

from __future__ import annotations

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.defer import Deferred, succeed


class BoundListener(StreamServerEndpointService):
    """An endpoint service named ``name`` that remembers its listening port."""

    def __init__(self, endpoint, factory, name: str) -> None:
        super().__init__(endpoint, factory)
        self.setName(name)
        #: The listening port once bound.
        self.port = None
        self._bound_waiters: list[Deferred] = []

    def when_bound(self) -> Deferred:
        """Fires with the listening port once bound (at once if it already is)."""
        if self.port is not None:
            return succeed(self.port)
        d: Deferred = Deferred()
        self._bound_waiters.append(d)
        return d

    def _bound(self, port):
        self.port = port
        waiters, self._bound_waiters = self._bound_waiters, []
        for d in waiters:
            d.callback(port)
        return port

    def _bind_failed(self, failure) -> None:
        """Tell whoever waits for the port that there will be none."""
        waiters, self._bound_waiters = self._bound_waiters, []
        for d in waiters:
            d.errback(failure)
