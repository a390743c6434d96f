"""The in-process player directory: this proxy's players are the whole network (the default)."""

from __future__ import annotations

import uuid

from twisted.internet import defer
from zope.interface import implementer

from mcproxy.cluster.entry import PlayerEntry
from mcproxy.control.results import CommandResult, TransferResult
from mcproxy.interfaces import IPlayerDirectory
from mcproxy.proxy.events import SwitchCause
from mcproxy.wire import bungee, chat


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


KICKED = "You logged in from another location."


@implementer(IPlayerDirectory)
class ProxyDirectory:
    """Answers from this proxy's own connections; what a single proxy without Redis runs."""

    #: Entries name no proxy: without ``[cluster]`` every player is this proxy's.
    proxy_id = ""

    def __init__(self, core) -> None:
        self._core = core
        self._login_times: dict = {}

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

    def _visible(self) -> list:
        """Players others may see: armed smoke bots are not among them."""
        return [c for c in self._core.players if not c.probe]

    def online_count(self) -> int:
        return len(self._visible())

    def _entry(self, connection) -> PlayerEntry:
        return PlayerEntry.of(connection, "", "", self._login_times.get(connection, 0.0))

    def entries(self) -> list[PlayerEntry]:
        return sorted((self._entry(c) for c in self._visible()), key=lambda e: e.name.lower())

    def locate(self, player: str) -> PlayerEntry | None:
        connection = self._find(player)
        return self._entry(connection) if connection is not None and not connection.probe else None

    def claim(self, connection) -> defer.Deferred:
        existing = self._core.players.get(connection.profile.id)
        if existing is None or existing is connection:
            return defer.succeed(True)
        return defer.succeed(self.take_over(existing))

    def take_over(self, existing) -> bool:
        """End ``existing`` for a newer login when kick_existing_players allows it."""
        return self._core.take_over(existing)

    def joined(self, connection) -> None:
        self._login_times[connection] = self._core.reactor.seconds()

    def moved(self, connection) -> None:
        pass

    def left(self, connection) -> None:
        self._login_times.pop(connection, None)

    def kick(self, player: str, reason: str) -> defer.Deferred:
        connection = self._find(player)
        if connection is None:
            return defer.succeed(False)
        self._core.log.info("{player} kicked from the network by command", player=connection.profile.name,
                            correlation_id=connection.correlation_id)
        connection.disconnect(reason)
        return defer.succeed(True)

    def alert(self, text: str, raw: bool = False) -> defer.Deferred:
        players = list(self._core.players)
        for connection in players:
            _tell(connection, text, raw)
        return defer.succeed(len(players))

    def send_message(self, player: str, text: str, raw: bool = False) -> defer.Deferred:
        connection = self._find(player)
        if connection is None:
            return defer.succeed(False)
        _tell(connection, text, raw)
        return defer.succeed(True)

    def forward(self, server: str, payload: bytes) -> defer.Deferred:
        """A BungeeCord ``Forward`` to ``server``'s backend, through one of its players here."""
        connection = next((c for c in self._core.players if c.server == server), None)
        return defer.succeed(connection is not None and _forward(connection, payload))

    def forward_to_player(self, player: str, payload: bytes) -> defer.Deferred:
        connection = self._find(player)
        return defer.succeed(connection is not None and _forward(connection, payload))

    def transfer_out(self, player: str, host: str, port: int, server: str | None = None) -> defer.Deferred:
        connection = self._find(player)
        if connection is None:
            return defer.succeed(TransferResult(False, f"{player} is not online"))
        try:
            connection.transfer_out(host, port, server)
        except ValueError as error:
            return defer.succeed(TransferResult(False, str(error)))
        return defer.succeed(TransferResult(True, ""))

    def transfer(self, player: str, server: str, notify: bool = False) -> defer.Deferred:
        connection = self._find(player)
        if connection is None:
            return defer.succeed(TransferResult(False, f"{player} is not online"))
        # notify: a /send typed on some proxy of the network; otherwise the control plane asked.
        d = connection.switch_to(server, SwitchCause.COMMAND if notify else SwitchCause.CONTROL)
        if notify:
            d.addCallbacks(lambda message: connection.send_system_message(message) or message,
                           lambda failure: connection.send_system_message(str(failure.value)) or failure)
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


def _tell(connection, text: str, raw: bool) -> None:
    """System chat: ``text`` as plain text, or with ``raw`` as a JSON chat component."""
    if not raw:
        connection.send_system_message(text)
        return
    send = getattr(connection.handler, "send_system_component", None)
    if send is not None:
        send(chat.json_to_component(text))


def _forward(connection, payload: bytes) -> bool:
    """``payload`` on the BungeeCord channel to ``connection``'s backend, as its version spells it."""
    send = getattr(connection.handler, "send_plugin_message_up", None)
    if send is None:
        return False
    send(bungee.channel_for(connection.handshake.protocol), payload)
    return True
