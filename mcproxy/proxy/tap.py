"""``twistd mcproxy``: options and the service maker."""

from __future__ import annotations

import atexit
import os
import signal
import sys

from mcproxy.options import ProxyOptions as Options

__all__ = ["Options", "makeService"]


def makeService(options: Options):
    """The only place the proxy touches the global reactor."""
    from twisted.internet import reactor

    from mcproxy.ops.logging import logged_process
    from mcproxy.proxy.service import ProxyProcess, reload_on_sighup
    from mcproxy.proxy.worker import ParentWatch

    config = options.config
    logging = config.logging
    slot = options["slot"]
    if slot is None and config.proxy.workers > 1:
        return _supervisor(options, reactor)
    process = ProxyProcess(config, reactor, worker=slot)
    reload_on_sighup(process, reactor)
    if slot is None:
        return logged_process(process, logging.level, logging.file, process.redactor)
    ParentWatch(reactor, 0, reactor.stop).setServiceParent(process)
    return logged_process(process, logging.level, logging.file, process.redactor,
                          stamp={"worker": f"w{slot.index}"})


def _supervisor(options: Options, reactor):
    """``[proxy] workers = N``: this process only supervises N ``twistd mcproxy --worker``."""
    from twisted.logger import Logger

    from mcproxy.ops.logging import logged_process
    from mcproxy.ops.redaction import Redactor
    from mcproxy.proxy.supervisor import WorkerSupervisor

    config = options.config
    path = os.path.abspath(config.path)

    def command(slot) -> list[str]:
        return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "mcproxy", "-c", path,
                "--worker", f"{slot.index}/{slot.count}", "--restarts", str(slot.restarts)]

    def exhausted() -> None:
        atexit.register(os._exit, 1)
        reactor.stop()

    supervisor = WorkerSupervisor(reactor, config.proxy.workers, command,
                                  Logger(namespace="mcproxy.workers"), exhausted)
    signal.signal(signal.SIGHUP, lambda signum, frame: reactor.callFromThread(supervisor.reload))
    logging = config.logging
    return logged_process(supervisor, logging.level, logging.file, Redactor())
