"""Players are counted by protocol version in /status and /metrics."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.backend import BackendConnection, LoginPhase
from mcproxy.proxy.core import ProxySettings
from mcproxy.wire.packets import packet_ids
from tests.test_proxy_frontdoor import FakeRouter, FrontDoor, handshake, login_start, packet


class AnsweringRouter(FakeRouter):
    """Keeps each routing Deferred so the test can hand the player a backend."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[defer.Deferred] = []

    def connect(self, login, names, correlation_id: str = "") -> defer.Deferred:
        d = super().connect(login, names, correlation_id)
        self.pending.append(d)
        return d


class PlayersByVersionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.door = FrontDoor(ProxySettings(online_mode=False, compression_threshold=-1))
        self.door.router = self.door.core.router = AnsweringRouter()

    def join(self, protocol: int, name: str):
        """Log a client of ``protocol`` in and through to the relay, backend answered."""
        conn, transport = self.door.connect()
        conn.dataReceived(handshake(protocol, intent=2) + login_start(name))
        login, _, _ = self.door.router.requests[-1]
        backend = BackendConnection(login, packet_ids(protocol), 2097151)
        backend.makeConnection(StringTransport())
        backend.phase = LoginPhase.LOGGED_IN
        self.door.router.pending[-1].callback(("lobby", backend))
        conn.dataReceived(packet(packet_ids(protocol).login_acknowledged))
        return conn, transport

    def gauge(self, protocol: int, version: str) -> float | None:
        return self.door.registry.get_sample_value(
            "mcproxy_players", {"protocol": str(protocol), "version": version})

    def test_players_counted_by_protocol(self) -> None:
        """Each player in play counts once under its client's protocol, in the directory
        (/status) and in mcproxy_players{protocol,version}; leaving takes the count back."""
        first = self.join(766, "Alex")
        self.join(775, "Steve")
        self.join(775, "Sam")
        self.assertEqual(self.door.core.players.by_protocol(), {766: 1, 775: 2})
        self.assertEqual(self.gauge(766, "1.20.5-1.20.6"), 1.0)
        self.assertEqual(self.gauge(775, "26.1-26.1.2"), 2.0)

        conn, transport = first
        conn.connectionLost(None)
        self.assertEqual(self.door.core.players.by_protocol(), {775: 2})
        self.assertEqual(self.gauge(766, "1.20.5-1.20.6"), 0.0)

    def test_replaced_session_is_counted_once(self) -> None:
        """With kick_existing_players, a second login of the same player replaces the first;
        the count stays one, also after the old connection has closed."""
        self.door = FrontDoor(ProxySettings(online_mode=False, compression_threshold=-1,
                                            kick_existing_players=True))
        self.door.router = self.door.core.router = AnsweringRouter()
        old, old_transport = self.join(775, "Steve")
        self.join(775, "Steve")
        self.door.close(old, old_transport)
        self.assertEqual(self.door.core.players.by_protocol(), {775: 1})
        self.assertEqual(self.gauge(775, "26.1-26.1.2"), 1.0)
