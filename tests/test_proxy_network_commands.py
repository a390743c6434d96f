"""/alert, /kick and /ip, and proxy commands run from the shell as the console."""

from __future__ import annotations

from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.admin import ActionError
from mcproxy.proxy.commands import CommandDispatcher, builtin_commands
from mcproxy.proxy.console import Console, command_action
from mcproxy.proxy.network_commands import DEFAULT_KICK_REASON, network_commands
from tests.test_proxy_commands import FakePlayer, FakeProxy


class NetworkPlayer(FakePlayer):
    def __init__(self, name: str, address: str = "203.0.113.9") -> None:
        super().__init__(name)
        self.address = address
        self.kicked: list[str] = []

    def disconnect(self, message: str) -> None:
        self.kicked.append(message)


class NetworkCommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.proxy = FakeProxy()
        self.proxy.log = Logger(observer=lambda e: None)
        self.commands = CommandDispatcher(self.proxy.log, {
            "mcproxy.command.alert": ["Admin"], "mcproxy.command.kick": ["Admin"],
            "mcproxy.command.ip": ["Admin"]})
        for command in builtin_commands(self.proxy) + network_commands(self.proxy):
            self.commands.register(command)
        self.admin = NetworkPlayer("Admin")
        self.other = NetworkPlayer("Other", "198.51.100.4")
        self.proxy.players.add(self.admin)
        self.proxy.players.add(self.other)

    def test_nobody_by_default(self) -> None:
        """Without a grant in [permissions] a player may run none of the three."""
        for line in ("alert hi", "kick Admin", "ip Admin"):
            self.commands.dispatch(self.other, line)
        self.assertEqual(self.other.messages, [f"You do not have permission to run /{n}."
                                               for n in ("alert", "kick", "ip")])
        self.assertEqual(self.admin.kicked, [])
        self.assertEqual([c.name for c in self.commands.visible(self.other)
                          if c.name in ("alert", "kick", "ip")], [])

    def test_alert(self) -> None:
        """/alert reaches every player, and the sender learns how many."""
        self.commands.dispatch(self.admin, "alert Restart in 5 minutes")
        self.assertEqual(self.other.messages, ["[Alert] Restart in 5 minutes"])
        self.assertEqual(self.admin.messages, ["[Alert] Restart in 5 minutes", "Alert sent to 2 player(s)."])

    def test_kick(self) -> None:
        """/kick disconnects the named player with the reason given, or a default one."""
        self.commands.dispatch(self.admin, "kick other Be nice")
        self.commands.dispatch(self.admin, "kick Other")
        self.commands.dispatch(self.admin, "kick Nobody")
        self.assertEqual(self.other.kicked, ["Be nice", DEFAULT_KICK_REASON])
        self.assertEqual(self.admin.messages, ["Kicked Other.", "Kicked Other.", "Nobody is not online."])

    def test_ip(self) -> None:
        """/ip shows the address the player connects from."""
        self.commands.dispatch(self.admin, "ip Other")
        self.commands.dispatch(self.admin, "ip")
        self.assertEqual(self.admin.messages, ["Other is connected from 198.51.100.4.", "Usage: /ip <player>"])

    def test_console_action(self) -> None:
        """The admin action runs a line as the console, which needs no grant, and returns its output."""
        run = command_action(self.commands, self.proxy.log)
        self.assertEqual(run({"line": "/kick Other Bye"}), {"command": "kick", "output": ["Kicked Other."]})
        self.assertEqual(self.other.kicked, ["Bye"])
        self.assertEqual(run({"line": "ip Admin"})["output"], ["Admin is connected from 203.0.113.9."])

    def test_console_action_refusals(self) -> None:
        """No line, a huge one or an unknown command is refused with a message, never run."""
        run = command_action(self.commands, self.proxy.log)
        for body, code in (({}, 400), ({"line": 5}, 400), ({"line": "  "}, 400),
                           ({"line": "/x" * 20000}, 400), ({"line": "/nosuch thing"}, 404)):
            with self.assertRaises(ActionError) as caught:
                run(body)
            self.assertEqual(caught.exception.code, code)

    def test_console_cannot_switch(self) -> None:
        """/server from the console says why it cannot, instead of failing."""
        console = Console()
        self.commands.dispatch(console, "server lobby")
        self.assertEqual(console.output, ["The console is not a player and cannot switch servers."])
