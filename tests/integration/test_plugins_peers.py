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
    timeout = 120

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


class GatekeeperPluginTests(ProxyWithEchoBackends, TestCase):
    """The example plugin that uses event results, with real minecraft-protocol clients."""

    timeout = 180

    def setUp(self):
        super().setUp()
        sys.path.insert(0, str(EXAMPLES))
        saved = list(mcproxy.plugins.__path__)

        def restore():
            sys.path.remove(str(EXAMPLES))
            mcproxy.plugins.__path__[:] = saved
            sys.modules.pop("mcproxy.plugins.gatekeeper_plugin", None)

        self.addCleanup(restore)

    def start_network(self):
        return self.start("1.21.4", backends=("lobby", "vip", "hub"), try_order=["lobby", "vip"],
                          extra='[plugins]\nenabled = true\nallow = ["gatekeeper"]')

    def port_of(self, name: str) -> int:
        return self.backends[name].events[0]["port"]

    @defer.inlineCallbacks
    def test_results_end_to_end(self):
        """A denied login's message reaches the client, a VIP is redirected at join, and a kick
        lands the player on the hub rather than the next server of `try`."""
        yield self.start_network()
        self.assertEqual(sorted(self.proxy.plugins.loaded), ["gatekeeper"])
        banned = self.client("1.21.4", "Griefer", "never sent")
        vip = self.client("1.21.4", "Vip_Alice", "hello")
        kicked = self.client("1.21.4", "Bounced", "/kickme", "where am i")
        yield banned.finished(40)
        reasons = [e.get("reason", "") for e in banned.events if e["event"] in ("disconnected", "kicked")]
        self.assertTrue(reasons and "You are banned from this network." in reasons[0], banned.events)
        self.assertNotIn("login_success", [e["event"] for e in banned.events])
        code = yield vip.finished(40)
        self.assertEqual(code, 0, vip.events)
        texts = [e["text"] for e in vip.events if e["event"] == "system_chat"]
        self.assertEqual(texts, [f"echo {self.port_of('vip')}: hello"])
        code = yield kicked.finished(45)
        self.assertEqual(code, 0, kicked.events)
        texts = [e["text"] for e in kicked.events if e["event"] == "system_chat"]
        self.assertEqual(texts, ["You were kicked from lobby: Kicked by the echo server You are now on hub.",
                                 f"echo {self.port_of('hub')}: where am i"])
        self.assertEqual(self.refusals().get("PLUGIN_DENIED"), 1.0)
        self.assertNotIn("join", [e["event"] for e in self.backends["vip"].events
                                  if e.get("username") == "Bounced"])
