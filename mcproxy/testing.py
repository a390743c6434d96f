"""Fakes for tests, here and in projects that embed mcproxy."""

from __future__ import annotations

import json
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

    proxy_id = ""

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
        self.kicked: list[tuple[str, str]] = []
        self.alerts: list[str] = []
        self.messages: list[tuple[str, str]] = []
        self.forwarded: list[tuple[str, bytes]] = []
        self.transfers_out: list[tuple] = []

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

    def kick(self, player: str, reason: str) -> defer.Deferred[bool]:
        self.kicked.append((player, reason))
        return defer.succeed(self.players.pop(player, None) is not None)

    def alert(self, text: str, raw: bool = False) -> defer.Deferred[int]:
        self.alerts.append(text)
        return defer.succeed(len(self.players))

    def send_message(self, player: str, text: str, raw: bool = False) -> defer.Deferred[bool]:
        self.messages.append((player, text))
        return defer.succeed(player in self.players)

    def forward(self, server: str, payload: bytes) -> defer.Deferred[bool]:
        self.forwarded.append((server, payload))
        return defer.succeed(server in self.players.values())

    def forward_to_player(self, player: str, payload: bytes) -> defer.Deferred[bool]:
        self.forwarded.append((player, payload))
        return defer.succeed(player in self.players)

    def transfer_out(self, player: str, host: str, port: int, server: str | None = None) -> defer.Deferred:
        self.transfers_out.append((player, host, port, server))
        done = player in self.players
        return defer.succeed(TransferResult(done, "" if done else f"{player} is not online"))

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


# Cluster fakes: one Redis for several ClusterDirectory objects, on a Clock.


class FakeRedisLink:
    """Stands in for :class:`mcproxy.cluster.redis.RedisLink`: up or down as a test says."""

    def __init__(self) -> None:
        self.connected = False
        self.last_error = "not connected yet"
        self._observers: list = []
        self.running = False

    def observe(self, callback) -> None:
        self._observers.append(callback)

    def set_connected(self, connected: bool) -> None:
        self.connected = connected
        self.last_error = "" if connected else "connection refused"
        for observer in list(self._observers):
            observer(connected)

    def startService(self) -> None:
        self.running = True

    def stopService(self) -> defer.Deferred:
        self.running = False
        return defer.succeed(None)


class InMemoryRedis:
    """The directory's Redis semantics (what ``mcproxy.cluster.store``'s scripts do) in dicts.

    Liveness keys expire on ``clock``; events and requests are delivered synchronously to
    whoever subscribed.  Operations named in ``hold`` (``"apply"``, ``"entries"``, ...) are
    done at once but answered only at ``release_held``: a reply still on its way.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.players: dict[str, str] = {}
        self.alive: dict[str, tuple[str, float]] = {}
        self.proxies: set[str] = set()
        self.by_proxy: dict[str, set[str]] = {}
        self.subscribers: dict[str, list] = {}
        self.down = False
        self.hold: set[str] = set()
        self.held: list[tuple[defer.Deferred, object]] = []

    def store(self, proxy_id: str, seal) -> "InMemoryStore":
        """``proxy_id``'s store; ``seal`` seals its events (``mcproxy.cluster.events.sealer``)."""
        return InMemoryStore(self, proxy_id, seal)

    def subscribe(self, channel: str, callback) -> None:
        self.subscribers.setdefault(channel, []).append(callback)

    def is_alive(self, proxy_id: str) -> bool:
        token = self.alive.get(proxy_id)
        return token is not None and token[1] > self.clock.seconds()

    def drop_held(self, proxy_id: str) -> int:
        dropped = 0
        for u in self.by_proxy.pop(proxy_id, set()):
            text = self.players.get(u)
            if text is not None and json.loads(text)["proxy"] == proxy_id:
                del self.players[u]
                dropped += 1
        return dropped

    def publish(self, channel: str, message: str) -> int:
        receivers = list(self.subscribers.get(channel, []))
        for callback in receivers:
            callback(channel, message)
        return len(receivers)

    def release_held(self) -> None:
        held, self.held = self.held, []
        for d, result in held:
            d.callback(result)


class InMemoryStore:
    """One proxy's :class:`mcproxy.cluster.store.DirectoryStore` against an :class:`InMemoryRedis`."""

    def __init__(self, redis: InMemoryRedis, proxy_id: str, seal) -> None:
        self.redis = redis
        self.proxy_id = proxy_id
        self.seal = seal

    def _answer(self, compute, operation: str = ""):
        from mcproxy.cluster.redis import RedisUnavailable
        if self.redis.down:
            return defer.fail(RedisUnavailable("connection refused"))
        result = compute()
        if operation in self.redis.hold:
            waiter: defer.Deferred = defer.Deferred()
            self.redis.held.append((waiter, result))
            return waiter
        return defer.succeed(result)

    def heartbeat(self, token: str, ttl: float) -> defer.Deferred:
        def beat():
            r = self.redis
            previous = r.alive.get(self.proxy_id)
            kept = previous is not None and previous[0] == token and r.is_alive(self.proxy_id)
            r.alive[self.proxy_id] = (token, r.clock.seconds() + ttl)
            r.proxies.add(self.proxy_id)
            reaped, dropped = [], 0
            for other in sorted(r.proxies):
                if not r.is_alive(other):
                    dropped += r.drop_held(other)
                    r.proxies.discard(other)
                    reaped.append(other)
            if dropped:
                r.publish("mcproxy:events", self.seal({"op": "reaped"}))
            return kept, reaped
        return self._answer(beat)

    def republish(self, entries) -> defer.Deferred:
        def republish():
            r = self.redis
            r.drop_held(self.proxy_id)
            held = r.by_proxy.setdefault(self.proxy_id, set())
            for entry in entries:
                r.players[entry.uuid] = entry.encode()
                held.add(entry.uuid)
            r.publish("mcproxy:events", self.seal({"op": "republished"}))
            return len(entries)
        return self._answer(republish)

    def withdraw(self) -> defer.Deferred:
        def withdraw():
            r = self.redis
            r.drop_held(self.proxy_id)
            r.alive.pop(self.proxy_id, None)
            r.proxies.discard(self.proxy_id)
            r.publish("mcproxy:events", self.seal({"op": "reaped"}))
            return 1
        return self._answer(withdraw)

    def apply(self, operations: list[tuple]) -> defer.Deferred:
        """What ``store.APPLY`` does: each operation in order, one sealed event for the batch."""
        from mcproxy.cluster.store import Claim, batch_body

        def apply():
            r = self.redis
            results, applied = [], []
            for operation in operations:
                kind, player = operation[0], operation[1]
                current = r.players.get(player)
                took = False
                if kind == "c":
                    other = PlayerEntry.decode(current) if current else None
                    if other is not None and other.proxy != self.proxy_id and operation[3] != "1" \
                            and r.is_alive(other.proxy):
                        results.append(Claim(False, other))
                    else:
                        if other is not None:
                            r.by_proxy.get(other.proxy, set()).discard(player)
                        r.players[player] = operation[2]
                        r.by_proxy.setdefault(self.proxy_id, set()).add(player)
                        results.append(Claim(True, other))
                        took = other is not None
                elif current is not None and json.loads(current)["session"] == operation[2]:
                    if kind == "u":
                        r.players[player] = operation[3]
                    else:
                        del r.players[player]
                        r.by_proxy.get(self.proxy_id, set()).discard(player)
                    results.append(True)
                    took = True
                else:
                    results.append(False)
                applied.append("1" if took else "0")
            if "1" in applied:
                r.publish("mcproxy:events", self.seal(batch_body(operations)) + "|" + "".join(applied))
            return results
        return self._answer(apply, "apply")

    def entries(self) -> defer.Deferred:
        return self._answer(lambda: list(self.redis.players.items()), "entries")

    def publish(self, channel: str, message: str) -> defer.Deferred:
        return self._answer(lambda: self.redis.publish(channel, message))
