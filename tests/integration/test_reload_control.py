"""A config reload that loads a plugin reaches a linked backend as a newer registry snapshot."""

from __future__ import annotations

import sys
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.internet.endpoints import clientFromString
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.trial.unittest import TestCase

import mcproxy.plugins
from mcproxy.config import load_proxy_config
from mcproxy.control.backend_side import BackendControlLink
from mcproxy.proxy.service import ProxyProcess
from tests.test_proxy_plugins import EXAMPLES, SECRET, proxy_config
from tests.integration.harness import temp_dir


class ReloadPushTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        sys.path.insert(0, str(EXAMPLES))
        saved = list(mcproxy.plugins.__path__)

        def restore() -> None:
            sys.path.remove(str(EXAMPLES))
            mcproxy.plugins.__path__[:] = saved
            sys.modules.pop("mcproxy.plugins.hello_plugin", None)

        self.addCleanup(restore)

    @defer.inlineCallbacks
    def until(self, condition: Any, limit: float = 10.0) -> Any:
        waited = 0.0
        while not condition():
            if waited > limit:
                self.fail("condition not reached in time")
            yield deferLater(reactor, 0.02, lambda: None)
            waited += 0.02

    @defer.inlineCallbacks
    def test_reload_pushes_plugin_command(self) -> Any:
        """After a reload enables the example plugin, a synchronized backend mirrors /hello at the new serial."""
        directory = temp_dir(self)
        path = proxy_config(directory)
        process = ProxyProcess(load_proxy_config(path), reactor)
        process.privilegedStartService()
        process.startService()
        self.addCleanup(process.stopService)
        port = yield process.getServiceNamed("messaging").when_bound()
        link = BackendControlLink(
            "lobby", SECRET.encode(), clientFromString(reactor, f"tcp:host=127.0.0.1:port={port.getHost().port}"),
            reactor, CollectorRegistry(), Logger(), heartbeat_interval=0.2, retry_initial_delay=0.05,
            retry_max_delay=0.2)
        link.startService()
        self.addCleanup(link.stopService)
        yield link.when_synchronized()
        before = link.serial
        proxy_config(directory, '[plugins]\nenabled = true\nallow = ["hello"]\n')
        self.assertTrue(process.reload())
        yield self.until(lambda: link.serial == process.command_registry.serial)
        self.assertGreater(link.serial, before)
        self.assertTrue(link.synchronized)
        self.assertIn("hello", [getattr(c, "name", c) for c in link.commands])
