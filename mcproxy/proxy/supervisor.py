"""The parent of ``[proxy] workers = N``: starts the workers, restarts one that dies, passes
reload and stop on, and exits once they all have.

A worker that dies is restarted after a delay that doubles with each death of that slot in
the last ``window`` seconds (from ``first_delay`` up to ``max_delay``); a slot that dies more
than ``max_restarts`` times in that window is crash-looping, and restarting it again would
only spin: it is given up, loudly. When every slot has been given up nothing is left to
supervise, and ``exhausted`` is called (the plugin stops the process with status 1, so
systemd's ``Restart=on-failure`` takes over).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessDone, ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger

from mcproxy.proxy.worker import WorkerSlot


class WorkerProtocol(ProcessProtocol):
    """One running worker; tells the supervisor when it has ended."""

    def __init__(self, supervisor: "WorkerSupervisor", slot: WorkerSlot) -> None:
        self.supervisor = supervisor
        self.slot = slot
        self.pid: int | None = None

    def connectionMade(self) -> None:
        self.pid = self.transport.pid

    def signal(self, name: str) -> None:
        try:
            self.transport.signalProcess(name)
        except ProcessExitedAlready:
            pass

    def processEnded(self, reason) -> None:
        self.supervisor.worker_ended(self, reason)


def how_it_ended(reason) -> str:
    """A worker's end as a log line says it: an exit status or the signal that killed it."""
    value = reason.value
    if isinstance(value, ProcessDone):
        return "exited with status 0"
    signal, status = getattr(value, "signal", None), getattr(value, "exitCode", None)
    if signal is not None:
        return f"was killed by signal {signal}"
    return f"exited with status {status}"


class WorkerSupervisor(Service):
    """Runs ``count`` workers, each spawned from ``command(slot)`` (an argv)."""

    name = "workers"

    def __init__(self, reactor: Any, count: int, command: Callable[[WorkerSlot], list[str]],
                 log: Logger, exhausted: Callable[[], None], *, first_delay: float = 0.5,
                 max_delay: float = 30.0, max_restarts: int = 5, window: float = 60.0,
                 grace: float = 10.0) -> None:
        self.reactor = reactor
        self.count = count
        self.command = command
        self.log = log
        self.exhausted = exhausted
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.max_restarts = max_restarts
        self.window = window
        self.grace = grace
        self.running_workers: dict[int, WorkerProtocol] = {}
        self.restarts = {index: 0 for index in range(1, count + 1)}
        self.given_up: set[int] = set()
        self._deaths: dict[int, deque[float]] = {index: deque() for index in self.restarts}
        self._pending: dict[int, Any] = {}
        self._stopping: Deferred | None = None
        self._kill_call = None

    def startService(self) -> None:
        super().startService()
        for index in self.restarts:
            self._start(index)

    def _start(self, index: int) -> None:
        slot = WorkerSlot(index, self.count, self.restarts[index])
        protocol = WorkerProtocol(self, slot)
        argv = self.command(slot)
        # The worker's stdin is a pipe only we hold: it reads end of file when we are gone.
        self.reactor.spawnProcess(protocol, argv[0], argv, env=dict(os.environ),
                                  childFDs={0: "w", 1: 1, 2: 2})
        self.running_workers[index] = protocol
        self.log.info("worker {index} of {count} started (pid {pid})", index=index, count=self.count,
                      pid=protocol.pid)

    def worker_ended(self, protocol: WorkerProtocol, reason) -> None:
        index = protocol.slot.index
        if self.running_workers.get(index) is protocol:
            del self.running_workers[index]
        how = how_it_ended(reason)
        if self._stopping is not None:
            self.log.info("worker {index} {how}", index=index, how=how)
            if not self.running_workers:
                self._stopped()
            return
        now = self.reactor.seconds()
        deaths = self._deaths[index]
        deaths.append(now)
        while deaths and deaths[0] <= now - self.window:
            deaths.popleft()
        if len(deaths) > self.max_restarts:
            self.given_up.add(index)
            self.log.critical(
                "worker {index} {how}; it ended {deaths} times in {window:g} s, so it is not restarted",
                index=index, how=how, deaths=len(deaths), window=self.window)
            if len(self.given_up) == self.count:
                self.log.critical("every worker has been given up; stopping")
                self.exhausted()
            return
        delay = min(self.max_delay, self.first_delay * 2 ** (len(deaths) - 1))
        self.log.warn("worker {index} (pid {pid}) {how}; restarting it in {delay:g} s (restart {n})",
                      index=index, pid=protocol.pid, how=how, delay=delay, n=self.restarts[index] + 1)
        self._pending[index] = self.reactor.callLater(delay, self._restart, index)

    def _restart(self, index: int) -> None:
        del self._pending[index]
        self.restarts[index] += 1
        self._start(index)

    def signal_all(self, name: str) -> int:
        """Send signal ``name`` ("HUP", "TERM", "KILL") to every running worker."""
        for protocol in list(self.running_workers.values()):
            protocol.signal(name)
        return len(self.running_workers)

    def reload(self) -> None:
        """SIGHUP: each worker re-reads the config itself and logs what it made of it."""
        sent = self.signal_all("HUP")
        self.log.info("reload passed on to {count} worker(s)", count=sent)

    def stopService(self) -> Deferred:
        super().stopService()
        for call in self._pending.values():
            call.cancel()
        self._pending.clear()
        if not self.running_workers:
            return succeed(None)
        self._stopping = Deferred()
        self.log.info("stopping {count} worker(s)", count=self.signal_all("TERM"))
        self._kill_call = self.reactor.callLater(self.grace, self._kill)
        return self._stopping

    def _kill(self) -> None:
        self._kill_call = None
        self.log.warn("{count} worker(s) still running {grace:g} s after SIGTERM; killing them",
                      count=self.signal_all("KILL"), grace=self.grace)

    def _stopped(self) -> None:
        if self._kill_call is not None:
            self._kill_call.cancel()
            self._kill_call = None
        stopping, self._stopping = self._stopping, None
        stopping.callback(None)
