"""A player session on a fake clock with backends the test controls, for switch and event tests.

``PROTOCOL`` is the newest tier-1 version; a :class:`Rig` built with ``protocol=`` speaks
another (26.2 and 26.3, which no independent peer speaks yet, are tested this way).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.auth import offline_profile
from mcproxy.proxy.backend import BackendConnection, BackendLogin, BackendRefused, LoginPhase
from mcproxy.proxy.client import PlayerFactory
from mcproxy.proxy.commands import CommandDispatcher, builtin_commands
from mcproxy.proxy.core import ProxyCore, ProxySettings
from mcproxy.proxy.relay import Phase as RelayPhase
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.status import StatusResponder
from mcproxy.wire import chat
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.login import LoginLayout, encode_login_start
from mcproxy.wire.packets import TIER1_PROTOCOLS, packet_ids
from mcproxy.wire.types import Reader, encode_string, encode_ushort, encode_varint

PROTOCOL = max(TIER1_PROTOCOLS)
IDS = packet_ids(PROTOCOL)


def packet(packet_id: int, fields: bytes = b"") -> bytes:
    return encode_frame(encode_varint(packet_id) + fields)


def handshake(intent: int = 2, host: str = "play.example.com", protocol: int = PROTOCOL) -> bytes:
    return packet(0x00, encode_varint(protocol) + encode_string(host, 1024) + encode_ushort(25565)
                  + encode_varint(intent))


def login_start(name: str = "Steve", protocol: int = PROTOCOL) -> bytes:
    """Login Start as a client of ``protocol`` sends it (with a UUID where it fits)."""
    return packet(packet_ids(protocol).login_start,
                  encode_login_start(LoginLayout.of(protocol), name, uuid.uuid4()))


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """Every packet in ``data`` as ``(packet id, fields)`` (no compression)."""
    out = []
    for body in FrameDecoder().frames(data):
        reader = Reader(body)
        out.append((reader.varint(), reader.rest()))
    return out


def texts(data: bytes, packet_id: int) -> list[str]:
    """The chat text of every ``packet_id`` packet (kicks, system chat) in ``data``."""
    return [chat.plain_text(chat.nbt_to_component(fields)[0]) for pid, fields in frames(data) if pid == packet_id]


class Router:
    """Routing whose answers the test gives: each connect is a pending request."""

    def __init__(self, servers=("lobby", "survival", "creative"), try_order=("lobby", "survival")) -> None:
        self.servers = {name: object() for name in servers}
        self.try_order = tuple(try_order)
        self.requests: list[tuple[tuple[str, ...], defer.Deferred]] = []
        self.logins: list[BackendLogin] = []

    def candidates(self, host: str) -> tuple[str, ...]:
        return self.try_order

    def connect(self, login, names, correlation_id: str = "") -> defer.Deferred:
        d = defer.Deferred()
        self.logins.append(login)
        self.requests.append((tuple(names), d))
        return d

    def accept(self, index: int = -1, name: str | None = None) -> BackendConnection:
        """Answer request ``index`` with a fresh logged-in backend for ``name`` (its first choice)."""
        names, d = self.requests[index]
        backend = make_backend(self.logins[index].protocol)
        d.callback((name or names[0], backend))
        return backend

    def refuse(self, index: int = -1, message: str = "Whitelisted") -> None:
        names, d = self.requests[index]
        d.errback(Failure(NoServerAvailable([(names[0], BackendRefused("BACKEND_KICKED", message))])))

    def refuse_pending(self) -> None:
        """Every server refuses the try in flight, if there is one."""
        for index, (_, d) in enumerate(self.requests):
            if not d.called:
                self.refuse(index)


def make_backend(protocol: int = PROTOCOL) -> BackendConnection:
    login = BackendLogin(profile=offline_profile("Steve"), protocol=protocol, host="h", port=25565,
                         address="127.0.0.1", mode="none", secret=b"")
    backend = BackendConnection(login, packet_ids(protocol), 2097151)
    backend.makeConnection(StringTransport())
    backend.transport.clear()
    backend.phase = LoginPhase.LOGGED_IN
    backend.ready.callback(backend)
    return backend


def lose(backend: BackendConnection) -> None:
    """The backend's socket closes."""
    backend.connectionLost(Failure(ConnectionError("gone")))


@dataclass
class Session:
    """One player: the connection, its transport, and the backend it is on."""

    connection: object
    transport: StringTransport
    backend: BackendConnection
    #: How much of ``transport.value()`` :meth:`answer_keep_alives` has looked at.
    seen: int = 0

    def sent(self) -> bytes:
        """What the client received since the last call."""
        data = self.transport.value()
        self.transport.clear()
        self.seen = 0
        return data

    def answer_keep_alives(self) -> int:
        """The client answers each keep-alive it received since it last looked, in the
        state it is in, as a real client does; returns how many it answered."""
        data = self.transport.value()
        new, self.seen = data[self.seen:], len(data)
        connection = self.connection
        down = getattr(connection.handler, "down", None)
        if down is None:
            return 0
        ids = connection.ids
        if down.phase is RelayPhase.PLAY:
            asked, answer = ids.play_keep_alive, ids.play_keep_alive_response
        else:
            asked, answer = ids.config_keep_alive, ids.config_keep_alive_response
        answers = [packet(answer, fields) for packet_id, fields in frames(new) if packet_id == asked]
        for frame in answers:
            connection.dataReceived(frame)
        return len(answers)


class Rig:
    """A ProxyCore with built-in commands, a controllable router and uncompressed frames."""

    def __init__(self, settings: ProxySettings | None = None, protocol: int = PROTOCOL,
                 session_server=None, **router) -> None:
        self.protocol = protocol
        self.ids = packet_ids(protocol)
        self.reactor = MemoryReactorClock()
        self.registry = CollectorRegistry()
        self.log_events: list[dict] = []
        self.router = Router(**router)
        log = Logger(observer=self.log_events.append)
        commands = CommandDispatcher(log)
        settings = settings or ProxySettings(online_mode=False, compression_threshold=-1)
        self.core = ProxyCore(self.reactor, settings,
                              status=None, router=self.router, metrics=ProxyMetrics(self.registry), log=log,
                              session_server=session_server, commands=commands)
        for command in builtin_commands(self.core):
            commands.register(command)
        self.core.status = StatusResponder("A network", 100, self.core.online_count)
        self.factory = PlayerFactory(self.core)
        self.core.start()

    def connect(self):
        protocol = self.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def refusals(self, reason: str) -> float:
        return self.registry.get_sample_value("mcproxy_refusals_total", {"reason": reason}) or 0.0

    def join(self, name: str = "Steve", protocol: int | None = None) -> Session:
        """A player logged in, relayed to the first server, both directions in play
        (through the configuration state from 1.20.2; before, play follows Login Success).
        ``protocol`` defaults to the rig's."""
        protocol = protocol or self.protocol
        connection, transport = self.connect()
        connection.dataReceived(handshake(protocol=protocol) + login_start(name, protocol))
        self.reactor.advance(0)  # a cluster directory answers the claim at the end of the turn
        backend = self.router.accept()
        ids = packet_ids(protocol)
        if ids.login_acknowledged is not None:
            connection.dataReceived(packet(ids.login_acknowledged))
            backend.dataReceived(packet(ids.config_finish))
            connection.dataReceived(packet(ids.config_finish_ack))
        self.reactor.advance(0)
        transport.clear()
        backend.transport.clear()
        return Session(connection, transport, backend)

    def finish_switch(self, session: Session) -> BackendConnection:
        """The router accepted the last request; the client acknowledges; returns the new backend."""
        backend = self.router.accept()
        session.connection.dataReceived(packet(self.ids.play_configuration_acknowledged))
        session.backend = backend
        return backend
