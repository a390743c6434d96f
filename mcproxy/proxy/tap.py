"""``twistd mcproxy``: options and the service maker."""

from __future__ import annotations

from mcproxy.options import ProxyOptions as Options

__all__ = ["Options", "makeService"]


def makeService(options: Options):
    """The only place the proxy touches the global reactor."""
    from twisted.internet import reactor

    from mcproxy.ops.logging import LoggingMultiService, start_logging
    from mcproxy.proxy.service import ProxyProcess, reload_on_sighup

    config = options.config
    process = ProxyProcess(config, reactor)
    reload_on_sighup(process, reactor)
    top = LoggingMultiService(start_logging(config.logging.level, config.logging.file or None, process.redactor))
    process.setServiceParent(top)
    return top
