"""A login plugin round trip on first join: a real backend asks, a real client answers, through the proxy."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.harness import NodePeer, listening_peer, node_missing, temp_dir, write_proxy_config
from tests.integration.proxy_harness import game_port, run_proxy

VERSION = "1.21.4"


class LoginPluginRelayPeerTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_round_trip_on_first_join(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        backend, backend_port = yield listening_peer(self, "login_plugin_backend.js", VERSION, "fml:handshake",
                                                     "c0ffee")
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend_port})
        proxy = yield run_proxy(self, path)

        client = NodePeer("chat_client.js", "127.0.0.1", game_port(proxy), VERSION, "Forgey",
                          env={"LOGIN_PLUGIN_ANSWER": "beef01", "LINGER_MS": "500", "CLIENT_TIMEOUT_MS": "60000"})
        self.addCleanup(client.stop)
        asked = yield client.wait_for("login_plugin_request", 40)
        self.assertEqual((asked["channel"], asked["data"]), ("fml:handshake", "c0ffee"))
        answered = yield backend.wait_for("login_plugin_response", 20)
        self.assertEqual((answered["messageId"], answered["data"]), (7, "beef01"))
        yield backend.wait_for("join", 20, username="Forgey")
        yield client.wait_for("play", 20)
