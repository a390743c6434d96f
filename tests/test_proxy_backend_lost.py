"""A server going away under a player, in every state the player can be in with it.

Play, the server's configuration (at the first join and just after a move), and a move
under way: each ends with the player moved on (held while every server refuses, up to
``fallback_hold``), never dropped while a server may take them, and is counted in
``mcproxy_backend_losses_total{state, outcome}``.
"""

from __future__ import annotations

from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.backend import BackendRefused
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.events import DisconnectEvent, PreConnectEvent, SwitchCause
from mcproxy.proxy.session.switch import SwitchRefused
from mcproxy.wire import chat
from mcproxy.wire.types import encode_long, encode_string
from tests.session_rig import IDS, Rig, Session, frames, handshake, login_start, lose, packet, texts

PACKS = b"\x01" + encode_string("minecraft") + encode_string("core") + encode_string("1.21.4")
#: A server asking which packs the client knows, and the client's answer.
KNOWN_PACKS = packet(IDS.config_select_known_packs, PACKS)
ANSWER = packet(IDS.config_known_packs_answer, PACKS)


def registry(name: str) -> bytes:
    return packet(IDS.config_registry_data, encode_string(name) + b"\x00")


class BackendLostCase(SynchronousTestCase):
    settings = ProxySettings(online_mode=False, compression_threshold=-1)

    def setUp(self) -> None:
        self.rig = Rig(self.settings)
        self.addCleanup(self.rig.core.stop)
        self.events: list = []
        for kind in (PreConnectEvent, DisconnectEvent):
            self.rig.core.events.subscribe(kind, self.events.append)

    def asked(self):
        """A player who logged in and is configuring with the lobby, which asked which data
        packs it knows; not answered yet."""
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        backend = self.rig.router.accept()
        connection.dataReceived(packet(IDS.login_acknowledged))
        backend.dataReceived(KNOWN_PACKS)
        return connection, transport, backend

    def configuring(self):
        """A player who logged in and is configuring with the lobby: the lobby asked which
        data packs it knows, and the client answered."""
        connection, transport, backend = self.asked()
        connection.dataReceived(ANSWER)
        backend.dataReceived(registry("minecraft:dimension_type"))
        transport.clear()
        backend.transport.clear()
        return connection, transport, backend

    def losses(self, state: str, outcome: str) -> float:
        return self.rig.registry.get_sample_value(
            "mcproxy_backend_losses_total", {"state": state, "outcome": outcome}) or 0.0

    def holds(self, outcome: str) -> float:
        return self.rig.registry.get_sample_value("mcproxy_fallback_holds_total", {"outcome": outcome}) or 0.0

    def refuse_every_try(self, seconds: int, each_second=None) -> None:
        """Every server refuses the player for ``seconds``, a second at a time;
        ``each_second`` (the client answering its keep-alives, say) runs after each."""
        self.rig.router.refuse()
        for _ in range(seconds):
            self.rig.reactor.advance(1.0)
            self.rig.router.refuse_pending()
            if each_second is not None:
                each_second()

    def finish_configuration(self, connection, transport, backend) -> list[str]:
        """The new server finishes configuring the client and sends its play login; what
        the player is told there."""
        backend.dataReceived(packet(IDS.config_finish))
        connection.dataReceived(packet(IDS.config_finish_ack))
        self.assertEqual(frames(backend.transport.value())[-1][0], IDS.config_finish_ack)
        transport.clear()
        backend.dataReceived(packet(IDS.play_login, b"\x00"))
        return texts(transport.value(), IDS.play_system_chat)


class ConfiguringTests(BackendLostCase):
    def test_lost_while_configuring_at_the_first_join(self) -> None:
        """The lobby stops while the joining client configures with it: the next server
        takes the configuration over (no Start Configuration, the client is in it); the
        client's answers to the lobby go nowhere, and it is told why once in play."""
        connection, transport, lobby = self.configuring()
        lose(lobby)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.rig.router.requests[-1][0], ("survival", "lobby"))
        self.assertEqual([(e.target, e.cause) for e in self.events if isinstance(e, PreConnectEvent)][-1],
                         ("survival", SwitchCause.LOST))
        connection.dataReceived(packet(IDS.config_keep_alive_response, encode_long(7)))
        survival = self.rig.router.accept()
        self.assertEqual(transport.value(), b"")
        self.assertEqual([pid for pid, _ in frames(survival.transport.value())], [IDS.login_acknowledged])
        self.assertEqual(self.finish_configuration(connection, transport, survival),
                         ["Lost connection to the server lobby. You are now on survival."])
        self.assertEqual(connection.server, "survival")
        self.assertEqual(self.losses("configuration", "moved"), 1.0)
        self.assertEqual([e for e in self.events if isinstance(e, DisconnectEvent)], [])
        self.assertIn("{server} went away while {player} was configuring with it",
                      [e.get("log_format") for e in self.rig.log_events])

    def test_lost_while_configuring_just_after_a_move(self) -> None:
        """Moved to survival a moment ago and still configuring with it when it stops: the
        player goes back to the lobby through the same configuration, not disconnected."""
        session = self.rig.join()
        session.connection.switch_to("survival")
        survival = self.rig.finish_switch(session)
        survival.dataReceived(KNOWN_PACKS)
        session.sent()
        lose(survival)
        self.assertFalse(session.transport.disconnecting)
        self.assertEqual(self.rig.router.requests[-1][0], ("lobby", "survival"))
        lobby = self.rig.router.accept()
        self.assertEqual(session.sent(), b"")
        self.assertEqual(self.finish_configuration(session.connection, session.transport, lobby),
                         ["Lost connection to the server survival. You are now on lobby."])
        self.assertEqual(session.connection.server, "lobby")
        self.assertEqual(self.losses("configuration", "moved"), 1.0)

    def test_configuring_player_held_until_a_server_takes_them(self) -> None:
        """Every server refusing (one restarting, the other busy), the configuring client is
        held: a configuration keep-alive every 10 s, no chat it could not read, and it lands
        when a try is accepted."""
        connection, transport, lobby = self.configuring()
        lose(lobby)
        client = Session(connection, transport, lobby)
        self.refuse_every_try(30, client.answer_keep_alives)
        sent = frames(transport.value())
        self.assertEqual([pid for pid, _ in sent], [IDS.config_keep_alive] * 3)
        self.assertTrue(all(len(fields) == 8 for _, fields in sent))
        self.assertFalse(transport.disconnecting)
        transport.clear()
        self.rig.reactor.advance(5.0)
        survival = self.rig.router.accept()
        self.assertEqual(self.finish_configuration(connection, transport, survival),
                         ["Lost connection to the server lobby. You are now on survival."])
        self.assertEqual(self.holds("reconnected"), 1.0)
        self.assertEqual(self.losses("configuration", "moved"), 1.0)

    def test_target_lost_after_acknowledgement_held_with_keep_alives(self) -> None:
        """A move whose target stopped after the client acknowledged Start Configuration:
        held in configuration while every server refuses, it hears configuration keep-alives."""
        session = self.rig.join()
        d = session.connection.switch_to("survival")
        lose(self.rig.router.accept())
        self.failureResultOf(d, SwitchRefused)
        session.connection.dataReceived(packet(IDS.play_configuration_acknowledged))
        session.sent()
        self.refuse_every_try(20)
        self.assertEqual([pid for pid, _ in frames(session.sent())], [IDS.config_keep_alive] * 2)
        self.assertFalse(session.transport.disconnecting)

    def test_backend_started_configuration_then_lost(self) -> None:
        """The server took the player back into configuration itself and stopped before the
        client acknowledged: the acknowledgement and what follows it go to the next server."""
        session = self.rig.join()
        session.backend.dataReceived(packet(IDS.play_start_configuration))
        lose(session.backend)
        session.connection.dataReceived(packet(IDS.play_configuration_acknowledged)
                                        + packet(IDS.config_custom_payload_serverbound, b"\x01x"))
        survival = self.rig.router.accept()
        self.assertEqual([pid for pid, _ in frames(survival.transport.value())],
                         [IDS.login_acknowledged, IDS.config_custom_payload_serverbound])
        self.assertEqual(session.connection.server, "survival")
        self.assertFalse(session.transport.disconnecting)


class TakeoverTests(BackendLostCase):
    """The server taking a configuration over starts it from the beginning; the client, in
    the middle of it, is not asked or told the same twice."""

    def test_new_server_asks_for_packs_the_client_named(self) -> None:
        """The client answered the lost server: the proxy gives the new one that answer and
        the client never sees the question again; registries it holds are kept back, others pass."""
        connection, transport, lobby = self.configuring()
        lose(lobby)
        survival = self.rig.router.accept()
        survival.transport.clear()
        survival.dataReceived(KNOWN_PACKS + registry("minecraft:dimension_type") + registry("minecraft:biome"))
        self.assertEqual(frames(survival.transport.value()), frames(ANSWER))
        self.assertEqual(frames(transport.value()), frames(registry("minecraft:biome")))

    def test_answer_on_its_way_goes_to_the_new_server(self) -> None:
        """Asked by the lost server, the client answers after the new one took over: that
        answer is the new server's, and the proxy adds none of its own."""
        connection, transport, lobby = self.asked()
        lose(lobby)
        survival = self.rig.router.accept()
        survival.transport.clear()
        transport.clear()
        survival.dataReceived(KNOWN_PACKS)
        connection.dataReceived(ANSWER)
        self.assertEqual(frames(survival.transport.value()), frames(ANSWER))
        self.assertEqual(transport.value(), b"")

    def test_answer_while_held_is_given_to_the_new_server(self) -> None:
        """An answer the client sends while held goes nowhere, but the new server gets it."""
        connection, transport, lobby = self.asked()
        lose(lobby)
        connection.dataReceived(ANSWER)
        survival = self.rig.router.accept()
        survival.transport.clear()
        survival.dataReceived(KNOWN_PACKS)
        self.assertEqual(frames(survival.transport.value()), frames(ANSWER))

    def test_answers_to_the_proxys_keep_alives_stay_with_the_proxy(self) -> None:
        """The held client's answer to a keep-alive of the proxy's own, arriving once the new
        server took over, is not passed to that server; its answers to the server's pass."""
        connection, transport, lobby = self.configuring()
        lose(lobby)
        self.refuse_every_try(10)
        [(_, ident)] = [f for f in frames(transport.value()) if f[0] == IDS.config_keep_alive]
        self.rig.reactor.advance(2.0)  # the try after 1, 2 and 4 s, 5 s after the last
        survival = self.rig.router.accept()
        survival.transport.clear()
        connection.dataReceived(packet(IDS.config_keep_alive_response, ident)
                                + packet(IDS.config_keep_alive_response, encode_long(99)))
        self.assertEqual(frames(survival.transport.value()),
                         [(IDS.config_keep_alive_response, encode_long(99))])

    def test_version_without_the_answers_id_passes_the_question_on(self) -> None:
        """26.2 has no agreed id for the client's answer: the proxy cannot give it, so the new
        server's question goes to the client rather than being kept back unanswered."""
        self.rig = Rig(self.settings, protocol=776)
        self.addCleanup(self.rig.core.stop)
        ids = self.rig.ids
        self.assertIsNone(ids.config_known_packs_answer)
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake(protocol=776) + login_start(protocol=776))
        lobby = self.rig.router.accept()
        connection.dataReceived(packet(ids.login_acknowledged))
        lobby.dataReceived(packet(ids.config_select_known_packs, PACKS))
        lose(lobby)
        survival = self.rig.router.accept()
        transport.clear()
        survival.dataReceived(packet(ids.config_select_known_packs, PACKS))
        self.assertEqual(frames(transport.value()), [(ids.config_select_known_packs, PACKS)])

    def test_next_configuration_starts_afresh(self) -> None:
        """Once the client finished a configuration, a move's new one is relayed whole."""
        session = self.rig.join()
        session.connection.switch_to("survival")
        survival = self.rig.finish_switch(session)
        session.sent()
        survival.dataReceived(KNOWN_PACKS + registry("minecraft:biome"))
        session.connection.dataReceived(ANSWER)
        self.assertEqual(frames(session.sent()), frames(KNOWN_PACKS + registry("minecraft:biome")))
        self.assertEqual(frames(survival.transport.value())[-1], frames(ANSWER)[0])


class KickedWhileConfiguringTests(BackendLostCase):
    """A server kicking a client still configuring with it (its own login timeout, say)."""

    def kick(self, backend, text: str) -> None:
        backend.dataReceived(packet(IDS.config_disconnect, chat.text_to_nbt(text)))

    def test_kicked_while_configuring_falls_back(self) -> None:
        """The next server takes the configuration over, as when a server goes away; the
        kick never reaches the client, which is told why once in play."""
        connection, transport, lobby = self.configuring()
        self.kick(lobby, "Timed out while logging in.")
        self.assertTrue(lobby.transport.disconnecting)
        self.assertEqual([(e.target, e.cause) for e in self.events if isinstance(e, PreConnectEvent)][-1],
                         ("survival", SwitchCause.KICKED))
        survival = self.rig.router.accept()
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.finish_configuration(connection, transport, survival),
                         ["You were kicked from lobby: Timed out while logging in. You are now on survival."])
        self.assertFalse(transport.disconnecting)

    def test_every_server_kicking_ends_with_the_kick(self) -> None:
        """Each server is tried once in a configuration: the second kick, with no server
        left that has not kicked, reaches the client."""
        connection, transport, lobby = self.configuring()
        self.kick(lobby, "Timed out while logging in.")
        survival = self.rig.router.accept()
        self.kick(survival, "Go away")
        self.assertEqual(texts(transport.value(), IDS.config_disconnect), ["Go away"])
        self.assertEqual(len(self.rig.router.requests), 2)
        lose(survival)
        self.assertTrue(transport.disconnecting)


class GivingUpTests(BackendLostCase):
    settings = ProxySettings(online_mode=False, compression_threshold=-1, fallback_hold=5.0)

    def test_configuring_player_held_past_the_limit(self) -> None:
        """Past ``fallback_hold`` the configuring client is told why in its configuration's
        own disconnect packet, and leaves as ``lost``."""
        connection, transport, lobby = self.configuring()
        lose(lobby)
        self.refuse_every_try(10)
        self.assertEqual(texts(transport.value(), IDS.config_disconnect), ["Lost connection to the server lobby."])
        self.assertTrue(transport.disconnecting)
        connection.connectionLost(None)
        self.assertEqual([e.why for e in self.events if isinstance(e, DisconnectEvent)], ["lost"])
        self.assertEqual(self.holds("gave_up"), 1.0)
        self.assertEqual(self.losses("configuration", "disconnected"), 1.0)

    def test_player_quitting_while_held(self) -> None:
        """A configuring player who quits while held is counted as having left, once."""
        connection, transport, lobby = self.configuring()
        lose(lobby)
        self.rig.router.refuse()
        connection.connectionLost(None)
        self.assertEqual(self.losses("configuration", "left"), 1.0)
        self.assertEqual(self.holds("left"), 1.0)


class OtherStatesCountedTests(BackendLostCase):
    def test_lost_in_play(self) -> None:
        session = self.rig.join()
        lose(session.backend)
        self.rig.finish_switch(session)
        self.assertEqual(self.losses("play", "moved"), 1.0)

    def test_old_server_lost_mid_switch(self) -> None:
        session = self.rig.join()
        session.connection.switch_to("survival")
        lose(session.backend)
        self.rig.finish_switch(session)
        self.assertEqual(self.losses("switch", "moved"), 1.0)

    def test_target_lost_mid_switch(self) -> None:
        """The target stops before the client got there: back to the server it came from."""
        session = self.rig.join()
        d = session.connection.switch_to("survival")
        lose(self.rig.router.accept())
        self.failureResultOf(d, SwitchRefused)
        self.rig.finish_switch(session)
        self.assertEqual(session.connection.server, "lobby")
        self.assertEqual(self.losses("switch", "moved"), 1.0)

    def test_old_client_stays_when_its_target_is_lost(self) -> None:
        self.rig = Rig(self.settings)
        self.addCleanup(self.rig.core.stop)
        session = self.rig.join(protocol=340)
        d = session.connection.switch_to("survival")
        lose(self.rig.router.accept())
        self.failureResultOf(d, SwitchRefused)
        self.assertEqual(session.connection.server, "lobby")
        self.assertEqual(self.losses("switch", "stayed"), 1.0)


class JoiningTests(BackendLostCase):
    """Every server away while a player joins (a restart of the only one, say)."""

    def away(self, reason: str = "BACKEND_UNREACHABLE") -> None:
        """The router's last request: every server it tried was not there."""
        names, d = self.rig.router.requests[-1]
        d.errback(Failure(NoServerAvailable([(name, BackendRefused(reason, "")) for name in names])))

    def joining(self):
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        return connection, transport

    def test_join_tried_again_while_every_server_is_away(self) -> None:
        """Refused by servers that are not there, the join is tried again after 1 and 2 s and
        lands when one is back, with the same list of servers."""
        connection, transport = self.joining()
        self.away()
        self.rig.reactor.advance(1.0)
        self.away("BACKEND_CLOSED")
        self.assertEqual(len(self.rig.router.requests), 2)
        self.rig.reactor.advance(2.0)
        self.assertEqual([names for names, _ in self.rig.router.requests], [("lobby", "survival")] * 3)
        self.rig.router.accept()
        self.assertFalse(transport.disconnecting)
        self.assertEqual([pid for pid, _ in frames(transport.value())], [IDS.login_success])
        self.assertEqual(self.losses("login", "moved"), 1.0)

    def test_join_refused_once_half_the_login_timeout_passed(self) -> None:
        """Tries stop within half of ``login_timeout`` (15 s): 1 + 2 + 4 + 5 s of pauses,
        then the player is told no server is available, refused NO_SERVER_AVAILABLE."""
        connection, transport = self.joining()
        for _ in range(20):
            if not self.rig.router.requests[-1][1].called:
                self.away()
            self.rig.reactor.advance(1.0)
        self.assertEqual(len(self.rig.router.requests), 5)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.rig.refusals("NO_SERVER_AVAILABLE"), 1.0)
        self.assertEqual(self.losses("login", "disconnected"), 1.0)

    def test_a_server_refusing_the_player_is_not_waited_for(self) -> None:
        """A kick (whitelist, full) is the server's answer: refused at once, nothing counted."""
        connection, transport = self.joining()
        self.rig.router.refuse(message="Whitelisted")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.rig.router.requests), 1)
        self.assertEqual(self.losses("login", "disconnected"), 0.0)

    def test_player_quitting_while_the_join_waits(self) -> None:
        """A player who quits while the join waits is tried no more, counted as having left."""
        connection, transport = self.joining()
        self.away()
        connection.connectionLost(None)
        self.rig.reactor.advance(10.0)
        self.assertEqual(len(self.rig.router.requests), 1)
        self.assertEqual(self.losses("login", "left"), 1.0)
        self.assertEqual(len(self.rig.core.deadlines), 0)


class AcknowledgementTests(BackendLostCase):
    """The server goes away between the proxy's Login Success and the client's acknowledgement."""

    def succeeded(self):
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        lobby = self.rig.router.accept()
        self.assertEqual([pid for pid, _ in frames(transport.value())], [IDS.login_success])
        transport.clear()
        return connection, transport, lobby

    def test_next_server_ready_before_the_acknowledgement(self) -> None:
        """The next server (the lost one last) takes the player; the client, told nothing twice,
        acknowledges to it."""
        connection, transport, lobby = self.succeeded()
        lose(lobby)
        self.assertEqual(self.rig.router.requests[-1][0], ("survival", "lobby"))
        survival = self.rig.router.accept()
        connection.dataReceived(packet(IDS.login_acknowledged))
        self.assertEqual(transport.value(), b"")
        self.assertEqual([pid for pid, _ in frames(survival.transport.value())], [IDS.login_acknowledged])
        self.assertEqual(connection.server, "survival")
        self.assertEqual(self.losses("login", "moved"), 1.0)

    def test_acknowledged_before_the_next_server(self) -> None:
        """The client acknowledged and began its configuration while no server was there:
        what it sent waits for the next server, and reaches it after the acknowledgement."""
        connection, transport, lobby = self.succeeded()
        lose(lobby)
        brand = packet(IDS.config_custom_payload_serverbound, encode_string("minecraft:brand") + b"\x07vanilla")
        connection.dataReceived(packet(IDS.login_acknowledged) + brand)
        survival = self.rig.router.accept()
        self.assertEqual([pid for pid, _ in frames(survival.transport.value())],
                         [IDS.login_acknowledged, IDS.config_custom_payload_serverbound])
        self.assertFalse(transport.disconnecting)

    def test_no_server_left_says_so_in_configuration(self) -> None:
        """With no server taking the player, the client (now configuring) is told why in the
        configuration's disconnect packet, not a login one."""
        connection, transport, lobby = self.succeeded()
        lose(lobby)
        connection.dataReceived(packet(IDS.login_acknowledged))
        self.rig.router.refuse(message="Whitelisted")
        self.assertEqual(texts(transport.value(), IDS.config_disconnect), ["Whitelisted"])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.losses("login", "disconnected"), 1.0)

    def test_waiting_client_cannot_pile_up_bytes(self) -> None:
        """What a client sends while it waits is bounded (1 MiB), as in any hold."""
        connection, transport, lobby = self.succeeded()
        lose(lobby)
        connection.dataReceived(packet(IDS.login_acknowledged))
        for _ in range(20):
            connection.dataReceived(b"\x00" * 65536)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.rig.refusals("SWITCH_BUFFER_FULL"), 1.0)
