"""``twistd mcbackend``: options and the service maker."""

from __future__ import annotations

from mcproxy.options import BackendOptions as Options

__all__ = ["Options", "makeService"]


def makeService(options: Options):
    """The only place the backend touches the global reactor."""
    from twisted.internet import reactor

    from mcproxy.backend.service import BackendProcess
    from mcproxy.ops.logging import logged_process

    process = BackendProcess(options.config, reactor)
    logging = options.config.logging
    return logged_process(process, logging.level, logging.file, process.redactor)
