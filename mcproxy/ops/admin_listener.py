"""The admin listener's service: a process that cannot serve its admin port does not start.

Without it a process would run headless: no /health for its probes, and ``mcproxyctl``
(which finds the process by the port in its config) would talk to whatever holds that
port instead. A Minecraft listener there answers an HTTP request by closing the
connection, which ``mcproxyctl`` can only report as "Remote end closed connection without
response".
"""

from __future__ import annotations

from twisted.application.service import Service
from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy.ops.listener import BoundListener


class AdminListenerService(BoundListener):
    """Listens on ``[admin].bind``; a bind refused at start stops the process with
    ``where: cannot listen: reason`` (``where`` is ``file: admin.bind``), no traceback."""

    log = Logger(namespace="mcproxy.ops")

    def __init__(self, endpoint, factory, where: str) -> None:
        super().__init__(endpoint, factory, "admin")
        self.where = where

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
        self._bind_failed(failure)
