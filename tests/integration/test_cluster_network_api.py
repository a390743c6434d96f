"""Plugins, /transfer and the BungeeCord channel across proxies: real redis-server, two proxies,
minecraft-protocol players and backends."""

from __future__ import annotations

from twisted.internet import defer

from mcproxy.proxy.console import Console
from mcproxy.proxy.plugins import PluginAPI
from mcproxy.proxy.remote_player import RemotePlayer
from mcproxy.wire import bungee
from tests.integration.harness import listening_peer
from tests.integration.deployment import wait_until
from tests.integration.test_bungee_channel_peers import request
from tests.integration.test_cluster import VERSION, ClusterCase, counter

utf = bungee.encode_utf


class PluginsAcrossProxiesTests(ClusterCase):

    @defer.inlineCallbacks
    def test_plugin_api_and_transfer_reach_a_player_on_another_proxy(self):
        """A plugin on p1 finds Bob on p2, messages and moves him there; /transfer on p1 sends him on."""
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        bob = yield self.online(two, "Bob")
        api = PluginAPI(one.process.core, "network-test")
        yield wait_until(lambda: api.find_player("Bob") is not None, 10, what="p1's plugins see Bob")
        found = api.find_player("bob")
        self.assertIsInstance(found, RemotePlayer)
        self.assertEqual((found.proxy, found.server), ("p2", "lobby"))
        self.assertIn("Bob", [p.name for p in api.players()])
        shown = yield api.send_message("Bob", "Hello from p1's plugin")
        self.assertTrue(shown)
        yield bob.wait_for("system_chat", 20, text="Hello from p1's plugin")
        message = yield api.move_player("Bob", "games")
        self.assertEqual(message, "You are now connected to games.")
        yield self.backends["games"].wait_for("join", 20, username="Bob")
        console = Console()
        one.process.commands.dispatch(console, "transfer Bob 127.0.0.1 25599")
        yield bob.wait_for("transfer", 20, port=25599)
        yield wait_until(lambda: console.output == ["Transferred Bob to 127.0.0.1:25599."], 10,
                         what="/transfer's answer")
        self.assertEqual(counter(two.process, "mcproxy_cluster_rpc_total", operation="transfer_out",
                                 outcome="served"), 1)


class BungeeAcrossProxiesTests(ClusterCase):

    @defer.inlineCallbacks
    def test_backend_plugin_reaches_a_player_on_another_proxy(self):
        """A BungeeCord plugin on Steve's server (p1) counts and lists both proxies' players, and looks up,
        messages, forwards to and moves Other on p2."""
        requests = [
            request("IPOther", "Other"), request("UUIDOther", "other"),
            request("PlayerCount", "ALL"), request("PlayerList", "ALL"),
            request("Message", "Other", "Hello across proxies"),
            request("MessageRaw", "ALL", '{"text":"Raw ","extra":[{"text":"to all"}]}'),
            request("ForwardToPlayer", "Other", "Chan", data=b"\x01\x02"),
            request("ConnectOther", "Other", "games"),
        ]
        hub, hub_port = yield listening_peer(self, "bungee_backend.js", VERSION, "Steve", bungee.CHANNEL, *requests)
        self.ports = {"lobby": hub_port, "games": self.ports["games"]}
        one = yield self.proxy("p1")
        two = yield self.proxy("p2")
        other = yield self.online(two, "Other")
        yield wait_until(lambda: "Other" in self.network_names(one), 10, what="p1 sees Other")
        steve = self.player(one, "Steve")
        yield self.backends["games"].wait_for("join", 40, username="Other")
        yield other.wait_for("system_chat", 20, text="Raw to all")
        yield steve.wait_for("system_chat", 20, text="Raw to all")
        yield other.wait_for("system_chat", 20, text="Hello across proxies")
        yield hub.wait_for("plugin_message", 20, username="Other", data=(utf("Chan") + b"\x00\x02\x01\x02").hex())

        def answers():
            return [bytes.fromhex(e["data"]) for e in hub.events
                    if e["event"] == "plugin_message" and e["username"] == "Steve"]
        # Steve's answers come back on his own connection, which the hub reads apart from Other's.
        try:
            yield wait_until(lambda: len(answers()) >= 2, 20, what="both answers to Steve's requests")
        except AssertionError:
            pass  # the assertion below shows what did come
        other_id = two.process.core.players.find("Other").profile.id
        self.assertEqual(answers(), [
            utf("IPOther") + utf("Other") + utf("127.0.0.1") + bungee.encode_int(0),
            utf("UUIDOther") + utf("Other") + utf(other_id.hex),
            utf("PlayerCount") + utf("ALL") + bungee.encode_int(2),
            utf("PlayerList") + utf("ALL") + utf("Other, Steve"),
        ])
        for operation in ("message", "forward_to_player", "transfer", "alert"):
            self.assertEqual(counter(two.process, "mcproxy_cluster_rpc_total", operation=operation,
                                     outcome="served"), 1, operation)
