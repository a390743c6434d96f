"""One worker of ``[proxy] workers = N``: how its config differs from the file's, and how it
notices that its supervisor is gone.

Worker 1 is the one operators and backends already know: it listens on the configured
``[admin]`` and ``[messaging]`` binds and answers ``[query]``. Worker k > 1 serves its own
admin endpoint on the admin port + k - 1 and no control plane of its own: a backend linked to
worker 1 reaches worker k's players through the cluster, like any other proxy's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet import abstract, fdesc
from twisted.logger import Logger

from mcproxy.config import ProxyConfig
from mcproxy.proxy.reuseport import offset_port


@dataclass(frozen=True)
class WorkerSlot:
    """Worker ``index`` (1-based) of ``count``, restarted ``restarts`` times before."""

    index: int
    count: int
    restarts: int = 0

    def proxy_id(self, base: str) -> str:
        """This worker's id in the cluster: each has its own heartbeat and players."""
        return f"{base}/w{self.index}"

    def shape(self, config: ProxyConfig) -> ProxyConfig:
        """The file's config as this worker runs it (also applied on every reload)."""
        first = self.index == 1
        admin = config.admin
        if not first:
            admin = dataclasses.replace(
                admin, bind=offset_port(admin.bind, self.index - 1) if admin.bind else "",
                history_dir=f"{admin.history_dir}/w{self.index}" if admin.history_dir else "")
        return dataclasses.replace(
            config,
            cluster=dataclasses.replace(config.cluster, proxy_id=self.proxy_id(config.cluster.proxy_id)),
            admin=admin,
            messaging=config.messaging if first else dataclasses.replace(config.messaging, enabled=False),
            query=config.query if first else dataclasses.replace(config.query, enabled=False),
        )

    def status(self) -> dict:
        return {"index": self.index, "of": self.count, "restarts": self.restarts}


class ParentPipe(abstract.FileDescriptor):
    """The read end of a pipe the supervisor holds open: end of file means it is gone
    (even by SIGKILL), and ``gone`` stops this worker rather than leave it orphaned."""

    def __init__(self, reactor: Any, fd: int, gone: Callable[[], None]) -> None:
        super().__init__(reactor)
        self.fd = fd
        self.gone = gone
        fdesc.setNonBlocking(fd)

    def fileno(self) -> int:
        return self.fd

    def doRead(self):
        return fdesc.readFromFD(self.fd, lambda data: None)

    def connectionLost(self, reason) -> None:
        super().connectionLost(reason)
        self.gone()


class ParentWatch(Service):
    """Reads the supervisor's pipe on ``fd`` while running; ``gone`` when it closes."""

    log = Logger(namespace="mcproxy.workers")

    def __init__(self, reactor: Any, fd: int, gone: Callable[[], None]) -> None:
        self.gone = gone
        self.pipe = ParentPipe(reactor, fd, self._gone)

    def _gone(self) -> None:
        if self.running:
            self.log.warn("the supervisor is gone; this worker stops")
            self.gone()

    def startService(self) -> None:
        super().startService()
        self.pipe.startReading()

    def stopService(self):
        self.pipe.stopReading()
        return super().stopService()


def parse_slot(text: str, restarts: int = 0) -> WorkerSlot:
    """``"k/N"`` as the supervisor passes it; ``ValueError`` says what is wrong."""
    index, sep, count = text.partition("/")
    try:
        slot = WorkerSlot(int(index), int(count), restarts)
    except ValueError:
        raise ValueError(f"--worker must be k/N, not {text!r}") from None
    if not sep or not 1 <= slot.index <= slot.count:
        raise ValueError(f"--worker must be k/N with 1 <= k <= N, not {text!r}")
    return slot
