"""kick_existing_players both ways and the status player sample, with real minecraft-protocol
players and mcstatus."""

from __future__ import annotations

from twisted.internet import defer, threads
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.harness import NodePeer, listening_peer, node_missing, temp_dir, write_proxy_config
from tests.integration.proxy_harness import game_port, run_proxy

VERSION = "1.21.4"


class AdmissionPeerTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def start(self, extra: str):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        backend, backend_port = yield listening_peer(self, "echo_server.js", VERSION)
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend_port}, extra=extra)
        self.proxy = yield run_proxy(self, path)
        self.port = game_port(self.proxy)

    def client(self, name: str, *lines: str, linger: int = 60000) -> NodePeer:
        peer = NodePeer("chat_client.js", "127.0.0.1", self.port, VERSION, name, *lines,
                        env={"LINGER_MS": str(linger), "CLIENT_TIMEOUT_MS": "60000"})
        self.addCleanup(peer.stop)
        return peer

    @defer.inlineCallbacks
    def test_second_login_refused_by_default(self):
        """kick_existing_players = false: the newcomer reads why and the first player stays on."""
        yield self.start("kick_existing_players = false\n")
        first = self.client("Twin", "/glist")
        yield first.wait_for("done", 40)
        second = self.client("Twin")
        refused = yield second.wait_for("disconnected", 40)
        self.assertEqual(refused["reason"], "You are already connected to this proxy!")
        self.assertEqual([e for e in first.events if e["event"] in ("kicked", "end")], [])
        self.assertEqual(len(self.proxy.core.players), 1)
        self.assertEqual(self.proxy.registry.get_sample_value(
            "mcproxy_refusals_total", {"reason": "ALREADY_CONNECTED"}), 1.0)

    @defer.inlineCallbacks
    def test_second_login_replaces_the_first(self):
        """kick_existing_players = true: the first session is kicked and the newcomer plays."""
        yield self.start("kick_existing_players = true\n")
        first = self.client("Twin", "/glist")
        yield first.wait_for("done", 40)
        second = self.client("Twin", "/glist")
        kicked = yield first.wait_for("kicked", 40)
        self.assertEqual(kicked["reason"], "You logged in from another location.")
        answer = yield second.wait_for("system_chat", 40)
        self.assertEqual(answer["text"], "[lobby] (1): Twin\nTotal players online: 1")
        self.assertEqual(len(self.proxy.core.players), 1)

    @defer.inlineCallbacks
    def test_status_player_sample(self):
        """mcstatus sees up to status_player_sample names of the players online."""
        from mcstatus import JavaServer

        yield self.start("status_player_sample = 2\n")
        for name in ("Ann", "Ben", "Cid"):
            yield self.client(name, "/glist").wait_for("done", 40)
        status = yield threads.deferToThread(lambda: JavaServer("127.0.0.1", self.port).status(tries=1))
        self.assertEqual(status.players.online, 3)
        names = [player.name for player in status.players.sample]
        self.assertEqual(len(names), 2)
        self.assertLessEqual(set(names), {"Ann", "Ben", "Cid"})
