"""``twistd mcproxy``: options and the service maker."""

from __future__ import annotations

from mcproxy.options import ProxyOptions as Options

__all__ = ["Options", "makeService"]


def makeService(options: Options):
    """The only place the proxy touches the global reactor."""
    from twisted.internet import reactor

    from mcproxy.ops.logging import logged_process
    from mcproxy.proxy.service import ProxyProcess, reload_on_sighup

    process = ProxyProcess(options.config, reactor)
    reload_on_sighup(process, reactor)
    logging = options.config.logging
    return logged_process(process, logging.level, logging.file, process.redactor)
