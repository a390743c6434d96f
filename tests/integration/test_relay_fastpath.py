"""The relay's direct write is on for real players and backends, and the session still works."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from mcproxy.proxy.session import play
from mcproxy.proxy.fastpath import fast_path
from tests.integration.test_sessions_peers import ProxyWithEchoBackends


class DirectWriteTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def test_both_sides_of_a_relay_send_directly(self):
        """A minecraft-protocol client chats through a switch; every relayed socket got the direct write."""
        installed = []

        def recording(transport):
            answer = fast_path(transport)
            installed.append((transport, answer))
            return answer

        self.patch(play, "fast_path", recording)
        yield self.start("1.21.4", backends=("lobby", "game"))
        game_port = self.backends["game"].events[0]["port"]
        client = self.client("1.21.4", "Quick", "before", "/server game", "after " + "x" * 200)
        code = yield client.finished(45)
        texts = [e["text"] for e in client.events if e["event"] == "system_chat"]
        self.assertEqual(code, 0, client.events)
        self.assertIn(f"echo {game_port}: after " + "x" * 200, texts)
        # The player's side once per backend it was relayed to, and each backend once.
        self.assertEqual(len(installed), 4, installed)
        self.assertTrue(all(answer for _, answer in installed), installed)
        self.assertTrue(all(transport.fast_path for transport, _ in installed))
