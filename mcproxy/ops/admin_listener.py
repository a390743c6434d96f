"""The admin listener's service: a process that cannot serve its admin port does not start.

Without it a process would run headless: no /health for its probes, and ``mcproxyctl``
(which finds the process by the port in its config) would talk to whatever holds that
port instead. A Minecraft listener there answers an HTTP request by closing the
connection, which ``mcproxyctl`` can only report as "Remote end closed connection without
response".
"""

from __future__ import annotations

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure


class AdminListenerService(StreamServerEndpointService):
    """Listens on ``[admin].bind``; a bind refused at start stops the process with
    ``where: cannot listen: reason`` (``where`` is ``file: admin.bind``), no traceback."""

    log = Logger(namespace="mcproxy.ops")

    def __init__(self, endpoint, factory, where: str) -> None:
        super().__init__(endpoint, factory)
        self.setName("admin")
        self.where = where
        #: The listening port once bound (tests and tools ask it which port ``tcp:0`` got).
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

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)
        failures: list[Failure] = []
        waiting = self.endpoint.listen(self.factory)
        waiting.addErrback(failures.append)
        if failures:
            raise SystemExit(f"{self.where}: cannot listen: {failures[0].getErrorMessage()}")
        # An endpoint that fails later (none of tcp:, ssl:, unix: does) is logged plainly.
        waiting.addCallbacks(self._bound, self._failed)
        self._waitingForPort = waiting

    def _failed(self, failure: Failure) -> None:
        self.log.error("{where}: cannot listen: {error}", where=self.where, error=failure.getErrorMessage())
        waiters, self._bound_waiters = self._bound_waiters, []
        for d in waiters:
            d.errback(failure)
