"""The plugin API and /transfer with [cluster]: players on other proxies are seen and acted on there."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mcproxy.interfaces import IPlayer
from mcproxy.proxy.plugins import PluginAPI
from mcproxy.proxy.remote_player import RemotePlayer
from mcproxy.proxy.session.switch import SwitchRefused
from mcproxy.testing import InMemoryRedis
from mcproxy.wire.types import encode_string
from tests.session_rig import IDS, Rig, packet, texts
from tests.test_cluster_directory import Proxy, join_network


class NetworkPlayersTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.rig = Rig()
        self.addCleanup(self.rig.core.stop)
        self.redis = InMemoryRedis(self.rig.reactor)
        self.network = join_network(self.rig.core, self.redis, "p1")
        self.steve = self.rig.join("Steve")
        self.other = Proxy(self.redis, "p2")
        self.zed = self.other.join("Zed", "lobby")
        self.api = PluginAPI(self.rig.core, "test")

    def test_players_and_find_span_the_network(self) -> None:
        """players() lists this proxy's players then the others'; find_player finds either kind."""
        names = [(p.name, p.proxy) for p in self.api.players()]
        self.assertEqual(names, [("Steve", "p1"), ("Zed", "p2")])
        zed = self.api.find_player("zed")
        self.assertIsInstance(zed, RemotePlayer)
        verifyObject(IPlayer, zed)
        self.assertEqual((zed.uuid, zed.server, zed.address, zed.protocol), (self.zed.profile.id, "lobby",
                                                                              "203.0.113.7", 769))
        self.assertEqual(self.api.find_player(str(self.zed.profile.id)), zed)
        self.assertEqual(self.api.find_player("steve").proxy, "p1")
        self.assertIsNone(self.api.find_player("nobody"))

    def test_actions_run_on_the_players_proxy(self) -> None:
        """send_message, move_to, transfer and disconnect on a remote player are done by p2, with answers."""
        zed = self.api.find_player("Zed")
        self.assertTrue(self.successResultOf(self.api.send_message("Zed", "hello")))
        self.assertEqual(self.zed.messages, ["hello"])
        self.assertEqual(self.successResultOf(self.api.move_player(zed, "games")), "You are now connected to games.")
        self.assertEqual(self.zed.switches, ["games"])
        self.assertIsNone(self.successResultOf(self.api.transfer_player("Zed", "play.example.com", 25570, "lobby")))
        self.assertEqual(self.zed.transfers, [("play.example.com", 25570, "lobby")])
        self.failureResultOf(zed.transfer("refuse.example"), ValueError)
        self.assertTrue(self.successResultOf(zed.disconnect("bye")))
        self.assertEqual(self.zed.disconnected, ["bye"])

    def test_refused_move_fails_like_a_local_one(self) -> None:
        """A move p2 cannot make fails with SwitchRefused, the reason as its message."""
        zed = self.api.find_player("Zed")
        self.other.leave(self.zed)
        failure = self.failureResultOf(zed.move_to("games"), SwitchRefused)
        self.assertIn("not online", str(failure.value))

    def test_without_cluster_only_local(self) -> None:
        """Without [cluster] the API sees this proxy's players, as before."""
        rig = Rig()
        self.addCleanup(rig.core.stop)
        rig.join("Alex")
        api = PluginAPI(rig.core, "test")
        self.assertEqual([(p.name, p.proxy) for p in api.players()], [("Alex", "")])
        self.assertIsNone(api.send_message("Alex", "hi"))


def steve_and_other_proxy(case, permission: str):
    """Steve, given ``permission``, on proxy p1 of a network, and a second proxy p2 in it."""
    rig = Rig()
    case.addCleanup(rig.core.stop)
    redis = InMemoryRedis(rig.reactor)
    join_network(rig.core, redis, "p1")
    rig.core.commands.set_permissions({permission: ["Steve"]})
    return rig.join("Steve"), Proxy(redis, "p2")


class TransferCommandAcrossProxiesTests(SynchronousTestCase):

    def test_transfer_a_player_on_another_proxy(self) -> None:
        """/transfer reaches a player held by another proxy, and reports its answer."""
        steve, other = steve_and_other_proxy(self, "mcproxy.command.transfer")
        zed = other.join("Zed")
        steve.connection.dataReceived(chat_command("transfer Zed play.example.com 25570"))
        steve.connection.dataReceived(chat_command("transfer Zed refuse.example"))
        self.assertEqual(zed.transfers, [("play.example.com", 25570, None)])
        self.assertEqual(texts(steve.sent(), IDS.play_system_chat), [
            "Transferred Zed to play.example.com:25570.",
            "Cannot transfer Zed: the player cannot be transferred right now"])


def chat_command(line: str) -> bytes:
    return packet(IDS.play_chat_command, encode_string(line))


class SendCommandAcrossProxiesTests(SynchronousTestCase):

    def test_send_all_and_current_include_players_on_another_proxy(self) -> None:
        """/send current and /send all move the other proxy's players too, each move run on their proxy."""
        steve, other = steve_and_other_proxy(self, "mcproxy.command.send")
        zed, yan = other.join("Zed", "lobby"), other.join("Yan", "survival")
        steve.connection.dataReceived(chat_command("send current creative"))
        self.assertEqual((zed.switches, yan.switches), (["creative"], []))
        self.assertEqual(zed.messages, ["You are now connected to creative."])
        other.directory.moved(zed)  # what ProxyCore.player_moved does once the switch completes
        other.turn()
        steve.connection.dataReceived(chat_command("send all lobby"))
        self.assertEqual((zed.switches, yan.switches), (["creative", "lobby"], ["lobby"]))
        said = texts(steve.sent(), IDS.play_system_chat)
        self.assertEqual(said[0], "Sending 2 player(s) to creative.")
        self.assertIn("Sending 2 player(s) to lobby.", said)
        self.assertEqual(other.metric("mcproxy_cluster_rpc_total", operation="transfer", outcome="served"), 3)
