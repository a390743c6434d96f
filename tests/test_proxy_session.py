"""Each session handler's refusals, and every plugin event's result honoured by the core."""

from __future__ import annotations

import json
import uuid
import warnings

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mcproxy.interfaces import IPlayer, ISessionHandler
from mcproxy.proxy.client import Phase
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.events import (
    Cancelled, DisconnectEvent, KickedFromServerEvent, LoginEvent, PlayerChatEvent, PlayerCommandEvent, PluginMessageEvent,
    NIL_UUID, PreConnectEvent, StatusPingEvent,
)
from mcproxy.proxy.status import StatusResponder
from mcproxy.proxy.session.switch import SwitchRefused
from mcproxy.wire import chat
from mcproxy.wire.types import Reader, encode_bool, encode_long, encode_string, encode_varint
from tests.session_rig import IDS, Rig, frames, handshake, login_start, lose, packet, texts


steve_id = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
alex_id = uuid.UUID("11111111-2222-3333-4444-555555555555")


def chat_message(text: str, signed: bool = False, offset: int = 0) -> bytes:
    fields = encode_string(text, 256) + encode_long(1) + encode_long(2) + encode_bool(signed)
    if signed:
        fields += b"\x07" * 256
    return packet(IDS.play_chat_message, fields + encode_varint(offset) + b"\x00\x00\x00" + b"\x00")


def plugin_message(packet_id: int, channel: str, data: bytes) -> bytes:
    return packet(packet_id, encode_string(channel) + data)


class RigTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.rig = Rig()
        self.addCleanup(self.rig.core.stop)

    def subscribe(self, event, handler) -> None:
        self.rig.core.events.subscribe(event, handler)

    def assertRefusedIn(self, connection, transport, reason: str, phase: str) -> None:
        """Closed, counted once under ``reason``, and logged with the state it happened in."""
        self.assertIs(connection.phase, Phase.CLOSED)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.rig.refusals(reason), 1.0)
        logs = [e for e in self.rig.log_events if e.get("log_format", "").startswith("refused")]
        self.assertEqual([(e["reason"], e["phase"]) for e in logs], [(reason, phase)])


class IllegalPacketTests(RigTestCase):
    def test_handshake(self) -> None:
        """A first packet that is not a handshake is refused in the handshake state."""
        connection, transport = self.rig.connect()
        connection.dataReceived(packet(0x05, b"x"))
        self.assertRefusedIn(connection, transport, "NOT_A_HANDSHAKE", "handshake")

    def test_status(self) -> None:
        """In the status state only Status Request and Ping are legal."""
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake(intent=1) + packet(0x05))
        self.assertRefusedIn(connection, transport, "UNEXPECTED_PACKET", "status")

    def test_login(self) -> None:
        """Before Login Start, an Encryption Response is refused in the login state."""
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + packet(IDS.login_encryption_response, b"\x00\x00"))
        self.assertRefusedIn(connection, transport, "UNEXPECTED_PACKET", "login")

    def test_connecting(self) -> None:
        """While the router works the client has nothing to say; a late backend is closed."""
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start() + packet(IDS.login_acknowledged))
        self.assertRefusedIn(connection, transport, "UNEXPECTED_PACKET", "connecting")
        backend = self.rig.router.accept()
        self.assertTrue(backend.transport.disconnecting)

    def test_awaiting_acknowledgement(self) -> None:
        """After Login Success only Login Acknowledged (or a cookie answer) may come; the backend goes too."""
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        backend = self.rig.router.accept()
        connection.dataReceived(login_start())
        self.assertRefusedIn(connection, transport, "UNEXPECTED_PACKET", "await-login-ack")
        self.assertTrue(backend.transport.disconnecting)

    def test_play(self) -> None:
        """A frame that can never be valid in the relay closes the player and their backend."""
        session = self.rig.join()
        session.connection.dataReceived(b"\x00")
        self.assertRefusedIn(session.connection, session.transport, "EMPTY_FRAME", "relay")
        self.assertTrue(session.backend.transport.disconnecting)


class HandlerInterfaceTests(RigTestCase):
    def test_every_state_provides_the_interface(self) -> None:
        """Each handler a session passes through provides ISessionHandler, and only the
        current one is active."""
        seen = []
        connection, transport = self.rig.connect()
        seen.append(connection.handler)
        connection.dataReceived(handshake())
        seen.append(connection.handler)
        connection.dataReceived(login_start())
        seen.append(connection.handler)
        backend = self.rig.router.accept()
        connection.dataReceived(packet(IDS.login_acknowledged))
        seen.append(connection.handler)
        self.assertEqual([type(h).__name__ for h in seen],
                         ["HandshakeHandler", "LoginHandler", "ConnectingHandler", "PlayHandler"])
        for handler in seen:
            verifyObject(ISessionHandler, handler)
        self.assertEqual([h.active for h in seen], [False, False, False, True])
        self.assertIsNot(backend.sink, None)
        pinger, _ = self.rig.connect()
        pinger.dataReceived(handshake(intent=1))
        self.assertEqual(type(pinger.handler).__name__, "StatusHandler")
        verifyObject(ISessionHandler, pinger.handler)


class LoginAndConnectEventTests(RigTestCase):
    def test_login_denied(self) -> None:
        """A denied login is turned away with the plugin's message before any server is asked,
        and gets exactly one DisconnectEvent."""
        left = []
        self.subscribe(LoginEvent, lambda event: event.deny("Not today, " + event.player.name))
        self.subscribe(DisconnectEvent, left.append)
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start("Alex"))
        [(pid, fields)] = frames(transport.value())
        self.assertEqual(pid, IDS.login_disconnect)
        self.assertEqual(chat.plain_text(chat.json_to_component(Reader(fields).string())), "Not today, Alex")
        self.assertEqual(self.rig.refusals("PLUGIN_DENIED"), 1.0)
        self.assertEqual(self.rig.router.requests, [])
        connection.connectionLost(None)
        self.assertEqual([e.why for e in left], ["refused"])

    def test_pre_connect_redirect_at_join(self) -> None:
        """A redirect at join sends the router to that server only."""
        self.subscribe(PreConnectEvent, lambda event: event.redirect("creative"))
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        self.assertEqual(self.rig.router.requests[0][0], ("creative",))

    def test_pre_connect_denied_at_join(self) -> None:
        """A denied first connect turns the player away with the message."""
        self.subscribe(PreConnectEvent, lambda event: event.deny("Maintenance"))
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        self.assertEqual(self.rig.refusals("PLUGIN_DENIED"), 1.0)
        self.assertIn(b"Maintenance", transport.value())

    def test_pre_connect_on_a_switch(self) -> None:
        """A denied switch keeps the player where they are; a redirected one goes elsewhere."""
        session = self.rig.join()
        verdicts = ["deny", "redirect"]

        def decide(event) -> None:
            if verdicts.pop(0) == "deny":
                event.deny("Not now")
            else:
                event.redirect("creative")

        self.subscribe(PreConnectEvent, decide)
        d = session.connection.switch_to("survival")
        self.assertEqual(str(self.failureResultOf(d, SwitchRefused).value), "Not now")
        self.assertFalse(session.transport.disconnecting)
        session.connection.switch_to("survival")
        self.assertEqual(self.rig.router.requests[-1][0], ("creative",))

    def test_disconnect_from_a_login_handler(self) -> None:
        """A handler that disconnects the player itself ends the login there: no server is asked."""
        self.subscribe(LoginEvent, lambda event: event.player.disconnect("Come back later"))
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake() + login_start())
        self.assertEqual(self.rig.refusals("DISCONNECTED"), 1.0)
        self.assertIn(b"Come back later", transport.value())
        self.assertEqual(self.rig.router.requests, [])

    def test_facade(self) -> None:
        """Plugins get an IPlayer, not the connection."""
        seen = []
        self.subscribe(LoginEvent, lambda event: seen.append(event.player))
        session = self.rig.join("Alex")
        verifyObject(IPlayer, seen[0])
        self.assertEqual((seen[0].name, seen[0].server), ("Alex", "lobby"))
        self.assertNotIsInstance(seen[0], type(session.connection))

    def test_result_of_the_wrong_kind_is_refused(self) -> None:
        """An event refuses a result it cannot take; the handler's error is logged, the default stands."""
        def wrong(event) -> None:
            event.result = Cancelled()

        self.subscribe(LoginEvent, wrong)
        session = self.rig.join()
        failures = [e for e in self.rig.log_events if "log_failure" in e]
        self.assertEqual([e["event"] for e in failures], ["LoginEvent"])
        self.assertTrue(failures[0]["log_failure"].check(TypeError))
        self.assertIs(session.connection.phase, Phase.RELAY)


class TakeOverEventTests(SynchronousTestCase):
    def test_replaced_session_gets_one_disconnect_event(self) -> None:
        """With kick_existing_players, the old session is told and closed, its one DisconnectEvent
        saying ``replaced``, and the newcomer goes on to a server."""
        rig = Rig(settings=ProxySettings(online_mode=False, compression_threshold=-1, kick_existing_players=True))
        self.addCleanup(rig.core.stop)
        left = []
        rig.core.events.subscribe(DisconnectEvent, left.append)
        old = rig.join("Steve")
        connection, transport = rig.connect()
        connection.dataReceived(handshake() + login_start("Steve"))
        self.assertEqual(texts(old.sent(), IDS.play_kick), ["You logged in from another location."])
        self.assertTrue(old.transport.disconnecting)
        old.connection.connectionLost(None)
        self.assertEqual([(e.player.name, e.why) for e in left], [("Steve", "replaced")])
        self.assertIs(connection.phase, Phase.CONNECTING)


class KickEventTests(RigTestCase):
    def kick(self, session, text: str = "Bye") -> None:
        session.backend.dataReceived(packet(IDS.play_kick, chat.text_to_nbt(text)))

    def test_kick_redirected(self) -> None:
        """A kick turned into a redirect moves the player to the plugin's server, not the try list's."""
        self.subscribe(KickedFromServerEvent, lambda event: event.redirect("creative"))
        session = self.rig.join()
        self.kick(session)
        self.assertEqual(self.rig.router.requests[-1][0], ("creative",))
        self.rig.finish_switch(session)
        self.assertEqual(session.connection.server, "creative")

    def test_kick_turned_into_disconnect(self) -> None:
        """A plugin may end the session instead, with its own message."""
        self.subscribe(KickedFromServerEvent, lambda event: event.disconnect(f"{event.server} said: {event.reason}"))
        session = self.rig.join()
        self.kick(session, "Restart")
        self.assertEqual(texts(session.sent(), IDS.play_kick), ["lobby said: Restart"])
        self.assertEqual(len(self.rig.router.requests), 1)
        lose(session.backend)
        self.assertTrue(session.transport.disconnecting)


class ChatEventTests(RigTestCase):
    def test_unsigned_chat_rewritten(self) -> None:
        """Unsigned chat can be rewritten; the rest of the packet is left as the client sent it."""
        self.subscribe(PlayerChatEvent, lambda event: event.rewrite(event.text.upper()))
        session = self.rig.join()
        session.connection.dataReceived(chat_message("hello", offset=2))
        [(pid, fields)] = frames(session.backend.transport.value())
        self.assertEqual(pid, IDS.play_chat_message)
        self.assertEqual(fields, frames(chat_message("HELLO", offset=2))[0][1])

    def test_unsigned_chat_cancelled(self) -> None:
        """A cancelled message never reaches the server, but what it acknowledged does."""
        self.subscribe(PlayerChatEvent, lambda event: event.cancel())
        session = self.rig.join()
        session.connection.dataReceived(chat_message("spam", offset=0) + chat_message("spam", offset=3))
        self.assertEqual(frames(session.backend.transport.value()),
                         [(IDS.play_message_acknowledgement, encode_varint(3))])

    def test_signed_chat_never_altered(self) -> None:
        """A signed message goes on as sent whatever a plugin says, and the attempt is logged."""
        self.subscribe(PlayerChatEvent, lambda event: event.rewrite("forged"))
        session = self.rig.join()
        message = chat_message("mine", signed=True)
        session.connection.dataReceived(message)
        self.assertEqual(session.backend.transport.value(), message)
        self.assertTrue(any("signed" in e.get("log_format", "") for e in self.rig.log_events))

    def test_command_rewritten_and_cancelled(self) -> None:
        """Commands can be rewritten (to a proxy command, too) or cancelled."""
        def decide(event) -> None:
            if event.text == "secret":
                event.cancel()
            elif event.text == "who":
                event.rewrite("glist")
            else:
                event.rewrite("spawn")

        self.subscribe(PlayerCommandEvent, decide)
        session = self.rig.join()
        session.connection.dataReceived(packet(IDS.play_chat_command, encode_string("secret"))
                                        + packet(IDS.play_chat_command, encode_string("home")))
        self.assertEqual(frames(session.backend.transport.value()),
                         [(IDS.play_chat_command, encode_string("spawn"))])
        session.connection.dataReceived(packet(IDS.play_chat_command, encode_string("who")))
        self.assertEqual(texts(session.sent(), IDS.play_system_chat), ["[lobby] (1): Steve\nTotal players online: 1"])
        self.assertEqual(session.backend.transport.value().count(encode_string("spawn")), 1)


class PluginMessageEventTests(RigTestCase):
    def test_cancel_and_late_subscription(self) -> None:
        """Plugin messages are watched once someone subscribes, for players already on too."""
        session = self.rig.join()
        brand = plugin_message(IDS.play_custom_payload_serverbound, "minecraft:brand", b"\x05vanil")
        session.connection.dataReceived(brand)
        self.assertEqual(session.backend.transport.value(), brand)
        session.backend.transport.clear()
        seen = []

        def drop(event) -> None:
            seen.append((event.channel, event.direction))
            event.cancel()

        self.subscribe(PluginMessageEvent, drop)
        session.connection.dataReceived(brand)
        session.backend.dataReceived(plugin_message(IDS.play_custom_payload, "x:y", b"1"))
        self.assertEqual(session.backend.transport.value(), b"")
        self.assertEqual(session.sent(), b"")
        self.assertEqual(seen, [("minecraft:brand", "serverbound"), ("x:y", "clientbound")])


class StatusAndHookTests(RigTestCase):
    def test_status_ping_edited(self) -> None:
        """A plugin edits the server-list answer in place."""
        def edit(event) -> None:
            event.status["description"] = {"text": f"Hello {event.address}"}

        self.subscribe(StatusPingEvent, edit)
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake(intent=1) + packet(0x00))
        [(pid, fields)] = frames(transport.value())
        self.assertEqual(json.loads(Reader(fields).string())["description"], {"text": "Hello 192.168.1.1"})

    def test_status_sample_edited(self) -> None:
        """The random player sample reaches the event, which may drop, keep and add lines."""
        self.rig.core.status = StatusResponder("A network", 100, lambda: 2, sample_size=2,
                                               players=lambda: [("Steve", steve_id), ("Alex", alex_id)])
        seen = []

        def edit(event) -> None:
            seen.append(sorted(entry["name"] for entry in event.sample))
            event.sample = [entry for entry in event.sample if entry["name"] != "Alex"] + ["Welcome!"]

        self.subscribe(StatusPingEvent, edit)
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake(intent=1) + packet(0x00))
        [(pid, fields)] = frames(transport.value())
        self.assertEqual(seen, [["Alex", "Steve"]])
        self.assertEqual(json.loads(Reader(fields).string())["players"]["sample"],
                         [{"name": "Steve", "id": str(steve_id)}, {"name": "Welcome!", "id": NIL_UUID}])

    def test_status_fetched_then_edited(self) -> None:
        """A status that has to be fetched first (pass-through) is edited once it arrives,
        and the ping that came meanwhile is answered after it."""
        pending = defer.Deferred()

        class Fetching:
            def response_json(self, protocol, host):
                return pending

        self.rig.core.status = Fetching()
        self.subscribe(StatusPingEvent, lambda event: event.status.update(edited=True))
        connection, transport = self.rig.connect()
        connection.dataReceived(handshake(intent=1) + packet(0x00) + packet(0x01, encode_long(7)))
        self.assertEqual(transport.value(), b"")
        pending.callback(json.dumps({"description": "fetched"}))
        (status_id, status), (pong_id, pong) = frames(transport.value())
        self.assertEqual(json.loads(Reader(status).string()), {"description": "fetched", "edited": True})
        self.assertEqual((pong_id, pong), (0x01, encode_long(7)))

    def test_old_hook_names_still_work_with_a_warning(self) -> None:
        """The four 0.4 hooks run for one more release, called as before, with a DeprecationWarning."""
        calls = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name in ("login", "server_chosen", "server_connected", "disconnect"):
                self.rig.core.events.subscribe(name, lambda *args, name=name: calls.append((name, args[1:])))
        self.assertEqual([w.category for w in caught], [DeprecationWarning] * 4)
        self.rig.router.try_order = ("lobby",)
        session = self.rig.join()
        session.backend.dataReceived(packet(IDS.play_kick, chat.text_to_nbt("Bye")))
        lose(session.backend)
        session.connection.connectionLost(None)
        self.assertEqual(calls, [("login", ()), ("server_chosen", ("lobby",)), ("server_connected", ("lobby",)),
                                 ("disconnect", ("kicked",))])
        self.assertRaises(ValueError, self.rig.core.events.subscribe, "joined", print)
