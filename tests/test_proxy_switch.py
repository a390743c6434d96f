"""Every way a server switch can go, on a fake clock with backends the test drives."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.client import Phase
from mcproxy.proxy.events import DisconnectEvent, PreConnectEvent, ServerConnectedEvent, SwitchCause
from mcproxy.proxy.session.switch import SwitchRefused, SwitchState
from mcproxy.wire import chat
from mcproxy.proxy.core import ProxySettings
from tests.session_rig import IDS, Rig, frames, lose, packet, texts


class SwitchTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.rig = Rig()
        self.addCleanup(self.rig.core.stop)
        self.events: list = []
        for event in (PreConnectEvent, ServerConnectedEvent, DisconnectEvent):
            self.rig.core.events.subscribe(event, self.events.append)
        self.session = self.rig.join()
        self.events.clear()

    def kick(self, backend, text: str = "Banned") -> None:
        backend.dataReceived(packet(IDS.play_kick, chat.text_to_nbt(text)))

    def closed(self) -> None:
        """The reactor tells the connection its transport closed, as it would."""
        self.assertTrue(self.session.transport.disconnecting)
        self.session.connection.connectionLost(None)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class CommandSwitchTests(SwitchTestCase):
    def test_switch_completes_after_acknowledgement(self) -> None:
        """The old backend is dropped only when the client acknowledges the configuration the
        new one asked for; the result fires and ServerConnectedEvent names both servers."""
        old = self.session.backend
        d = self.session.connection.switch_to("survival")
        switch = self.session.connection.handler.switch
        self.assertIs(switch.state, SwitchState.CONNECTING)
        self.assertEqual(switch.cause, SwitchCause.COMMAND)
        new = self.rig.router.accept()
        self.assertIs(switch.state, SwitchState.AWAITING_ACK)
        self.assertEqual([pid for pid, _ in frames(self.session.sent())], [IDS.play_start_configuration])
        self.assertFalse(old.transport.disconnecting)
        self.session.connection.dataReceived(packet(IDS.play_configuration_acknowledged))
        self.assertIs(switch.state, SwitchState.DONE)
        self.assertTrue(old.transport.disconnecting)
        self.assertEqual(self.successResultOf(d), "You are now connected to survival.")
        self.assertEqual(self.session.connection.server, "survival")
        self.assertEqual(frames(new.transport.value())[0][0], IDS.login_acknowledged)
        connected = self.of(ServerConnectedEvent)
        self.assertEqual([(e.server, e.previous) for e in connected], [("survival", "lobby")])
        self.assertEqual([(e.target, e.cause) for e in self.of(PreConnectEvent)], [("survival", SwitchCause.COMMAND)])

    def test_target_refused_keeps_the_player(self) -> None:
        """A target that refuses the login leaves the player relayed to the old server."""
        old = self.session.backend
        d = self.session.connection.switch_to("survival")
        self.rig.router.refuse(message="Whitelisted")
        failure = self.failureResultOf(d, SwitchRefused)
        self.assertEqual(str(failure.value), "Could not connect you to that server: Whitelisted")
        self.assertIsNone(self.session.connection.handler.switch)
        self.assertFalse(self.session.transport.disconnecting)
        self.session.connection.dataReceived(packet(0x30, b"move"))
        self.assertEqual(old.transport.value(), packet(0x30, b"move"))

    def test_old_backend_lost_mid_switch(self) -> None:
        """The old server going away while the target is connecting: the switch carries the player over,
        and they are told what happened once there."""
        old = self.session.backend
        d = self.session.connection.switch_to("survival")
        lose(old)
        self.assertFalse(self.session.transport.disconnecting)
        new = self.rig.finish_switch(self.session)
        self.successResultOf(d)
        self.session.sent()
        new.dataReceived(packet(IDS.config_finish))
        self.session.connection.dataReceived(packet(IDS.config_finish_ack))
        new.dataReceived(packet(IDS.play_login, b"\x00"))
        self.assertEqual(texts(self.session.sent(), IDS.play_system_chat),
                         ["Lost connection to the server lobby. You are now on survival."])

    def test_old_backend_lost_then_target_refused(self) -> None:
        """With the old server gone and the target refusing, nothing is left to stay on: the player
        is held while the target is tried again, and told why once ``fallback_hold`` has passed."""
        d = self.session.connection.switch_to("survival")
        lose(self.session.backend)
        self.rig.router.refuse()
        self.assertNoResult(d)
        self.assertFalse(self.session.transport.disconnecting)
        requests = len(self.rig.router.requests)
        while not self.session.transport.disconnecting and self.rig.reactor.seconds() < 70:
            self.rig.reactor.advance(1.0)
            self.session.answer_keep_alives()
            for index, (_, pending) in enumerate(self.rig.router.requests):
                if not pending.called:
                    self.rig.router.refuse(index)
        self.assertGreater(len(self.rig.router.requests), requests)
        self.failureResultOf(d, SwitchRefused)
        self.assertIn("Lost connection to the server lobby.", texts(self.session.sent(), IDS.play_kick))
        self.assertTrue(self.session.transport.disconnecting)

    def test_player_leaving_mid_switch(self) -> None:
        """The player leaving fails the switch; the target's late acceptance is closed at once."""
        d = self.session.connection.switch_to("survival")
        self.session.connection.connectionLost(None)
        self.assertEqual(str(self.failureResultOf(d, SwitchRefused).value), "The player left.")
        self.assertTrue(self.session.backend.transport.disconnecting)
        late = self.rig.router.accept()
        self.assertTrue(late.transport.disconnecting)
        self.assertEqual(len(self.of(DisconnectEvent)), 1)

    def test_two_switches_racing(self) -> None:
        """A second switch while one is in flight is refused; only one router request is made."""
        first = self.session.connection.switch_to("survival")
        second = self.session.connection.switch_to("creative")
        self.assertEqual(str(self.failureResultOf(second, SwitchRefused).value),
                         "You are already being moved to another server.")
        self.assertEqual(len(self.rig.router.requests), 2)  # the join and the first switch
        self.rig.finish_switch(self.session)
        self.successResultOf(first)
        self.assertEqual(self.session.connection.server, "survival")

    def test_kick_during_switch_starts_no_second_switch(self) -> None:
        """A kick while a switch connects does not race it with a fallback: the switch takes the
        player over, with the kick's reason told there."""
        d = self.session.connection.switch_to("creative")
        self.kick(self.session.backend)
        self.assertEqual(len(self.rig.router.requests), 2)
        self.assertEqual(texts(self.session.sent(), IDS.play_kick), [])
        new = self.rig.finish_switch(self.session)
        self.successResultOf(d)
        new.dataReceived(packet(IDS.config_finish))
        self.session.connection.dataReceived(packet(IDS.config_finish_ack))
        self.session.sent()
        new.dataReceived(packet(IDS.play_login, b"\x00"))
        self.assertEqual(texts(self.session.sent(), IDS.play_system_chat),
                         ["You were kicked from lobby: Banned You are now on creative."])

    def test_switch_refusals(self) -> None:
        """Switching to where one is, or to an unknown server, is refused without a router request."""
        connection = self.session.connection
        self.assertEqual(str(self.failureResultOf(connection.switch_to("lobby"), SwitchRefused).value),
                         "You are already connected to lobby.")
        self.assertEqual(str(self.failureResultOf(connection.switch_to("nether"), SwitchRefused).value),
                         "There is no server called nether.")
        self.assertEqual(len(self.rig.router.requests), 1)


class FallbackTests(SwitchTestCase):
    def test_kick_with_fallback(self) -> None:
        """A kick in play moves the player to the next server of the try list, with PreConnectEvent
        (cause KICKED) fired for it; the kick never reaches the client and no DisconnectEvent fires."""
        self.kick(self.session.backend)
        self.assertEqual(texts(self.session.sent(), IDS.play_kick), [])
        self.assertEqual([(e.target, e.cause) for e in self.of(PreConnectEvent)], [("survival", SwitchCause.KICKED)])
        self.rig.finish_switch(self.session)
        self.assertEqual(self.session.connection.server, "survival")
        self.assertEqual([e.server for e in self.of(ServerConnectedEvent)], ["survival"])
        self.assertEqual(self.of(DisconnectEvent), [])

    def test_kick_without_fallback(self) -> None:
        """With nowhere to go the kick reaches the client and the session ends with one
        DisconnectEvent (why: kicked), also when the backend then closes."""
        self.rig.router.try_order = ("lobby",)
        self.kick(self.session.backend, "Go away")
        self.assertEqual(texts(self.session.sent(), IDS.play_kick), ["Go away"])
        lose(self.session.backend)
        self.closed()
        self.assertEqual([e.why for e in self.of(DisconnectEvent)], ["kicked"])

    def test_lost_backend_falls_back(self) -> None:
        """A backend lost in play moves the player on (cause LOST), telling them why once there."""
        lose(self.session.backend)
        self.assertEqual([(e.target, e.cause) for e in self.of(PreConnectEvent)], [("survival", SwitchCause.LOST)])
        self.rig.finish_switch(self.session)
        self.assertEqual(self.session.connection.server, "survival")

    def test_fallback_failing_disconnects_with_the_reason(self) -> None:
        """A fallback that finds no server is tried again after 1, 2, 4 and then every 5 s with the
        player held; past ``fallback_hold`` (60 s) the player is disconnected with why they left."""
        self.kick(self.session.backend, "Restarting")
        self.rig.router.refuse()
        tries = 0
        while not self.session.transport.disconnecting:
            requests = len(self.rig.router.requests)
            self.rig.reactor.advance(1.0)
            self.session.answer_keep_alives()
            if len(self.rig.router.requests) > requests:
                tries += 1
                self.rig.router.refuse()
            self.assertLess(self.rig.reactor.seconds(), 70.0)
        # 1 + 2 + 4 + 5 * 10 = 57 s of pauses fit in 60 s; the next would not.
        self.assertEqual(tries, 13)
        self.assertGreaterEqual(self.rig.reactor.seconds(), 57.0)
        self.assertEqual(texts(self.session.sent(), IDS.play_kick), ["You were kicked from lobby: Restarting"])
        self.closed()
        self.assertEqual(len(self.of(DisconnectEvent)), 1)
        self.assertEqual(self.holds("gave_up"), 1)

    def test_fallback_retried_lands_the_player(self) -> None:
        """A fallback refused once lands the player when the retry is accepted."""
        self.kick(self.session.backend, "Restarting")
        self.rig.router.refuse()
        self.rig.reactor.advance(2.0)
        self.rig.finish_switch(self.session)
        self.assertEqual(self.session.connection.server, "survival")
        self.assertFalse(self.session.transport.disconnecting)
        self.assertEqual(self.holds("reconnected"), 1)

    def holds(self, outcome: str) -> float:
        return self.rig.registry.get_sample_value("mcproxy_fallback_holds_total", {"outcome": outcome}) or 0.0


class FallbackHoldTests(SwitchTestCase):
    """A lost backend whose fallbacks all refuse, as when it restarts and the others are full."""

    def hold(self) -> None:
        lose(self.session.backend)
        self.rig.router.refuse()

    def test_held_player_is_told_and_kept_alive(self) -> None:
        """The held player is told they are reconnecting and hears a keep-alive from the proxy
        every 10 s (nothing else speaks to the client), and is not disconnected."""
        self.hold()
        self.assertEqual(texts(self.session.sent(), IDS.play_system_chat),
                         ["Lost connection to the server lobby. Reconnecting…"])
        for _ in range(30):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
        keep_alives = [fields for pid, fields in frames(self.session.sent()) if pid == IDS.play_keep_alive]
        self.assertEqual(len(keep_alives), 3)
        self.assertTrue(all(len(fields) == 8 for fields in keep_alives))
        self.assertFalse(self.session.transport.disconnecting)

    def test_restarted_backend_takes_the_held_player(self) -> None:
        """Held 40 s, longer than a restart takes: the next try is accepted and the player moves
        on; what the client sent while held went nowhere, and the proxy's keep-alives stop."""
        self.hold()
        for _ in range(40):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
            self.session.connection.dataReceived(packet(0x30, b"held"))
        self.rig.reactor.advance(5.0)
        new = self.rig.finish_switch(self.session)
        self.assertEqual(self.session.connection.server, "survival")
        self.assertFalse(self.session.transport.disconnecting)
        self.assertNotIn(b"held", new.transport.value())
        self.assertEqual(len([f for f in frames(self.session.sent()) if f[0] == IDS.play_keep_alive]), 4)
        self.assertEqual(self.rig.registry.get_sample_value(
            "mcproxy_fallback_holds_total", {"outcome": "reconnected"}), 1.0)
        requests = len(self.rig.router.requests)
        self.rig.reactor.advance(30.0)
        self.assertEqual(len(self.rig.router.requests), requests)
        self.assertEqual([f for f in frames(self.session.sent()) if f[0] == IDS.play_keep_alive], [])

    def test_player_leaving_while_held_stops_the_tries(self) -> None:
        """A held player who quits is tried no more and hears no more keep-alives."""
        self.hold()
        self.session.connection.connectionLost(None)
        requests = len(self.rig.router.requests)
        self.rig.reactor.advance(30.0)
        self.assertEqual(len(self.rig.router.requests), requests)
        self.assertEqual(len(self.rig.core.deadlines), 0)
        self.assertEqual(self.rig.registry.get_sample_value(
            "mcproxy_fallback_holds_total", {"outcome": "left"}), 1.0)

    def test_only_server_lost_and_restarted(self) -> None:
        """With no other server, a lost backend is itself the fallback: the player is held while
        it restarts and lands back on it, told why, instead of being disconnected at once."""
        self.rig.router.try_order = ("lobby",)
        lose(self.session.backend)
        self.assertEqual(self.rig.router.requests[-1][0], ("lobby",))
        self.assertEqual([(e.target, e.cause) for e in self.of(PreConnectEvent)], [("lobby", SwitchCause.LOST)])
        self.rig.router.refuse()
        for _ in range(8):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
        self.assertFalse(self.session.transport.disconnecting)
        self.rig.reactor.advance(5.0)
        backend = self.rig.finish_switch(self.session)
        self.assertEqual(self.session.connection.server, "lobby")
        self.session.sent()
        backend.dataReceived(packet(IDS.config_finish))
        self.session.connection.dataReceived(packet(IDS.config_finish_ack))
        backend.dataReceived(packet(IDS.play_login, b"\x00"))
        self.assertEqual(texts(self.session.sent(), IDS.play_system_chat),
                         ["Lost connection to the server lobby. You are now on lobby."])

    def test_hold_limit_from_config(self) -> None:
        """``fallback_hold`` bounds the hold: 5 s allows the 1 s and 2 s tries, not the 4 s one."""
        self.rig = Rig(ProxySettings(online_mode=False, compression_threshold=-1, fallback_hold=5.0))
        self.addCleanup(self.rig.core.stop)
        self.session = self.rig.join()
        self.hold()
        for _ in range(10):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
        self.assertEqual(len(self.rig.router.requests), 4)  # join, fallback, two tries
        self.assertEqual(texts(self.session.sent(), IDS.play_kick), ["Lost connection to the server lobby."])

    def test_player_phase_stays_relay_through_a_switch(self) -> None:
        """The connection is in the relay state from join to the end, whatever the switch does."""
        self.session.connection.switch_to("survival")
        self.assertIs(self.session.connection.phase, Phase.RELAY)
        self.rig.finish_switch(self.session)
        self.assertIs(self.session.connection.phase, Phase.RELAY)
