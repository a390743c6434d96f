"""Fakes for tests, here and in projects that embed mcproxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.test import iosim
from zope.interface import implementer

from mcproxy.cluster.entry import PlayerEntry
from mcproxy.control.results import CommandResult, TransferResult
from mcproxy.interfaces import IPlayerDirectory

# Control plane fakes.


@implementer(IPlayerDirectory)
class InMemoryPlayerDirectory:
    """Players and servers in dicts; records every transfer and command."""

    def __init__(
        self,
        players: dict[str, str] | None = None,
        servers: Iterable[str] = (),
        full_servers: Iterable[str] = (),
    ) -> None:
        self.players: dict[str, str] = dict(players or {})
        self.servers = set(servers)
        self.full_servers = set(full_servers)
        self.transfers: list[tuple[str, str]] = []
        self.commands: list[tuple[str, str]] = []

    def has_player(self, player: str) -> bool:
        return player in self.players

    def has_server(self, server: str) -> bool:
        return server in self.servers

    def transfer(self, player: str, server: str, notify: bool = False) -> defer.Deferred[TransferResult]:
        self.transfers.append((player, server))
        if server in self.full_servers:
            return defer.succeed(TransferResult(False, "server is full"))
        if self.players.get(player) == server:
            return defer.succeed(TransferResult(False, "already connected to that server"))
        self.players[player] = server
        return defer.succeed(TransferResult(True))

    def execute(self, player: str, command_line: str) -> defer.Deferred[CommandResult]:
        self.commands.append((player, command_line))
        return defer.succeed(CommandResult(True, f"ran {command_line!r} for {player}"))

    def online_count(self) -> int:
        return len(self.players)

    def entries(self) -> list[PlayerEntry]:
        return [self._entry(name) for name in sorted(self.players, key=str.lower)]

    def _entry(self, name: str) -> PlayerEntry:
        return PlayerEntry(uuid=str(uuid.uuid3(uuid.NAMESPACE_OID, name)), name=name, proxy="", server=self.players[name],
                           address="", protocol=0, login_time=0.0, session="")

    def locate(self, player: str) -> PlayerEntry | None:
        return self._entry(player) if player in self.players else None

    def claim(self, connection) -> defer.Deferred[bool]:
        return defer.succeed(connection.profile.name not in self.players)

    def joined(self, connection) -> None:
        self.players[connection.profile.name] = connection.server

    def moved(self, connection) -> None:
        self.players[connection.profile.name] = connection.server

    def left(self, connection) -> None:
        self.players.pop(connection.profile.name, None)


@implementer(IStreamClientEndpoint)
class LoopbackEndpoint:
    """A client endpoint that connects, in memory, to a server factory.

    Connections are iosim pumps on the given clock: call L{flush} to move
    bytes. Set C{server_factory} to None to refuse connections (a proxy that is
    down), and back to a factory to let the next retry in.
    """

    def __init__(self, server_factory: IProtocolFactory | None, clock: Clock) -> None:
        self.server_factory = server_factory
        self.clock = clock
        self.pumps: list[iosim.IOPump] = []
        self.attempts = 0

    def connect(self, protocol_factory: IProtocolFactory) -> defer.Deferred[IProtocol]:
        self.attempts += 1
        if self.server_factory is None:
            return defer.fail(ConnectionRefusedError("loopback server is down"))
        server_address = IPv4Address("TCP", "127.0.0.1", 25580)
        client_address = IPv4Address("TCP", "127.0.0.1", 40000 + self.attempts)
        server = self.server_factory.buildProtocol(client_address)
        client = protocol_factory.buildProtocol(server_address)
        if server is None or client is None:
            return defer.fail(ConnectionRefusedError("factory refused"))
        server_transport = iosim.makeFakeServer(server)
        client_transport = iosim.makeFakeClient(client)
        pump = iosim.connect(
            server, server_transport, client, client_transport, greet=False, clock=self.clock
        )
        self.pumps.append(pump)
        return defer.succeed(client)

    def flush(self) -> None:
        """Deliver everything in flight on every connection, until quiet."""
        for _ in range(100):
            moved = False
            for pump in list(self.pumps):
                if pump.flush():
                    moved = True
            if not moved:
                return

    def drop_all(self) -> None:
        """Close every connection from the server side (the proxy went away)."""
        for pump in self.pumps:
            pump.server.transport.loseConnection()
        self.flush()
        self.pumps = []
