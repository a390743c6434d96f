"""Built-in proxy commands run against a fake proxy: /transfer's checks and tab completion."""

from __future__ import annotations

import uuid

from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.commands import CommandDispatcher, builtin_commands
from mcproxy.proxy.core import PlayerDirectory
from mcproxy.proxy.directory import ProxyDirectory


class FakePlayer:
    def __init__(self, name: str, server: str = "lobby", transferable: bool = True) -> None:
        self.profile = type("Profile", (), {"name": name, "id": uuid.uuid4()})()
        self.server = server
        self.probe = False
        self.correlation_id = name
        self.messages: list[str] = []
        self.transfers: list[tuple] = []
        self.transferable = transferable

    def send_system_message(self, text: str) -> None:
        self.messages.append(text)

    def transfer_out(self, host: str, port: int, server: str | None) -> None:
        if not self.transferable:
            raise ValueError("the player cannot be transferred right now")
        self.transfers.append((host, port, server))


class FakeProxy:
    def __init__(self) -> None:
        self.players = PlayerDirectory()
        self.router = type("Router", (), {"servers": {"lobby": None, "game": None}})()
        self.network = ProxyDirectory(self)


class TransferCommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.proxy = FakeProxy()
        self.commands = CommandDispatcher(Logger(observer=lambda e: None),
                                          {"mcproxy.command.transfer": ["Admin"],
                                           "mcproxy.command.send": ["Admin"]})
        for command in builtin_commands(self.proxy):
            self.commands.register(command)
        self.admin = FakePlayer("Admin")
        self.target = FakePlayer("Target")
        self.proxy.players.add(self.admin)
        self.proxy.players.add(self.target)

    def test_default_off(self) -> None:
        """/transfer is refused to players [permissions] does not name."""
        self.commands.dispatch(self.target, "transfer Admin example.com")
        self.assertEqual(self.target.messages, ["You do not have permission to run /transfer."])
        self.assertEqual(self.admin.transfers, [])

    def test_transfer(self) -> None:
        """A granted /transfer sends the target on with port and server, and says so."""
        self.commands.dispatch(self.admin, "transfer target play.example.com 25570 game")
        self.assertEqual(self.target.transfers, [("play.example.com", 25570, "game")])
        self.assertEqual(self.admin.messages, ["Transferred Target to play.example.com:25570."])

    def test_default_port(self) -> None:
        """Without a port the Minecraft default is used, and no server is named."""
        self.commands.dispatch(self.admin, "transfer Target play.example.com")
        self.assertEqual(self.target.transfers, [("play.example.com", 25565, None)])

    def test_refusals(self) -> None:
        """Bad usage, an offline player, a bad port or a player between servers each get a message."""
        self.target.transferable = False
        for line in ("transfer Target", "transfer Nobody host", "transfer Target host port",
                     "transfer Target host"):
            self.commands.dispatch(self.admin, line)
        self.assertEqual(self.admin.messages, [
            "Usage: /transfer <player> <host> [port] [server]",
            "Nobody is not online.",
            "port is not a port number.",
            "Cannot transfer Target: the player cannot be transferred right now",
        ])

    def test_suggestions(self) -> None:
        """Tab completion offers online player names for /transfer and /find, server names for /server."""
        self.assertEqual(self.commands.suggestions(self.admin, "transfer T"), (9, 1, ["Target"]))
        self.assertEqual(self.commands.suggestions(self.admin, "find "), (5, 0, ["Admin", "Target"]))
        self.assertEqual(self.commands.suggestions(self.admin, "server g"), (7, 1, ["game"]))
        self.assertEqual(self.commands.suggestions(self.admin, "send Target "), (12, 0, ["game", "lobby"]))
        self.assertIsNone(self.commands.suggestions(self.target, "transfer T"))
