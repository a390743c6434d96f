"""26.2 and 26.3 sessions through the proxy, on constructed packet sequences.

No independent client or server speaks 26.2 (776) or 26.3 (777) yet: minecraft-protocol
and mineflayer stop at 26.1.  These tests drive a whole login (offline, and online mode
with encryption), compression, the configuration phase, play and a server switch with
packets built from the 776 and 777 entries of ``protocols.json`` (ids BungeeCord and Gate
agree on) and the layout changes they record, as a client and a backend of those versions
would send them.  26.3 moved most play ids and the configuration ids after its new
post-effects packet, so a session run on 26.2's ids fails here.
"""

from __future__ import annotations

import os
import uuid

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import GameProfile, offline_profile
from mcproxy.proxy.backend import BackendConnection, BackendLogin, LoginPhase
from mcproxy.proxy.command_tree import root_names
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.play_session import PlaySessionId
from mcproxy.wire import chat
from mcproxy.wire.cipher import rsa_encrypt, server_hash
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.forwarding import ProfileProperty, encode_properties
from mcproxy.wire.join_game import with_online_mode
from mcproxy.wire.login import LoginLayout, encode_login_success
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.types import (
    Reader, encode_bool, encode_bytes, encode_int, encode_long, encode_string, encode_ushort, encode_uuid,
    encode_varint,
)
from tests.session_rig import Rig, frames, packet


def join_game(online: bool, secure_chat: bool = True) -> bytes:
    """A 26.2+ Join Game as a backend writes it: 26.1's fields with the online-mode flag
    between the sea level and enforcesSecureChat (BungeeCord c21769b, Gate 48a7f91)."""
    return (encode_int(7) + encode_bool(False) + encode_varint(1) + encode_string("minecraft:overworld")
            + encode_varint(20) + encode_varint(10) + encode_varint(10)
            + encode_bool(False) + encode_bool(True) + encode_bool(False)
            + encode_varint(0) + encode_string("minecraft:overworld") + encode_long(42)
            + bytes((0, 0xFF)) + encode_bool(False) + encode_bool(True) + encode_bool(False)
            + encode_varint(0) + encode_varint(63)
            + encode_bool(online) + encode_bool(secure_chat))


class SessionServer:
    """Answers hasJoined with a fixed profile and records what it was asked."""

    def __init__(self, profile: GameProfile) -> None:
        self.profile = profile
        self.asked: list[tuple[str, str]] = []

    def has_joined(self, username: str, digest: str) -> defer.Deferred:
        self.asked.append((username, digest))
        return defer.succeed(self.profile)


class Client:
    """The player's end of the wire: a codec that follows the proxy's compression and
    encryption, as a 26.x client does."""

    def __init__(self, rig: Rig) -> None:
        self.ids = rig.ids
        self.protocol = rig.protocol
        self.connection, self.transport = rig.connect()
        self.codec = PacketCodec()

    def send(self, packet_id: int, fields: bytes = b"") -> None:
        self.connection.dataReceived(self.codec.encode(packet_id, fields))

    def log_in(self, name: str = "Steve") -> None:
        self.send(0x00, encode_varint(self.protocol) + encode_string("play.example.com")
                  + encode_ushort(25565) + encode_varint(2))
        self.send(self.ids.login_start, encode_string(name, 16) + encode_uuid(uuid.uuid4()))

    def received(self, login: bool = False) -> list[tuple[int, Reader]]:
        """Every packet the proxy sent since the last call; in the login state, Set
        Compression switches compression on for the packets after it."""
        self.codec.feed(self.transport.value())
        self.transport.clear()
        out = []
        while (found := self.codec.next_packet()) is not None:
            packet_id, reader = found
            if login and packet_id == self.ids.login_compress:
                self.codec.enable_compression(Reader(reader.rest()).varint())
                reader = Reader(encode_varint(self.codec.threshold))
            out.append((packet_id, reader))
        return out


class NewestVersionTests:
    """The same session for each protocol; subclasses name it."""

    PROTOCOL: int

    def rig(self, **kwargs) -> Rig:
        rig = Rig(protocol=self.PROTOCOL, **kwargs)
        self.addCleanup(rig.core.stop)
        return rig

    def login_success(self, client: Client) -> tuple[uuid.UUID, str, bytes, uuid.UUID]:
        """Set Compression then Login Success: the profile and, from 26.2, the session id."""
        ids = client.ids
        [(compress, threshold), (success, reader)] = client.received(login=True)
        self.assertEqual((compress, threshold.varint()), (ids.login_compress, client.codec.threshold))
        self.assertEqual(success, ids.login_success)
        profile_id, name = reader.uuid(), reader.string(16)
        rest = reader.rest()
        return profile_id, name, rest[:-16], uuid.UUID(bytes=rest[-16:])

    def configure_and_play(self, rig: Rig, client: Client, backend: BackendConnection) -> bytes:
        """Login Acknowledged, the backend's configuration, the client's answers, then the
        backend's Join Game (saying offline, as a backend behind the proxy does): returns
        the Join Game fields the client received."""
        ids = client.ids
        client.send(ids.login_acknowledged)
        self.assertEqual(frames(backend.transport.value()), [(ids.login_acknowledged, b"")])
        backend.transport.clear()
        brand = encode_string("minecraft:brand") + encode_string("vanilla")
        backend.dataReceived(packet(ids.config_select_known_packs, encode_varint(0))
                             + packet(ids.config_custom_payload, brand) + packet(ids.config_finish))
        self.assertEqual([pid for pid, _ in client.received()],
                         [ids.config_select_known_packs, ids.config_custom_payload, ids.config_finish])
        client.send(ids.config_custom_payload_serverbound, brand)
        client.send(ids.config_finish_ack)
        self.assertEqual([pid for pid, _ in frames(backend.transport.value())],
                         [ids.config_custom_payload_serverbound, ids.config_finish_ack])
        backend.transport.clear()
        backend.dataReceived(packet(ids.play_login, join_game(online=False)))
        [(pid, reader)] = client.received()
        self.assertEqual(pid, ids.play_login)
        return reader.rest()

    def test_offline_login_with_compression(self) -> None:
        """An offline login: Set Compression, Login Success ending with the play session
        id, configuration both ways and Join Game, each at this version's ids; then play
        traffic is relayed and the player is counted under this protocol."""
        rig = self.rig(settings=ProxySettings(online_mode=False, compression_threshold=64))
        client = Client(rig)
        ids = client.ids
        client.log_in()
        backend = rig.router.accept()
        profile_id, name, properties, session_id = self.login_success(client)
        self.assertEqual((profile_id, name), (offline_profile("Steve").id, "Steve"))
        self.assertEqual(properties, encode_varint(0))
        fields = self.configure_and_play(rig, client, backend)
        self.assertEqual(fields, join_game(online=False))
        self.assertEqual(rig.core.play_session.current(), session_id)
        self.assertEqual(rig.core.players.by_protocol(), {self.PROTOCOL: 1})
        version = {776: "26.2", 777: "26.3"}[self.PROTOCOL]
        self.assertEqual(rig.registry.get_sample_value(
            "mcproxy_players", {"protocol": str(self.PROTOCOL), "version": version}), 1.0)
        backend.dataReceived(packet(ids.play_system_chat, chat.text_to_nbt("Welcome") + encode_bool(False)))
        [(pid, reader)] = client.received()
        self.assertEqual(pid, ids.play_system_chat)
        self.assertEqual(chat.plain_text(chat.nbt_to_component(reader.rest())[0]), "Welcome")
        client.send(ids.play_keep_alive, encode_long(5))
        self.assertEqual(frames(backend.transport.value()), [(ids.play_keep_alive, encode_long(5))])

    def test_online_login_encrypted(self) -> None:
        """An online-mode login: the encryption request, the client's encrypted secret, the
        session server asked with the right hash, then Login Success (encrypted, compressed)
        with the authenticated profile and the session id; the client is told the proxy
        is in online mode though the backend said offline."""
        profile = GameProfile(uuid.UUID("4566e69f-c907-48ee-8d71-d7ba5aa00d20"), "Steve",
                              (ProfileProperty("textures", "e30=", "c2ln"),), authenticated=True)
        sessions = SessionServer(profile)
        rig = self.rig(settings=ProxySettings(online_mode=True, compression_threshold=256),
                       session_server=sessions)
        client = Client(rig)
        ids = client.ids
        client.log_in()
        [(pid, request)] = client.received(login=True)
        self.assertEqual(pid, ids.login_encryption_request)
        server_id, public_key, token = request.string(20), request.byte_array(1024), request.byte_array(16)
        self.assertTrue(request.bool())
        secret = os.urandom(16)
        client.send(ids.login_encryption_response,
                    encode_bytes(rsa_encrypt(public_key, secret)) + encode_bytes(rsa_encrypt(public_key, token)))
        client.codec.enable_encryption(secret)
        self.assertEqual(sessions.asked, [("Steve", server_hash(server_id, secret, public_key))])
        backend = rig.router.accept()
        profile_id, name, properties, session_id = self.login_success(client)
        self.assertEqual((profile_id, name), (profile.id, "Steve"))
        self.assertEqual(properties, encode_properties(profile.properties))
        fields = self.configure_and_play(rig, client, backend)
        self.assertEqual(fields, join_game(online=True))
        self.assertEqual(rig.core.play_session.current(), session_id)

    def test_server_switch_reenters_configuration(self) -> None:
        """``/server survival`` (this version's unsigned command) moves the player through
        Start Configuration, the client's acknowledgement and the new backend's
        configuration, at this version's ids; the new Join Game is relayed too."""
        rig = self.rig()
        ids = rig.ids
        session = rig.join()
        old = session.backend
        session.connection.dataReceived(packet(ids.play_chat_command, encode_string("server survival")))
        self.assertEqual(rig.router.requests[-1][0], ("survival",))
        new = rig.router.accept()
        self.assertEqual([pid for pid, _ in frames(session.sent())], [ids.play_start_configuration])
        session.connection.dataReceived(packet(ids.play_configuration_acknowledged))
        self.assertTrue(old.transport.disconnecting)
        self.assertEqual(frames(new.transport.value()), [(ids.login_acknowledged, b"")])
        new.transport.clear()
        new.dataReceived(packet(ids.config_finish))
        self.assertEqual([pid for pid, _ in frames(session.sent())], [ids.config_finish])
        session.connection.dataReceived(packet(ids.config_finish_ack))
        self.assertEqual(frames(new.transport.value()), [(ids.config_finish_ack, b"")])
        new.dataReceived(packet(ids.play_login, join_game(online=True)))
        received = frames(session.sent())
        self.assertEqual(received[0], (ids.play_login, join_game(online=False)))
        self.assertEqual(session.connection.server, "survival")


def backend_tree() -> bytes:
    """A backend's Declare Commands: the root and one literal, "spawn"."""
    nodes = [bytes([0]) + encode_varint(1) + encode_varint(1),
             bytes([1 | 4]) + encode_varint(0) + encode_string("spawn")]
    return encode_varint(len(nodes)) + b"".join(nodes) + encode_varint(0)


class Protocol776Tests(NewestVersionTests, SynchronousTestCase):
    PROTOCOL = 776

    def test_proxy_commands_added_to_the_tree(self) -> None:
        """26.2 kept 26.1's argument parsers, so the proxy's commands join the backend's tree."""
        rig = self.rig()
        session = rig.join()
        session.backend.dataReceived(packet(rig.ids.play_declare_commands, backend_tree()))
        [(pid, fields)] = frames(session.sent())
        self.assertEqual(pid, rig.ids.play_declare_commands)
        self.assertIn("spawn", root_names(fields, 776))
        self.assertIn("server", root_names(fields, 776))


class Protocol777Tests(NewestVersionTests, SynchronousTestCase):
    PROTOCOL = 777

    def test_tree_relayed_as_sent(self) -> None:
        """26.3 moved argument parsers whose properties no source gives: the backend's tree
        reaches the client untouched (once-per-version warning), and a typed proxy command
        still runs."""
        rig = self.rig()
        session = rig.join()
        session.backend.dataReceived(packet(rig.ids.play_declare_commands, backend_tree()))
        self.assertEqual(frames(session.sent()), [(rig.ids.play_declare_commands, backend_tree())])
        self.assertTrue(any("cannot add proxy commands" in e.get("log_format", "") for e in rig.log_events))
        session.connection.dataReceived(packet(rig.ids.play_chat_command, encode_string("server creative")))
        self.assertEqual(rig.router.requests[-1][0], ("creative",))

    def test_ids_moved_from_26_2(self) -> None:
        """The packets of the session above moved in 26.3: a table inherited from 26.2
        would misread them."""
        old, new = packet_ids(776), packet_ids(777)
        for field in ("play_login", "play_keep_alive", "play_system_chat", "play_start_configuration",
                      "config_select_known_packs", "config_transfer", "config_store_cookie"):
            self.assertNotEqual(getattr(old, field), getattr(new, field), field)
        for field in ("login_success", "login_compress", "config_finish", "play_custom_payload",
                      "play_chat_command", "play_configuration_acknowledged", "play_kick"):
            self.assertEqual(getattr(old, field), getattr(new, field), field)


class LoginSuccessWriterTests(SynchronousTestCase):
    PROFILE_ID = uuid.UUID("4566e69f-c907-48ee-8d71-d7ba5aa00d20")
    SESSION_ID = uuid.UUID("0f1e2d3c-4b5a-4697-8877-665544332211")

    def fields(self, protocol: int, session_id=SESSION_ID) -> bytes:
        return encode_login_success(LoginLayout.of(protocol), self.PROFILE_ID, "Steve", encode_varint(0), session_id)

    def test_per_version_tail(self) -> None:
        """1.20.5-1.21.1 end with the strict flag, 1.21.2-26.1 with the profile, 26.2 and
        26.3 with the session id."""
        profile = encode_uuid(self.PROFILE_ID) + encode_string("Steve") + encode_varint(0)
        self.assertEqual(self.fields(766), profile + encode_bool(False))
        self.assertEqual(self.fields(775), profile)
        for protocol in (776, 777):
            self.assertEqual(self.fields(protocol), profile + encode_uuid(self.SESSION_ID))

    def test_session_id_required(self) -> None:
        """Writing a 26.2 Login Success without a session id is a bug, caught at once."""
        self.assertRaises(ValueError, self.fields, 776, None)
        self.assertEqual(self.fields(775, None), self.fields(775))


class PlaySessionIdTests(SynchronousTestCase):
    def test_shared_while_online_then_new(self) -> None:
        """Players on together share the id; once the proxy empties, a new one is drawn."""
        players: list = []
        draws = iter([b"\x01" * 16, b"\x02" * 16])
        ids = PlaySessionId(players, lambda n: next(draws))
        first = ids.current()
        players.append("Steve")
        self.assertEqual(ids.current(), first)
        players.append("Alex")
        players.remove("Steve")
        self.assertEqual(ids.current(), first)
        players.clear()
        second = ids.current()
        self.assertNotEqual(second, first)
        self.assertEqual((first.version, second.version), (4, 4))


class JoinGameOnlineModeTests(SynchronousTestCase):
    def test_flag_set_to_the_proxy_mode(self) -> None:
        """The byte before the last becomes the proxy's mode; the last is kept."""
        self.assertEqual(with_online_mode(join_game(online=False), True), join_game(online=True))
        self.assertEqual(with_online_mode(join_game(online=True, secure_chat=False), False),
                         join_game(online=False, secure_chat=False))
        unchanged = join_game(online=True)
        self.assertIs(with_online_mode(unchanged, True), unchanged)

    def test_other_shapes_left_alone(self) -> None:
        """Fields not ending in two booleans are not a Join Game of that shape."""
        for fields in (b"", b"\x01", b"\x05\x01", b"\x01\x07"):
            self.assertIsNone(with_online_mode(fields, True))

    def test_not_rewritten_before_26_2(self) -> None:
        """26.1's Join Game has no such flag: the watcher leaves it as the backend sent it."""
        rig = Rig()
        self.addCleanup(rig.core.stop)
        session = rig.join()
        rig.core.settings = ProxySettings(online_mode=True, compression_threshold=-1)
        fields = join_game(online=False)
        session.backend.dataReceived(packet(rig.ids.play_login, fields))
        self.assertEqual(frames(session.sent()), [(rig.ids.play_login, fields)])


class BackendLoginSuccessTests(SynchronousTestCase):
    def test_session_id_after_the_profile_accepted(self) -> None:
        """A 26.2 backend's Login Success (profile, properties, session id) logs the proxy in."""
        ids = packet_ids(776)
        login = BackendLogin(profile=offline_profile("Steve"), protocol=776, host="h", port=25565,
                             address="127.0.0.1", mode="none", secret=b"")
        backend = BackendConnection(login, ids, 2097151)
        backend.makeConnection(StringTransport())
        backend.dataReceived(packet(ids.login_success, encode_login_success(
            LoginLayout.of(776), login.profile.id, "Steve", encode_varint(0), uuid.uuid4())))
        self.assertIs(self.successResultOf(backend.ready), backend)
        self.assertIs(backend.phase, LoginPhase.LOGGED_IN)
        self.assertEqual(backend.backend_profile, (login.profile.id, "Steve"))
