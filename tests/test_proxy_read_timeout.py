"""``[proxy] read_timeout``: a player past login, or their backend, that goes silent.

A silent client is disconnected ("Timed out") and counted as ``READ_TIMEOUT``; a silent
backend is cut off and handled as any lost backend (fallback, or a hold), counted in
``mcproxy_backend_losses_total``.  Traffic either way, or a held client answering the
proxy's keep-alives, keeps the connection.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.client import KICK_GRACE
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.events import DisconnectEvent
from mcproxy.proxy.session.hold import KEEPALIVE_INTERVAL, keep_alive_interval
from mcproxy.proxy.silence import ReadWatch
from mcproxy.wire.types import encode_long
from tests.session_rig import IDS, Rig, frames, handshake, login_start, lose, packet, texts


class Peer:
    def __init__(self) -> None:
        self.reads = 0
        self.silent = 0

    def on_silent(self) -> None:
        self.silent += 1


class ReadWatchTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.watch = ReadWatch(self.clock)
        self.watch.start()
        self.addCleanup(self.watch.stop)
        self.peer = Peer()
        self.watch.watch(self.peer, 5.0, self.peer.on_silent)

    def test_silent_peer_noticed_once_within_a_second_of_its_timeout(self) -> None:
        self.clock.advance(4.5)
        self.assertEqual(self.peer.silent, 0)
        for _ in range(3):
            self.clock.advance(1.0)
        self.assertEqual(self.peer.silent, 1)
        self.assertNotIn(self.peer, self.watch)
        self.clock.advance(60.0)
        self.assertEqual(self.peer.silent, 1)

    def test_reads_put_the_timeout_back(self) -> None:
        for _ in range(30):
            self.clock.advance(1.0)
            if self.clock.seconds() % 4 == 0:
                self.peer.reads += 1
        self.assertEqual(self.peer.silent, 0)
        for _ in range(7):
            self.clock.advance(1.0)
        self.assertEqual(self.peer.silent, 1)

    def test_failing_callback_does_not_stop_the_sweep(self) -> None:
        def fail() -> None:
            raise RuntimeError("boom")

        broken = Peer()
        self.watch.watch(broken, 1.0, fail)
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        for _ in range(5):
            self.clock.advance(1.0)
        self.assertEqual(self.peer.silent, 1)

    def test_silent_for(self) -> None:
        self.clock.advance(1.0)
        self.clock.advance(1.0)
        self.assertEqual(self.watch.silent_for(self.peer), 2.0)
        self.peer.reads += 1
        self.assertEqual(self.watch.silent_for(self.peer), 0.0)
        self.assertEqual(self.watch.silent_for(Peer()), 0.0)

    def test_forgotten_peer_is_not_timed_out(self) -> None:
        self.watch.forget(self.peer)
        self.clock.advance(10.0)
        self.clock.advance(10.0)
        self.assertEqual(self.peer.silent, 0)
        self.assertEqual(len(self.watch), 0)


class ReadTimeoutCase(SynchronousTestCase):
    settings = ProxySettings(online_mode=False, compression_threshold=-1)

    def setUp(self) -> None:
        self.rig = Rig(self.settings)
        self.addCleanup(self.rig.core.stop)
        self.left: list = []
        self.rig.core.events.subscribe(DisconnectEvent, self.left.append)
        self.session = self.rig.join()

    def tick(self, seconds: int, client_every: int = 0, backend_every: int = 0) -> None:
        """Let ``seconds`` pass a second at a time; the client sends a packet every
        ``client_every`` seconds and the backend a keep-alive every ``backend_every``."""
        for _ in range(seconds):
            self.rig.reactor.advance(1.0)
            now = int(self.rig.reactor.seconds())
            if backend_every and now % backend_every == 0 and self.session.backend.sink is not None:
                self.session.backend.dataReceived(packet(IDS.play_keep_alive, encode_long(now)))
            if client_every and now % client_every == 0:
                self.session.connection.dataReceived(packet(IDS.play_keep_alive_response, encode_long(now)))

    def losses(self, state: str, outcome: str) -> float:
        return self.rig.registry.get_sample_value(
            "mcproxy_backend_losses_total", {"state": state, "outcome": outcome}) or 0.0


class SilentClientTests(ReadTimeoutCase):
    def test_silent_client_timed_out_and_counted(self) -> None:
        """The backend keeps talking, the client says nothing: "Timed out" after 30 s,
        counted as READ_TIMEOUT, and the DisconnectEvent says why."""
        self.tick(29, backend_every=5)
        self.assertFalse(self.session.transport.disconnecting)
        self.tick(2, backend_every=5)
        self.assertEqual(texts(self.session.sent(), IDS.play_kick), ["Timed out"])
        self.assertTrue(self.session.transport.disconnecting)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 1.0)
        self.assertTrue(self.session.backend.transport.disconnecting)
        self.session.connection.connectionLost(None)
        self.assertEqual([e.why for e in self.left], ["timed out"])

    def test_client_that_takes_no_kick_is_cut_off(self) -> None:
        """A client that reads nothing either keeps its closing socket only ``KICK_GRACE`` more."""
        self.tick(31, backend_every=5)
        self.assertTrue(self.session.transport.disconnecting)
        self.assertFalse(self.session.transport.disconnected)
        self.tick(int(KICK_GRACE) + 1)
        self.assertTrue(self.session.transport.disconnected)

    def test_both_silent_the_backend_goes(self) -> None:
        """An idle client only answers its server: when neither has sent anything, the
        server stopped, so it is dropped (the player falls back), not the client, who is
        given a new period."""
        lobby = self.session.backend
        self.tick(31)
        self.assertTrue(lobby.transport.disconnected)
        self.assertFalse(self.session.transport.disconnecting)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 0.0)
        lose(lobby)
        self.rig.router.accept()
        self.session.connection.dataReceived(packet(IDS.play_configuration_acknowledged))
        self.assertEqual(self.session.connection.server, "survival")
        self.assertIn(self.session.connection, self.rig.core.read_watch)
        self.assertEqual(self.losses("play", "moved"), 1.0)

    def test_chatty_client_kept(self) -> None:
        """Answering the backend's keep-alives, the client stays however long it plays."""
        self.tick(300, client_every=10, backend_every=10)
        self.assertFalse(self.session.transport.disconnecting)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 0.0)

    def test_client_silent_in_configuration_timed_out(self) -> None:
        """The watch starts at Login Success: a client that goes quiet while configuring
        is timed out too, with the configuration state's disconnect."""
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start("Alex"))
        backend = self.rig.router.accept()
        connection.dataReceived(packet(IDS.login_acknowledged))
        transport.clear()
        for second in range(31):
            self.tick(1, backend_every=5)
            if second % 5 == 0:
                backend.dataReceived(packet(IDS.config_keep_alive, encode_long(second)))
        self.assertEqual(texts(transport.value(), IDS.config_disconnect), ["Timed out"])
        self.assertTrue(self.session.transport.disconnecting)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 2.0)


class HeldClientTests(ReadTimeoutCase):
    def hold(self) -> None:
        """The backend goes away and every server refuses: the player is held."""
        lose(self.session.backend)
        self.rig.router.refuse()

    def test_held_client_answering_keep_alives_is_kept(self) -> None:
        """Held past twice the read timeout, answering the proxy's keep-alives and
        saying nothing else, the player is not timed out (the hold gives up at 57 s)."""
        self.hold()
        answered = 0
        for _ in range(55):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
            answered += self.session.answer_keep_alives()
        self.assertGreaterEqual(answered, 5)
        self.assertFalse(self.session.transport.disconnecting)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 0.0)

    def test_held_client_not_answering_is_timed_out(self) -> None:
        self.hold()
        for _ in range(32):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
        self.assertTrue(self.session.transport.disconnecting)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 1.0)


class ShortTimeoutHoldTests(HeldClientTests):
    """A read timeout shorter than the hold's usual keep-alive interval (10 s)."""

    settings = ProxySettings(online_mode=False, compression_threshold=-1, read_timeout=3.0)

    def test_held_client_answering_keep_alives_is_kept(self) -> None:
        self.hold()
        answered = 0
        for _ in range(20):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
            answered += self.session.answer_keep_alives()
        self.assertGreaterEqual(answered, 15)
        self.assertFalse(self.session.transport.disconnecting)

    def test_held_client_not_answering_is_timed_out(self) -> None:
        self.hold()
        for _ in range(5):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
        self.assertTrue(self.session.transport.disconnecting)

    def test_keep_alive_interval(self) -> None:
        self.assertEqual(keep_alive_interval(30.0), KEEPALIVE_INTERVAL)
        self.assertEqual(keep_alive_interval(3.0), 1.0)


class SilentBackendTests(ReadTimeoutCase):
    def test_silent_backend_dropped_and_player_moved(self) -> None:
        """The client keeps talking, the backend says nothing: after 30 s it is aborted,
        and its close is a lost backend: the player falls back and it is counted."""
        lobby = self.session.backend
        self.tick(29, client_every=5)
        self.assertFalse(lobby.transport.disconnecting)
        self.tick(2, client_every=5)
        self.assertTrue(lobby.transport.disconnected)
        self.assertIn("{server} sent nothing to {player} for {seconds} s; dropping it",
                      [e.get("log_format") for e in self.rig.log_events])
        lose(lobby)
        self.assertEqual(self.rig.router.requests[-1][0], ("survival", "lobby"))
        self.rig.router.accept()
        self.session.connection.dataReceived(packet(IDS.play_configuration_acknowledged))
        self.assertEqual(self.session.connection.server, "survival")
        self.assertFalse(self.session.transport.disconnecting)
        self.assertEqual(self.losses("play", "moved"), 1.0)
        self.assertEqual(self.rig.refusals("READ_TIMEOUT"), 0.0)

    def test_silent_backend_with_nowhere_to_go_holds_the_player(self) -> None:
        self.tick(31, client_every=5)
        lose(self.session.backend)
        self.rig.router.refuse()
        self.rig.reactor.advance(KEEPALIVE_INTERVAL)
        self.assertIn(IDS.play_keep_alive, [pid for pid, _ in frames(self.session.sent())])
        self.assertFalse(self.session.transport.disconnecting)

    def test_backend_sending_keep_alives_is_kept(self) -> None:
        lobby = self.session.backend
        self.tick(300, client_every=10, backend_every=15)
        self.assertFalse(lobby.transport.disconnecting)
        self.assertIs(self.session.backend, lobby)

    def test_backend_that_left_is_forgotten(self) -> None:
        """A backend let go (a move) is no longer watched once its connection closes."""
        lobby = self.session.backend
        self.assertIn(lobby, self.rig.core.read_watch)
        self.session.connection.switch_to("survival")
        self.rig.finish_switch(self.session)
        lose(lobby)
        self.assertNotIn(lobby, self.rig.core.read_watch)
        self.assertIn(self.session.backend, self.rig.core.read_watch)

