"""How the router reaches a backend."""

from __future__ import annotations

import uuid

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionRefusedError, TimeoutError as ConnectTimeout
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.backend import BackendConnection, BackendFactory, BackendLogin
from mcproxy.wire.packets import packet_ids
from mcproxy.proxy.routing import NoServerAvailable, Router, ServerAddress


class _CountingResolver:
    """Counts resolutions and never answers them."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolveHostName(self, receiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"):
        self.asked.append(hostName)
        receiver.resolutionBegan(None)
        return receiver


def _reactor() -> MemoryReactorClock:
    reactor = MemoryReactorClock()
    reactor.nameResolver = _CountingResolver()
    return reactor


def _router(reactor, host: str) -> Router:
    return Router(reactor, {"lobby": ServerAddress(host, 25566)}, ["lobby"], {}, concurrent_max=8,
                  connect_timeout=5, login_timeout=5, max_frame_size=2097151)


def _login() -> BackendLogin:
    profile = GameProfile(uuid.uuid4(), "Steve", ())
    return BackendLogin(profile=profile, protocol=767, host="play.example.com", port=25565,
                        address="127.0.0.1", mode="none", secret=b"")


class RouterConnectTests(SynchronousTestCase):
    def test_ip_literal_connects_without_resolving(self) -> None:
        """A backend given as an IP address is dialled at once: no resolver round trip."""
        reactor = _reactor()
        _router(reactor, "127.0.0.1").connect(_login(), ["lobby"])
        self.assertEqual(reactor.nameResolver.asked, [])
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients], [("127.0.0.1", 25566)])

    def test_ipv6_literal_connects_without_resolving(self) -> None:
        """The same holds for an IPv6 literal."""
        reactor = _reactor()
        _router(reactor, "::1").connect(_login(), ["lobby"])
        self.assertEqual(reactor.nameResolver.asked, [])
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients], [("::1", 25566)])

    def test_no_wrapping_protocol_between_socket_and_backend(self) -> None:
        """The socket talks to the backend connection itself: no endpoint wrapper relays each read."""
        reactor = _reactor()
        d = _router(reactor, "127.0.0.1").connect(_login(), ["lobby"])
        factory = reactor.tcpClients[0][2]
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 25566))
        self.assertIsInstance(protocol, BackendConnection)
        protocol.makeConnection(StringTransport())
        self.assertNoResult(d)
        self.assertTrue(factory.connected.called)

    def test_connect_timeout_is_a_refusal(self) -> None:
        """A backend that does not accept within connect_timeout refuses the player as BACKEND_CONNECT_TIMEOUT."""
        reactor = _reactor()
        d = _router(reactor, "127.0.0.1").connect(_login(), ["lobby"])
        factory = reactor.tcpClients[0][2]
        factory.clientConnectionFailed(reactor.connectors[0], Failure(ConnectTimeout()))
        failure = self.failureResultOf(d, NoServerAvailable)
        self.assertEqual([refusal.reason for _, refusal in failure.value.attempts], ["BACKEND_CONNECT_TIMEOUT"])

    def test_host_name_is_resolved(self) -> None:
        """A backend given by name still goes through the reactor's resolver."""
        reactor = _reactor()
        _router(reactor, "lobby.internal").connect(_login(), ["lobby"])
        self.assertEqual(reactor.nameResolver.asked, ["lobby.internal"])


class RouterObservesTests(SynchronousTestCase):
    """Every connect tells ``observe`` whether the server was reachable."""

    def test_connect_outcomes_observed(self) -> None:
        """A connect that works is observed reachable; a refused one unreachable, with why."""
        reactor = _reactor()
        seen = []
        router = _router(reactor, "127.0.0.1")
        router.observe = lambda name, reachable, detail: seen.append((name, reachable, detail))
        router.connect(_login(), ["lobby"]).addErrback(lambda f: None)
        _, _, factory, _, _ = reactor.tcpClients[0]
        factory.clientConnectionFailed(reactor.connectors[0], Failure(ConnectionRefusedError()))
        self.assertEqual(seen, [("lobby", False, "a player's connect failed: connection refused")])
        router.connect(_login(), ["lobby"])
        _, port, factory, _, _ = reactor.tcpClients[1]
        factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", port)).makeConnection(StringTransport())
        self.assertEqual(seen[1], ("lobby", True, "a player connected"))


class BackendFactoryTests(SynchronousTestCase):
    def test_connections_do_not_log_factory_start_and_stop(self) -> None:
        """Each backend connection has its own factory; starting and stopping it logs nothing
        (two lines of noise per join otherwise)."""
        factory = BackendFactory(_login(), packet_ids(767), 2097151)
        with capturedLogs() as events:
            factory.doStart()
            factory.doStop()
        self.assertEqual(events, [])
