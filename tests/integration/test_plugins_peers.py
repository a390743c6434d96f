"""The example plugin in a running proxy, driven by a real minecraft-protocol client."""

from __future__ import annotations

import sys

from twisted.internet import defer
from twisted.trial.unittest import TestCase

import mcproxy.plugins
from tests.integration.harness import REPO
from tests.integration.test_sessions_peers import ProxyWithEchoBackends

EXAMPLES = REPO / "examples" / "plugins"


class ExamplePluginTests(ProxyWithEchoBackends, TestCase):
    timeout = 45

    def setUp(self):
        super().setUp()
        sys.path.insert(0, str(EXAMPLES))
        saved = list(mcproxy.plugins.__path__)

        def restore():
            sys.path.remove(str(EXAMPLES))
            mcproxy.plugins.__path__[:] = saved
            sys.modules.pop("mcproxy.plugins.hello_plugin", None)

        self.addCleanup(restore)

    @defer.inlineCallbacks
    def test_hello_through_proxy(self):
        """With [plugins] enabled, the example's /hello runs on the proxy for a real client, never reaching the backend."""
        yield self.start("1.21.4", extra='[plugins]\nenabled = true\nallow = ["hello"]')
        self.assertEqual(sorted(self.proxy.plugins.loaded), ["hello"])
        self.assertEqual(self.proxy.commands.get("hello").owner, "hello")
        client = self.client("1.21.4", "Greeter", "/hello", "/hello Alex")
        code = yield client.finished(40)
        self.assertEqual(code, 0, client.events)
        texts = [e["text"] for e in client.events if e["event"] == "system_chat"]
        self.assertEqual(texts, ["Hello, Greeter! You are on lobby.", "Hello, Alex! You are on lobby."])
        self.assertNotIn("command", [e["event"] for e in self.backends["lobby"].events])
