"""The proxy's players as the control plane sees them: lookup, transfer, bridged commands."""

from __future__ import annotations

import uuid

from twisted.internet import defer
from zope.interface import implementer

from mcproxy.control.results import CommandResult, TransferResult
from mcproxy.interfaces import IPlayerDirectory
from mcproxy.proxy.events import SwitchCause


class _CapturingSender:
    """Stands in for a player while a bridged command runs, catching what it says.

    Output produced later (a server switch finishing) reaches the player directly.
    """

    def __init__(self, connection) -> None:
        self._connection = connection
        self.output: list[str] = []
        self.capturing = True

    def send_system_message(self, text: str) -> None:
        if self.capturing:
            self.output.append(text)
        else:
            self._connection.send_system_message(text)

    def __getattr__(self, name: str):
        return getattr(self._connection, name)


@implementer(IPlayerDirectory)
class ProxyDirectory:
    """Implements what backends may ask of the proxy over the control plane."""

    def __init__(self, core) -> None:
        self._core = core

    def _find(self, player: str):
        players = self._core.players
        try:
            return players.get(uuid.UUID(player))
        except ValueError:
            return players.find(player)

    def has_player(self, player: str) -> bool:
        return self._find(player) is not None

    def has_server(self, server: str) -> bool:
        return server in self._core.router.servers

    def transfer(self, player: str, server: str) -> defer.Deferred:
        connection = self._find(player)
        if connection is None:
            return defer.succeed(TransferResult(False, f"{player} is not online"))
        d = connection.switch_to(server, SwitchCause.CONTROL)
        d.addCallbacks(lambda message: TransferResult(True, message),
                       lambda failure: TransferResult(False, str(failure.value)))
        return d

    def execute(self, player: str, command_line: str) -> defer.Deferred:
        connection = self._find(player)
        if connection is None:
            return defer.succeed(CommandResult(False, f"{player} is not online"))
        sender = _CapturingSender(connection)
        try:
            handled = self._core.commands.dispatch(sender, command_line)
        finally:
            sender.capturing = False
        if not handled:
            return defer.succeed(CommandResult(False, f"unknown proxy command: {command_line.split()[0] if command_line.split() else ''}"))
        return defer.succeed(CommandResult(True, "\n".join(sender.output)))
