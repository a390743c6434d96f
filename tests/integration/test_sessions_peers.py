"""Players through the proxy with real peers: minecraft-protocol clients and servers, mineflayer."""

from __future__ import annotations


from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.deployment import wait_until
from tests.integration.harness import (
    NodePeer, free_port, listening_peer, node_missing, sleep, temp_dir, write_proxy_config,
)
from tests.integration.proxy_harness import game_port, run_proxy

VERSIONS = ("1.20.5", "1.21.4", "26.1")


class ProxyWithEchoBackends:
    """Mixin: echo backends from minecraft-protocol and an in-process proxy in front."""

    timeout = 150

    def setUp(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)

    @defer.inlineCallbacks
    def start(self, version: str, backends=("lobby",), down=(), try_order=None, extra: str = ""):
        self.backends = {}
        ports = {}
        for name in backends:
            self.backends[name], ports[name] = yield listening_peer(self, "echo_server.js", version)
        for name in down:
            ports[name] = free_port()
        path = write_proxy_config(temp_dir(self), 0, ports, try_order=try_order, extra=extra)
        self.proxy = yield run_proxy(self, path)
        self.port = game_port(self.proxy)

    def client(self, version: str, name: str, *lines: str) -> NodePeer:
        peer = NodePeer("chat_client.js", "127.0.0.1", self.port, version, name, *lines)
        self.addCleanup(peer.stop)
        return peer

    def refusals(self) -> dict[str, float]:
        return {sample.labels["reason"]: sample.value
                for family in self.proxy.registry.collect() if family.name == "mcproxy_refusals"
                for sample in family.samples if sample.name.endswith("_total")}

    @defer.inlineCallbacks
    def all_gone(self):
        """Wait until the proxy holds no connection and no player: it lets go of a leaving
        player's connections in its own time, a moment after the peers saw them end."""
        core = self.proxy.core
        try:
            yield wait_until(lambda: core.connections == 0 and len(core.players) == 0, 10,
                             interval=0.05, what="the proxy to let go of every connection")
        except AssertionError:
            pass  # the assertions below say what is left
        self.assertEqual(core.connections, 0)
        self.assertEqual(len(core.players), 0)


class ChatThroughProxyTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def _chat_both_ways(self, version: str):
        yield self.start(version)
        client = self.client(version, "Steve", "hello proxy", "/glist")
        code = yield client.finished(60)
        texts = [e["text"] for e in client.events if e["event"] == "system_chat"]
        self.assertEqual(code, 0, client.events)
        self.assertIn(f"echo {self.backends['lobby'].events[0]['port']}: hello proxy", texts)
        self.assertIn("[lobby] (1): Steve\nTotal players online: 1", texts)
        # The backend's report comes through its own pipe: its "leave" is the last line of
        # Steve's connection, so everything it saw of him has been read once that is in.
        yield self.backends["lobby"].wait_for("leave", username="Steve")
        backend_events = self.backends["lobby"].events
        self.assertIn({"event": "chat", "username": "Steve", "message": "hello proxy"},
                      [{k: e[k] for k in ("event", "username", "message") if k in e} for e in backend_events])
        self.assertNotIn("command", [e["event"] for e in backend_events],
                         "a proxy command must not reach the backend")
        yield self.all_gone()

    def test_chat_1_20_5(self):
        """A 1.20.5 client joins through the proxy; chat reaches the backend and the echo comes back."""
        return self._chat_both_ways("1.20.5")

    def test_chat_1_21_4(self):
        """A 1.21.4 client joins through the proxy; chat reaches the backend and the echo comes back."""
        return self._chat_both_ways("1.21.4")

    def test_chat_26_1(self):
        """A 26.1 client joins through the proxy; chat reaches the backend and the echo comes back."""
        return self._chat_both_ways("26.1")


class RoutingTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def test_unreachable_first_server_falls_through(self):
        """With the first server of `try` down, the player lands on the next one."""
        yield self.start("1.21.4", backends=("lobby",), down=("down",), try_order=["down", "lobby"])
        client = self.client("1.21.4", "Faller", "hi")
        code = yield client.finished(60)
        self.assertEqual(code, 0, client.events)
        yield self.backends["lobby"].wait_for("join", username="Faller")
        fallbacks = [s for f in self.proxy.registry.collect() if f.name == "mcproxy_routing_fallbacks"
                     for s in f.samples if s.name.endswith("_total")]
        self.assertEqual([(s.labels["server"], s.value) for s in fallbacks], [("down", 1.0)])

    @defer.inlineCallbacks
    def test_no_server_left_disconnects_with_reason(self):
        """When every server is down the player is told so once the join's tries (within half of
        ``login_timeout``) are over, and the refusal is counted."""
        yield self.start("1.21.4", backends=(), down=("a", "b"), extra="login_timeout = 4")
        client = self.client("1.21.4", "Nobody", "hi")
        yield client.finished(60)
        reasons = [e.get("reason", "") for e in client.events if e["event"] in ("disconnected", "kicked")]
        self.assertTrue(any("No server is available" in r for r in reasons), client.events)
        self.assertEqual(self.refusals().get("NO_SERVER_AVAILABLE"), 1.0)

    @defer.inlineCallbacks
    def test_backend_kick_reaches_player(self):
        """A backend's kick mid-session reaches the player with its reason and the session ends cleanly."""
        yield self.start("1.21.4")
        client = self.client("1.21.4", "Kicked", "/kickme", "never sent")
        yield client.finished(60)
        kicks = [e["reason"] for e in client.events if e["event"] == "kicked"]
        self.assertEqual(kicks, ["Kicked by the echo server"])
        yield self.all_gone()

    @defer.inlineCallbacks
    def test_backend_stopped_mid_session(self):
        """A backend that dies mid-session and stays away past ``fallback_hold`` leaves the player a
        clean reason, and no connection behind."""
        yield self.start("1.21.4", extra="fallback_hold = 3")
        # Lingering, so the client does not leave by itself before the backend goes.
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, "1.21.4", "Orphan", "first",
                          env={"LINGER_MS": "30000"})
        self.addCleanup(client.stop)
        yield client.wait_for("system_chat")
        yield self.backends["lobby"].stop()
        yield client.finished(60)
        kicks = [e["reason"] for e in client.events if e["event"] == "kicked"]
        self.assertEqual(kicks, ["Lost connection to the server lobby."], client.events)
        yield self.all_gone()


    @defer.inlineCallbacks
    def test_fallback_retried_until_a_server_takes_the_player(self):
        """A backend stopped while its fallback is not up yet (or refuses, as a backend
        taking over a crowd does past its login cap): the player is held and the fallback
        tried again a few seconds on, not disconnected; they land on it, told why."""
        yield self.start("1.21.4", backends=("lobby",), down=("game",), try_order=["lobby", "game"])
        game_port = self.proxy.config.servers["game"].port
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, "1.21.4", "Patient", "first",
                          env={"LINGER_MS": "25000", "CLIENT_TIMEOUT_MS": "60000"})
        self.addCleanup(client.stop)
        yield client.wait_for("system_chat")
        yield self.backends["lobby"].stop()
        yield sleep(1.5)
        game = NodePeer("echo_server.js", game_port, "1.21.4")
        self.addCleanup(game.stop)
        yield game.wait_for("listening", 60)
        moved = yield client.wait_for("system_chat", timeout=20,
                                      text="Lost connection to the server lobby. You are now on game.")
        self.assertTrue(moved)
        yield game.wait_for("join", timeout=20, username="Patient")
        self.assertFalse([e for e in client.events if e["event"] in ("kicked", "disconnected")], client.events)


    @defer.inlineCallbacks
    def test_player_held_through_a_backend_restart(self):
        """The only backend restarts and stays away longer than the client waits for a keep-alive:
        the player is held ("Reconnecting…"), kept alive by the proxy's own keep-alives, and put
        back on the backend once it listens again, never disconnected."""
        yield self.start("1.21.4")
        lobby_port = self.backends["lobby"].events[0]["port"]
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, "1.21.4", "Held", "first",
                          env={"LINGER_MS": "60000", "CLIENT_TIMEOUT_MS": "90000", "KEEPALIVE_TIMEOUT_MS": "15000"})
        self.addCleanup(client.stop)
        yield client.wait_for("system_chat", text=f"echo {lobby_port}: first")
        yield self.backends["lobby"].stop()
        yield client.wait_for("system_chat", timeout=20, text="Lost connection to the server lobby. Reconnecting…")
        held = len(client.events)
        # Longer than the client's 15 s keep-alive timeout: only the proxy speaks to it now.
        yield sleep(20)
        restarted = NodePeer("echo_server.js", lobby_port, "1.21.4")
        self.addCleanup(restarted.stop)
        yield restarted.wait_for("listening", 60)
        yield client.wait_for("system_chat", timeout=20,
                              text="Lost connection to the server lobby. You are now on lobby.")
        yield restarted.wait_for("join", timeout=20, username="Held")
        during = [e["event"] for e in client.events[held:]]
        self.assertGreaterEqual(during.count("keep_alive"), 1, client.events)
        self.assertFalse([e for e in client.events if e["event"] in ("kicked", "disconnected", "end", "error")],
                         client.events)
        holds = {s.labels["outcome"]: s.value for f in self.proxy.registry.collect()
                 if f.name == "mcproxy_fallback_holds" for s in f.samples if s.name.endswith("_total")}
        self.assertEqual(holds, {"reconnected": 1.0})


    @defer.inlineCallbacks
    def test_backend_stopped_while_configuring_just_after_a_move(self):
        """Moved to a server that stops while the client is still configuring with it: the
        player goes back to the lobby through that same configuration, told why, and chats on."""
        yield self.start("1.21.4", backends=("lobby",), down=("game",), try_order=["lobby", "game"])
        game = NodePeer("echo_server.js", self.proxy.config.servers["game"].port, "1.21.4",
                        env={"STALL_CONFIGURATION": "1"})
        self.addCleanup(game.stop)
        yield game.wait_for("listening", 60)
        lobby_port = self.backends["lobby"].events[0]["port"]
        # The client says its next line after any system chat. Back on the lobby it gets two at
        # once: /server's answer (the move failed) and the fallback's notice, so "second" is sent
        # on the first and the second ends its script; without lingering it can leave before the
        # echo of "second" is back (seen in CI under load). The test waits for that echo either way.
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, "1.21.4", "Mover", "first", "/server game",
                          "second", env={"CLIENT_TIMEOUT_MS": "60000", "LINGER_MS": "5000"})
        self.addCleanup(client.stop)
        yield client.wait_for("system_chat", text=f"echo {lobby_port}: first")
        yield game.wait_for("configuring", username="Mover")
        yield game.stop()
        yield client.wait_for("system_chat", timeout=20, text="Lost connection to the server game. You are now on lobby.")
        yield client.wait_for("system_chat", timeout=10, text=f"echo {lobby_port}: second")
        code = yield client.finished(20)
        self.assertEqual(code, 0, client.events)
        self.assertFalse([e for e in client.events if e["event"] in ("kicked", "disconnected")], client.events)
        losses = {(s.labels["state"], s.labels["outcome"]): s.value for f in self.proxy.registry.collect()
                  if f.name == "mcproxy_backend_losses" for s in f.samples if s.name.endswith("_total")}
        self.assertEqual(losses, {("configuration", "moved"): 1.0})


class MineflayerTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def test_bot_spawns_through_proxy(self):
        """A mineflayer bot logs in through the proxy and spawns in the backend's world."""
        yield self.start("1.21.4")
        bot = NodePeer("bot.js", "127.0.0.1", self.port, "1.21.4", "Bot")
        self.addCleanup(bot.stop)
        yield bot.wait_for("spawn", timeout=40)
        code = yield bot.finished(20)
        self.assertEqual(code, 0, bot.events)


class SwitchingTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def _switch_and_chat(self, version: str):
        yield self.start(version, backends=("lobby", "game"))
        lobby_port = self.backends["lobby"].events[0]["port"]
        game_port = self.backends["game"].events[0]["port"]
        client = self.client(version, "Mover", "before", "/server game", "after", "/server")
        code = yield client.finished(60)
        texts = [e["text"] for e in client.events if e["event"] == "system_chat"]
        self.assertEqual(code, 0, client.events)
        self.assertEqual(texts, [
            f"echo {lobby_port}: before",
            "You are now connected to game.",
            f"echo {game_port}: after",
            "You are on game. Servers: game, lobby",
        ])
        yield self.backends["lobby"].wait_for("leave", username="Mover")
        self.assertEqual([e["event"] for e in self.backends["lobby"].events if e["event"] in ("join", "leave")],
                         ["join", "leave"])

    def test_switch_1_20_5(self):
        """/server moves a 1.20.5 player to another backend in place; chat then reaches the new one."""
        return self._switch_and_chat("1.20.5")

    def test_switch_1_21_4(self):
        """/server moves a 1.21.4 player to another backend in place; chat then reaches the new one."""
        return self._switch_and_chat("1.21.4")

    def test_switch_26_1(self):
        """/server moves a 26.1 player to another backend in place; chat then reaches the new one."""
        return self._switch_and_chat("26.1")

    @defer.inlineCallbacks
    def test_failed_switch_leaves_player_in_place(self):
        """A switch to a server that is down leaves the player where they were, with a message."""
        yield self.start("1.21.4", backends=("lobby",), down=("broken",))
        lobby_port = self.backends["lobby"].events[0]["port"]
        client = self.client("1.21.4", "Stayer", "/server broken", "still here")
        code = yield client.finished(60)
        texts = [e["text"] for e in client.events if e["event"] == "system_chat"]
        self.assertEqual(code, 0, client.events)
        self.assertTrue(texts[0].startswith("Could not connect you to that server"), texts)
        self.assertEqual(texts[1], f"echo {lobby_port}: still here")

    @defer.inlineCallbacks
    def test_kick_lands_player_on_fallback(self):
        """A backend kick mid-session moves the player to the next server of `try`, told why."""
        yield self.start("1.21.4", backends=("lobby", "fallback"))
        fallback_port = self.backends["fallback"].events[0]["port"]
        client = self.client("1.21.4", "Bounced", "/kickme", "where am i")
        code = yield client.finished(60)
        texts = [e["text"] for e in client.events if e["event"] == "system_chat"]
        self.assertEqual(code, 0, client.events)
        self.assertEqual(texts[0],
                         "You were kicked from lobby: Kicked by the echo server You are now on fallback.")
        self.assertEqual(texts[1], f"echo {fallback_port}: where am i")

    @defer.inlineCallbacks
    def test_send_moves_another_player(self):
        """/send, granted by [permissions], moves another online player to the named server."""
        yield self.start("1.21.4", backends=("lobby", "game"),
                         extra='[permissions]\n"mcproxy.command.send" = ["Admin"]')
        # Online until the test ends: the admin's join may take a while on a loaded machine.
        target = NodePeer("chat_client.js", "127.0.0.1", self.port, "1.21.4", "Target", "wait",
                          env={"LINGER_MS": "90000", "CLIENT_TIMEOUT_MS": "100000"})
        self.addCleanup(target.stop)
        yield self.backends["lobby"].wait_for("join", username="Target")
        admin = self.client("1.21.4", "Admin", "/send Target game")
        yield admin.finished(60)
        yield target.wait_for("system_chat", text="You are now connected to game.", timeout=20)
        yield self.backends["game"].wait_for("join", username="Target")
        self.assertEqual(self.proxy.core.players.find("Target").server, "game")


class CommandTreeTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def _tree_and_completion(self, version: str):
        yield self.start(version, backends=("lobby", "game"))
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, version, "Tabber", "/glist",
                          env={"REPORT_COMMANDS": "1", "TAB_COMPLETE": "/server g"})
        self.addCleanup(client.stop)
        code = yield client.finished(60)
        self.assertEqual(code, 0, client.events)
        trees = [e["root"] for e in client.events if e["event"] == "commands"]
        self.assertEqual(len(trees), 1, client.events)
        self.assertEqual(trees[0][0], "echo", "the backend's own commands stay")
        self.assertEqual(sorted(trees[0][1:]), ["find", "glist", "server"])
        completions = [e for e in client.events if e["event"] == "tab_complete"]
        self.assertEqual(completions, [{"event": "tab_complete", "transactionId": 42, "start": 8, "length": 1,
                                        "matches": ["game"]}])

    def test_tree_1_20_5(self):
        """A 1.20.5 client's command tree holds the backend's commands and the proxy's; /server completes."""
        return self._tree_and_completion("1.20.5")

    def test_tree_26_1(self):
        """A 26.1 client's command tree holds the backend's commands and the proxy's; /server completes."""
        return self._tree_and_completion("26.1")


class ReadTimeoutTests(ProxyWithEchoBackends, TestCase):
    @defer.inlineCallbacks
    def test_silent_backend_replaced(self):
        """A backend that stops sending (keep-alives included) but keeps its socket open is
        dropped after ``read_timeout`` and the player, still moving about, lands on the
        fallback, told why; counted as a backend lost in play.  The bot, standing still, sends
        nothing while its server is silent: the server goes, not the player."""
        yield self.start("1.21.4", backends=("game",), down=("lobby",), try_order=["lobby", "game"],
                         extra="read_timeout = 6")
        lobby = NodePeer("echo_server.js", self.proxy.config.servers["lobby"].port, "1.21.4",
                         env={"SILENT_PLAY": "1"})
        self.addCleanup(lobby.stop)
        yield lobby.wait_for("listening")
        bot = NodePeer("bot.js", "127.0.0.1", self.port, "1.21.4", "Mover",
                       env={"LINGER_MS": "30000", "CLIENT_TIMEOUT_MS": "60000"})
        self.addCleanup(bot.stop)
        yield lobby.wait_for("join", timeout=40, username="Mover")
        moved = yield bot.wait_for("message", timeout=30,
                                   text="Lost connection to the server lobby. You are now on game.").addErrback(
            lambda _: self.fail((bot.events, lobby.events, self.refusals())))
        self.assertTrue(moved, (bot.events, lobby.events))
        yield self.backends["game"].wait_for("join", timeout=5, username="Mover")
        yield lobby.wait_for("leave", timeout=10, username="Mover")
        # Longer than read_timeout on game, whose keep-alives (every 4 s) and the bot's answers
        # are read through the relay's sockets as they are set up for play.
        yield sleep(8)
        self.assertFalse([e for e in bot.events if e["event"] in ("kicked", "end", "error")], bot.events)
        losses = {(s.labels["state"], s.labels["outcome"]): s.value for f in self.proxy.registry.collect()
                  if f.name == "mcproxy_backend_losses" for s in f.samples if s.name.endswith("_total")}
        self.assertEqual(losses, {("play", "moved"): 1.0})
        self.assertNotIn("READ_TIMEOUT", self.refusals())
