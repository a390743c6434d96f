"""The control plane with the Redis directory: a backend linked to one proxy reaches players of another."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.control.reasons import RejectReason, UnknownPlayer
from mcproxy.control.results import CommandResult, TransferResult
from mcproxy.testing import InMemoryRedis
from tests.test_cluster_directory import Proxy
from tests.test_control_link import Network, rejects


class Commands:
    """The proxy's command dispatcher as the in-process directory uses it for a bridged command."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []

    def dispatch(self, sender, line: str) -> bool:
        self.ran.append((sender.profile.name, line))
        sender.send_system_message(f"ran {line} for {sender.profile.name}")
        return True


class ControlAcrossProxiesTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.net = Network()
        self.addCleanup(self.net.link.stopService)
        redis = InMemoryRedis(self.net.clock)
        self.one, self.two = Proxy(redis, "p1"), Proxy(redis, "p2")
        self.two.core.commands = Commands()
        self.bob = self.two.join("Bob", "games")
        # The backend links to p1, whose control plane answers from p1's cluster directory.
        self.net.factory.directory = self.one.directory
        self.net.start()

    def test_player_lookup_and_command_for_a_player_on_another_proxy(self) -> None:
        """ExecuteProxyCommand for a player p2 holds is not UNKNOWN_PLAYER on p1: it runs on p2."""
        ran = self.successResultOf(self.net.result(self.net.link.execute_command(str(self.bob.profile.id), "hub")))
        self.assertEqual(ran, CommandResult(True, "ran hub for Bob"))
        self.assertEqual(self.two.core.commands.ran, [("Bob", "hub")])
        self.assertEqual(self.two.metric("mcproxy_cluster_rpc_total", operation="execute", outcome="served"), 1)
        self.assertEqual(rejects(self.net.proxy_metrics, RejectReason.UNKNOWN_PLAYER), 0)

    def test_transfer_for_a_player_on_another_proxy(self) -> None:
        """TransferPlayer for a player p2 holds moves them on p2 and answers done."""
        moved = self.successResultOf(self.net.result(self.net.link.request_transfer("Bob", "lobby")))
        self.assertEqual(moved, TransferResult(True, "You are now connected to lobby."))
        self.assertEqual(self.bob.switches, ["lobby"])

    def test_nobody_anywhere_is_unknown(self) -> None:
        """A player no proxy of the network holds is UNKNOWN_PLAYER, counted on the proxy."""
        self.failureResultOf(self.net.result(self.net.link.execute_command("Nobody", "hub")), UnknownPlayer)
        self.failureResultOf(self.net.result(self.net.link.request_transfer("Nobody", "lobby")), UnknownPlayer)
        self.assertEqual(rejects(self.net.proxy_metrics, RejectReason.UNKNOWN_PLAYER), 2)
        self.two.leave(self.bob)
        self.failureResultOf(self.net.result(self.net.link.request_transfer("Bob", "lobby")), UnknownPlayer)
