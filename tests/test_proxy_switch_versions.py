"""The in-place switch of clients before 1.20.2 (Join Game, Respawn pair, what the old server
showed taken away) and the fallback after a target lost mid-switch, on the session rig."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.events import PreConnectEvent, ServerConnectedEvent, SwitchCause
from mcproxy.proxy.session.switch import SwitchRefused, SwitchState
from mcproxy.wire import chat, layout, leftovers
from mcproxy.wire.packets import Direction, State, packet_ids
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import Reader, encode_bool, encode_string, encode_varint
from tests.join_game import join_game_fields
from tests.session_rig import IDS, Rig, frames, lose, packet, texts

#: The versions the issue names, one per generation of Join Game and tab list.
VERSIONS = {"1.8.8": 47, "1.12.2": 340, "1.16.5": 754, "1.19.2": 760, "1.20.1": 763}
BAR = uuid.UUID(int=7)
OTHER_PLAYER = uuid.UUID(int=9)


def player_info_add(protocol: int, entry: uuid.UUID) -> tuple[int, bytes]:
    """A tab list entry added as the backend of ``protocol`` sends it."""
    ids = packet_ids(protocol)
    profile = entry.bytes + encode_string("Alex") + encode_varint(0)
    if ids.play_player_remove is not None:
        return ids.play_player_info, b"\x09" + encode_varint(1) + profile + encode_bool(True)
    tail = encode_varint(0) + encode_varint(20) + encode_bool(False)
    if protocol in (759, 760):
        tail += encode_bool(False)
    return ids.play_player_info, encode_varint(0) + encode_varint(1) + profile + tail


def json_text(fields: bytes) -> str:
    return chat.plain_text(chat.json_to_component(Reader(fields).string()))


def respawn(protocol: int, fields: bytes) -> dict:
    shape = protocol_info(protocol).layout(State.PLAY, Direction.CLIENTBOUND, "respawn")
    return layout.read(shape, Reader(fields))


class OldVersionSwitchTests(SynchronousTestCase):
    def show_everything(self, protocol: int, backend) -> None:
        """The old backend shows a boss bar, an objective, a team, a tab list entry and a title."""
        ids = packet_ids(protocol)
        if ids.play_boss_bar is not None:
            backend.dataReceived(packet(ids.play_boss_bar, BAR.bytes + encode_varint(0) + b"title etc"))
        backend.dataReceived(packet(ids.play_scoreboard_objective, encode_string("kills") + b"\x00" + b"rest"))
        backend.dataReceived(packet(ids.play_teams, encode_string("red") + b"\x00" + b"rest"))
        backend.dataReceived(packet(*player_info_add(protocol, OTHER_PLAYER)))

    def test_packet_sequence_per_version(self) -> None:
        """For 1.8.8, 1.12.2, 1.16.5, 1.19.2 and 1.20.1 the client stays on the old server until
        the new one's Join Game, then gets: the old boss bar, objective, team and tab list entry
        removed, an empty header and footer, the title reset, the new Join Game (its entity id
        unchanged), a Respawn elsewhere and one back, then what the new server sent next."""
        for version, protocol in VERSIONS.items():
            ids = packet_ids(protocol)
            rig = Rig()
            session = rig.join(protocol=protocol)
            old = session.backend
            self.show_everything(protocol, old)
            session.sent()
            d = session.connection.switch_to("survival")
            new = rig.router.accept()
            switch = session.connection.handler.switch
            self.assertIs(switch.state, SwitchState.AWAITING_JOIN, version)
            self.assertEqual(session.sent(), b"", version)
            old.dataReceived(packet(ids.play_keep_alive, b"\x00" * 8))
            self.assertEqual([pid for pid, _ in frames(session.sent())], [ids.play_keep_alive], version)
            self.assertFalse(old.transport.disconnecting, version)
            join = join_game_fields(protocol, entityId=1234, gameMode=2)
            new.dataReceived(packet(ids.play_login, join) + packet(ids.play_keep_alive, b"\x01" * 8))
            got = frames(session.sent())
            expected = [ids.play_boss_bar] if ids.play_boss_bar is not None else []
            expected += [ids.play_scoreboard_objective, ids.play_teams, ids.play_player_remove or ids.play_player_info,
                         ids.play_playerlist_header, ids.play_clear_titles or ids.play_title,
                         ids.play_login, ids.play_respawn, ids.play_respawn, ids.play_keep_alive]
            self.assertEqual([pid for pid, _ in got], expected, version)
            fields = dict(got[:6 if ids.play_boss_bar is not None else 5])
            if ids.play_boss_bar is not None:
                self.assertEqual(fields[ids.play_boss_bar], leftovers.remove_boss_bar(BAR), version)
            self.assertEqual(fields[ids.play_scoreboard_objective], encode_string("kills") + b"\x01", version)
            self.assertEqual(fields[ids.play_teams], encode_string("red") + b"\x01", version)
            removed = fields[ids.play_player_remove or ids.play_player_info]
            self.assertEqual(removed, leftovers.remove_players([OTHER_PLAYER], ids.play_player_remove is not None),
                             version)
            self.assertEqual(got[-4], (ids.play_login, join), version)
            away, back = (respawn(protocol, f) for _, f in got[-3:-1])
            place = "worldName" if "worldName" in back else "dimension"
            self.assertNotEqual(away[place], back[place], version)
            self.assertEqual(back["gamemode"], 2, version)
            self.assertEqual(self.successResultOf(d), "You are now connected to survival.")
            self.assertTrue(old.transport.disconnecting, version)
            self.assertIs(session.connection.handler.backend, new, version)
            self.assertIsNone(session.connection.handler.switch, version)
            chat_id = ids.play_chat_legacy_serverbound or ids.play_chat_message
            new.transport.clear()
            session.connection.dataReceived(packet(chat_id, encode_string("hi there")))
            self.assertEqual(frames(new.transport.value()), [(chat_id, encode_string("hi there"))], version)

    def test_second_switch_clears_only_what_the_second_server_showed(self) -> None:
        """What was removed is forgotten: a second switch removes only the middle server's
        objective, and nothing is tracked for entries the server removed itself."""
        rig = Rig()
        session = rig.join(protocol=340)
        ids = packet_ids(340)
        self.show_everything(340, session.backend)
        session.backend.dataReceived(packet(ids.play_player_info, encode_varint(4) + encode_varint(1)
                                            + OTHER_PLAYER.bytes))
        session.sent()
        session.connection.switch_to("survival")
        middle = rig.router.accept()
        middle.dataReceived(packet(ids.play_login, join_game_fields(340)))
        self.assertNotIn(ids.play_player_info, [pid for pid, _ in frames(session.sent())])
        middle.dataReceived(packet(ids.play_scoreboard_objective, encode_string("deaths") + b"\x00rest"))
        session.sent()
        session.connection.switch_to("creative")
        rig.router.accept().dataReceived(packet(ids.play_login, join_game_fields(340)))
        objectives = [f for pid, f in frames(session.sent()) if pid == ids.play_scoreboard_objective]
        self.assertEqual(objectives, [encode_string("deaths") + b"\x01"])

    def test_plugin_channels_registered_with_the_new_server(self) -> None:
        """The channels the client registered with the old server are registered with the new
        one right after its Join Game (REGISTER before 1.13, minecraft:register since)."""
        for protocol, channel in ((340, "REGISTER"), (754, "minecraft:register")):
            ids = packet_ids(protocol)
            rig = Rig()
            session = rig.join(protocol=protocol)
            session.connection.dataReceived(packet(ids.play_custom_payload_serverbound,
                                                   encode_string(channel) + b"fml:hs\0wecui:cui"))
            session.connection.switch_to("survival")
            new = rig.router.accept()
            new.transport.clear()
            new.dataReceived(packet(ids.play_login, join_game_fields(protocol)))
            self.assertEqual(frames(new.transport.value()),
                             [(ids.play_custom_payload_serverbound, encode_string(channel) + b"fml:hs\0wecui:cui")])

    def test_old_servers_keep_alive_answer_not_sent_to_the_new_one(self) -> None:
        """An answer to the old server's keep-alive arriving after the switch is dropped (a
        1.12.2+ server disconnects a player for an answer it did not ask for); answers to the
        new server's own keep-alives reach it."""
        rig = Rig()
        session = rig.join(protocol=340)
        ids = packet_ids(340)
        session.backend.dataReceived(packet(ids.play_keep_alive, b"\x00" * 7 + b"\x01"))
        session.connection.switch_to("survival")
        new = rig.router.accept()
        new.dataReceived(packet(ids.play_login, join_game_fields(340))
                         + packet(ids.play_keep_alive, b"\x00" * 7 + b"\x02"))
        new.transport.clear()
        session.connection.dataReceived(packet(ids.play_keep_alive_response, b"\x00" * 7 + b"\x01")
                                        + packet(ids.play_keep_alive_response, b"\x00" * 7 + b"\x02")
                                        + packet(ids.play_keep_alive_response, b"\x00" * 7 + b"\x02"))
        self.assertEqual(frames(new.transport.value()), [(ids.play_keep_alive_response, b"\x00" * 7 + b"\x02")])

    def test_kick_falls_back_the_same_way(self) -> None:
        """A 1.8.8 player kicked falls back to the next server with the same sequence, and is
        told why in the chat packet of that version once there."""
        rig = Rig()
        events = []
        rig.core.events.subscribe(PreConnectEvent, events.append)
        session = rig.join(protocol=47)
        ids = packet_ids(47)
        session.backend.dataReceived(packet(ids.play_kick, encode_string('{"text":"Restarting"}')))
        self.assertEqual(session.sent(), b"")
        self.assertEqual([(e.target, e.cause) for e in events][-1], ("survival", SwitchCause.KICKED))
        new = rig.router.accept()
        new.dataReceived(packet(ids.play_login, join_game_fields(47)))
        got = frames(session.sent())
        self.assertEqual([pid for pid, _ in got][-4:], [ids.play_login, ids.play_respawn, ids.play_respawn,
                                                        ids.play_chat_legacy])
        self.assertEqual(json_text(got[-1][1]), "You were kicked from lobby: Restarting You are now on survival.")
        self.assertEqual(got[-1][1][-1], 1)  # position: system message
        self.assertEqual(session.connection.server, "survival")

    def test_kicked_before_join_game(self) -> None:
        """A target that kicks the player before its Join Game (a full server, a whitelist
        plugin): the player stays and is told the server's reason; the kick never reaches
        the client."""
        rig = Rig()
        session = rig.join(protocol=47)
        ids = packet_ids(47)
        d = session.connection.switch_to("survival")
        new = rig.router.accept()
        new.dataReceived(packet(ids.play_kick, encode_string('{"text":"Whitelisted"}')))
        self.assertEqual(str(self.failureResultOf(d, SwitchRefused).value),
                         "Could not connect you to that server: Whitelisted")
        self.assertEqual(session.sent(), b"")
        self.assertTrue(new.transport.disconnecting)
        self.assertEqual(session.connection.server, "lobby")

    def test_malformed_before_join_game(self) -> None:
        """A target sending a malformed Join Game is treated as gone: the player stays where
        they were and is told why."""
        rig = Rig()
        session = rig.join(protocol=340)
        ids = packet_ids(340)
        d = session.connection.switch_to("survival")
        new = rig.router.accept()
        new.dataReceived(packet(ids.play_login, b"\x00\x01"))
        self.assertEqual(str(self.failureResultOf(d, SwitchRefused).value), "The server you were moving to went away.")
        self.assertTrue(new.transport.disconnecting)
        self.assertFalse(session.transport.disconnecting)
        self.assertEqual(session.connection.server, "lobby")


class TargetLostTests(SynchronousTestCase):
    """The target stops mid-switch: stay if the old server is still there, else fall back."""

    def setUp(self) -> None:
        self.events: list = []

    def rig(self, protocol: int) -> tuple:
        rig = Rig()
        for kind in (PreConnectEvent, ServerConnectedEvent):
            rig.core.events.subscribe(kind, self.events.append)
        return rig, rig.join(protocol=protocol)

    def test_old_client_stays_on_its_server(self) -> None:
        """Before 1.20.2 the client never left the old server: the switch fails with the reason
        (for whoever asked to tell the player), and the player is still relayed there."""
        rig, session = self.rig(340)
        old = session.backend
        d = session.connection.switch_to("survival")
        lose(rig.router.accept())
        self.assertEqual(str(self.failureResultOf(d, SwitchRefused).value), "The server you were moving to went away.")
        self.assertFalse(session.transport.disconnecting)
        self.assertIsNone(session.connection.handler.switch)
        session.connection.dataReceived(packet(0x05, b"move"))
        self.assertEqual(old.transport.value(), packet(0x05, b"move"))
        self.assertEqual(len(rig.router.requests), 2)

    def test_old_client_whose_server_is_gone_falls_back(self) -> None:
        """Before 1.20.2, with the old server gone too (a fallback after a kick), the lost target
        is followed by the next server, and the player lands there."""
        rig, session = self.rig(47)
        ids = packet_ids(47)
        rig.router.try_order = ("lobby", "survival", "creative")
        lose(session.backend)
        lose(rig.router.accept())
        self.assertEqual([(e.target, e.cause) for e in self.of(PreConnectEvent)][-1], ("creative", SwitchCause.LOST))
        self.assertEqual(rig.router.requests[-1][0], ("creative",))
        rig.router.accept().dataReceived(packet(ids.play_login, join_game_fields(47)))
        self.assertEqual(session.connection.server, "creative")
        self.assertFalse(session.transport.disconnecting)

    def test_reconfiguring_client_returns_to_its_server(self) -> None:
        """1.20.2+: the client left play for the lost target, so it cannot simply stay; it goes
        back to the server it came from by a fresh login (then the other fallbacks), its
        acknowledgement and what followed it going to that server, and it is told why."""
        rig, session = self.rig(IDS.protocol)
        old = session.backend
        d = session.connection.switch_to("survival")
        lose(rig.router.accept())
        self.assertEqual(str(self.failureResultOf(d, SwitchRefused).value), "The server you were moving to went away.")
        self.assertTrue(old.transport.disconnecting)
        self.assertFalse(session.transport.disconnecting)
        self.assertEqual(rig.router.requests[-1][0], ("lobby",))
        self.assertEqual([(e.target, e.cause) for e in self.of(PreConnectEvent)][-1], ("lobby", SwitchCause.LOST))
        session.sent()
        session.connection.dataReceived(packet(IDS.play_configuration_acknowledged)
                                        + packet(IDS.config_keep_alive_response, b"k" * 8))
        back = rig.router.accept()
        self.assertEqual(session.sent(), b"")  # no second Start Configuration
        self.assertEqual([pid for pid, _ in frames(back.transport.value())],
                         [IDS.login_acknowledged, IDS.config_keep_alive_response])
        self.assertEqual(session.connection.server, "lobby")
        self.assertEqual([(e.server, e.previous) for e in self.of(ServerConnectedEvent)][-1], ("lobby", "lobby"))
        back.dataReceived(packet(IDS.config_finish))
        session.connection.dataReceived(packet(IDS.config_finish_ack))
        back.dataReceived(packet(IDS.play_login, b"\x00"))
        self.assertEqual(texts(session.sent(), IDS.play_system_chat),
                         ["The server you were moving to went away. You are now on lobby."])

    def test_reconfiguring_client_acknowledged_before_the_fallback_connects(self) -> None:
        """An acknowledgement before the loss completes the fallback as soon as a server takes the player."""
        rig, session = self.rig(IDS.protocol)
        d = session.connection.switch_to("survival")
        lost = rig.router.accept()
        handler = session.connection.handler
        lose(lost)
        self.failureResultOf(d, SwitchRefused)
        session.connection.dataReceived(packet(IDS.play_configuration_acknowledged))
        self.assertTrue(handler.switch.acknowledged)
        back = rig.router.accept()
        self.assertIsNone(handler.switch)
        self.assertIs(handler.backend, back)

    def test_reconfiguring_client_with_nowhere_to_go(self) -> None:
        """With every fallback refusing through the retries, the player is disconnected with the reason."""
        rig, session = self.rig(IDS.protocol)
        d = session.connection.switch_to("survival")
        lose(rig.router.accept())
        self.failureResultOf(d, SwitchRefused)
        session.sent()
        answered = 0
        for _ in range(90):  # past the hold (fallback_hold, 60 s by default), every try refused
            while answered < len(rig.router.requests) - 2:
                rig.router.refuse(answered + 2)
                answered += 1
            rig.reactor.advance(1.0)
            session.answer_keep_alives()
        self.assertGreater(answered, 3)
        self.assertEqual(texts(session.sent(), IDS.config_disconnect)[-1:], ["The server you were moving to went away."])
        self.assertTrue(session.transport.disconnecting)

    def test_held_client_bytes_are_bounded(self) -> None:
        """A client flooding while its fallback connects is closed and counted, not buffered without end."""
        rig, session = self.rig(IDS.protocol)
        d = session.connection.switch_to("survival")
        lose(rig.router.accept())
        self.failureResultOf(d, SwitchRefused)
        session.connection.dataReceived(packet(IDS.play_configuration_acknowledged))
        chunk = packet(IDS.config_keep_alive_response, b"k" * 60000)
        for _ in range(20):
            session.connection.dataReceived(chunk)
        self.assertTrue(session.transport.disconnecting)
        self.assertEqual(rig.refusals("SWITCH_BUFFER_FULL"), 1)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]
