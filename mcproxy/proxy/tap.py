"""``twistd mcproxy``: options and the service maker."""

from __future__ import annotations

from mcproxy.options import ProxyOptions as Options

__all__ = ["Options", "makeService"]


def makeService(options: Options):
    """The only place the proxy touches the global reactor."""
    from twisted.internet import reactor

    from mcproxy.proxy.service import ProxyProcess

    return ProxyProcess(options.config, reactor)
