"""Login, first join and forwarding for 1.8 – 1.20.4 clients, on a fake clock."""

from __future__ import annotations

import os
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import GameProfile, offline_profile
from mcproxy.proxy.backend import BackendConnection, BackendLogin, BackendRefused, LoginPhase
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.routing import FORWARDING_UNSUPPORTED, NoServerAvailable, Router, ServerAddress
from mcproxy.proxy.session.base import Phase
from mcproxy.wire import bungee, chat
from mcproxy.wire.cipher import generate_private_key, public_key_der, rsa_encrypt
from mcproxy.wire.login import LoginLayout, encode_login_success
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.types import (
    Reader, encode_bool, encode_bytes, encode_long, encode_string, encode_uuid, encode_varint,
)
from tests.session_rig import Rig, frames, handshake, login_start, packet

#: A protocol of each login generation the proxy serves below 1.20.5.
OLD_PROTOCOLS = (47, 107, 340, 393, 578, 735, 758, 759, 760, 761, 763, 764, 765)


def login_success(data: bytes, protocol: int) -> tuple[uuid.UUID, str]:
    """The UUID and name of the one Login Success in ``data``; nothing may follow it."""
    ids = packet_ids(protocol)
    [(packet_id, fields)] = frames(data)
    assert packet_id == ids.login_success, (protocol, packet_id)
    reader = Reader(fields)
    layout = LoginLayout.of(protocol)
    if layout.success_uuid_text:
        player_uuid = uuid.UUID(reader.string(36))
    else:
        player_uuid = reader.uuid()
    name = reader.string(16)
    if layout.success_properties:
        assert reader.varint() == 0
    if layout.success_strict_flag:
        reader.bool()
    reader.expect_end()
    return player_uuid, name


class FirstJoinTests(SynchronousTestCase):
    def test_login_success_per_version(self) -> None:
        """Each old client gets its version's Login Success, with the offline UUID."""
        for protocol in OLD_PROTOCOLS:
            rig = Rig()
            connection, transport = rig.connect()
            connection.dataReceived(handshake(protocol=protocol) + login_start("Steve", protocol))
            self.assertEqual(rig.router.logins[-1].protocol, protocol)
            rig.router.accept()
            self.assertEqual(login_success(transport.value(), protocol), (offline_profile("Steve").id, "Steve"),
                             protocol)

    def test_play_follows_login_success_before_1_20_2(self) -> None:
        """Without a configuration state the relay starts at once, in play: the backend's Join
        Game reaches the client and the client's chat the backend, with no acknowledgement."""
        for protocol in (47, 340, 393, 763):
            rig = Rig()
            connection, transport = rig.connect()
            connection.dataReceived(handshake(protocol=protocol) + login_start("Steve", protocol))
            backend = rig.router.accept()
            self.assertIs(connection.phase, Phase.RELAY, protocol)
            self.assertEqual(backend.transport.value(), b"", protocol)  # no Login Acknowledged
            self.assertIs(backend.phase, LoginPhase.RELAYING)
            transport.clear()
            ids = packet_ids(protocol)
            join_game = packet(ids.play_login, b"\x00\x00\x00\x07" + b"rest of join game")
            backend.dataReceived(join_game)
            self.assertEqual(transport.value(), join_game, protocol)
            chat_line = packet(ids.play_chat_legacy_serverbound or ids.play_chat_message, encode_string("hello"))
            connection.dataReceived(chat_line)
            self.assertEqual(backend.transport.value(), chat_line, protocol)
            self.assertEqual(rig.core.online_count(), 1)

    def test_counted_under_their_version(self) -> None:
        """Old players count under their own protocol in /status and mcproxy_players."""
        rig = Rig()
        rig.join("Steve", protocol=47)
        rig.join("Alex", protocol=340)
        rig.join("Sam", protocol=340)
        self.assertEqual(rig.core.players.by_protocol(), {47: 1, 340: 2})
        self.assertEqual(rig.registry.get_sample_value("mcproxy_players", {"protocol": "47", "version": "1.8-1.8.9"}),
                         1.0)
        self.assertEqual(rig.registry.get_sample_value("mcproxy_players", {"protocol": "340", "version": "1.12.2"}),
                         2.0)

    def test_configuration_from_1_20_2(self) -> None:
        """1.20.2 – 1.20.4 still acknowledge the login and configure first."""
        for protocol in (764, 765):
            rig = Rig()
            session = rig.join(protocol=protocol)
            self.assertIs(session.connection.phase, Phase.RELAY)
            self.assertEqual(session.connection.handler.down.phase.value, "play")

    def test_bad_login_start_for_the_version(self) -> None:
        """A 1.20.2 client's Login Start without its UUID is malformed and refused with a reason."""
        rig = Rig()
        connection, transport = rig.connect()
        connection.dataReceived(handshake(protocol=764) + packet(0x00, encode_string("Steve")))
        self.assertIs(connection.phase, Phase.CLOSED)
        self.assertEqual(rig.refusals("TRUNCATED"), 1)

    def test_kick_and_disconnect_as_json(self) -> None:
        """A 1.12.2 backend's JSON kick is read for the log and passed on; the proxy's own
        disconnect is written as the JSON string that version reads."""
        rig = Rig(try_order=("lobby",))
        session = rig.join(protocol=340)
        ids = packet_ids(340)
        kick = packet(ids.play_kick, encode_string('{"text":"Server closed"}'))
        session.backend.dataReceived(kick)
        self.assertEqual(session.sent(), kick)
        self.assertTrue(any("Server closed" in str(event.get("reason")) for event in rig.log_events))
        session = rig.join("Alex", protocol=47)
        session.connection.disconnect("Maintenance")
        [(packet_id, fields)] = frames(session.sent())
        self.assertEqual(packet_id, packet_ids(47).play_kick)
        self.assertEqual(chat.plain_text(chat.json_to_component(Reader(fields).string())), "Maintenance")


class OldPlayWatchTests(SynchronousTestCase):
    def test_bungeecord_channel_before_1_13(self) -> None:
        """A 1.12.2 backend's plugin asks on the pre-1.13 ``BungeeCord`` channel, under 1.12.2's
        plugin-message id; the proxy answers on that channel and id, and the request never
        reaches the client; KickPlayer sends the 1.12.2 player a JSON kick."""
        rig = Rig()
        session = rig.join("Steve", protocol=340)
        ids = packet_ids(340)
        ask = packet(ids.play_custom_payload, encode_string("BungeeCord") + bungee.encode_utf("GetServer"))
        session.backend.dataReceived(ask)
        self.assertEqual(session.sent(), b"")
        [(packet_id, fields)] = frames(session.backend.transport.value())
        self.assertEqual(packet_id, ids.play_custom_payload_serverbound)
        reader = Reader(fields)
        self.assertEqual(reader.string(), "BungeeCord")
        self.assertEqual(reader.rest(), bungee.encode_utf("GetServer") + bungee.encode_utf("lobby"))
        kick = packet(ids.play_custom_payload, encode_string("BungeeCord") + bungee.encode_utf("KickPlayer")
                      + bungee.encode_utf("Steve") + bungee.encode_utf("Go away"))
        session.backend.dataReceived(kick)
        [(packet_id, fields)] = frames(session.sent())
        self.assertEqual(packet_id, ids.play_kick)
        self.assertEqual(chat.plain_text(chat.json_to_component(Reader(fields).string())), "Go away")


class SessionServer:
    """Answers hasJoined with the profile the test set, as a session server would."""

    def __init__(self, profile: GameProfile) -> None:
        self.profile = profile
        self.asked: list[tuple[str, str]] = []

    def has_joined(self, name: str, digest: str) -> defer.Deferred:
        self.asked.append((name, digest))
        return defer.succeed(self.profile)


class OnlineModeTests(SynchronousTestCase):
    profile = GameProfile(uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5"), "Notch", (), True)

    def start(self, protocol: int, key: bytes | None = None):
        rig = Rig(ProxySettings(online_mode=True, compression_threshold=-1))
        rig.core.session_server = SessionServer(self.profile)
        connection, transport = rig.connect()
        ids = packet_ids(protocol)
        fields = encode_string("Notch")
        if LoginLayout.of(protocol).start_key:
            fields += encode_bool(key is not None)
            if key is not None:
                fields += encode_long(1 << 41) + encode_bytes(key) + encode_bytes(b"S" * 256)
        if LoginLayout.of(protocol).start_uuid == "optional":
            fields += encode_bool(False)
        elif LoginLayout.of(protocol).start_uuid == "required":
            fields += encode_uuid(self.profile.id)
        connection.dataReceived(handshake(protocol=protocol) + packet(ids.login_start, fields))
        [(packet_id, request)] = frames(transport.value())
        self.assertEqual(packet_id, ids.login_encryption_request)
        reader = Reader(request)
        self.assertEqual(reader.string(20), "")
        public = reader.byte_array(1024)
        token = reader.byte_array(16)
        if LoginLayout.of(protocol).request_should_authenticate:
            self.assertTrue(reader.bool())
        reader.expect_end()
        transport.clear()
        return rig, connection, transport, public, token

    def test_encryption_per_version(self) -> None:
        """The token round trip authenticates a 1.8, 1.12.2, 1.19.2 and 1.20.4 player, each
        Encryption Request in its version's layout; the player then reaches routing."""
        for protocol in (47, 340, 760, 765):
            rig, connection, transport, public, token = self.start(protocol)
            fields = encode_bytes(rsa_encrypt(public, os.urandom(16)))
            if LoginLayout.of(protocol).response_may_sign:
                fields += encode_bool(True)
            fields += encode_bytes(rsa_encrypt(public, token))
            connection.dataReceived(packet(packet_ids(protocol).login_encryption_response, fields))
            self.assertIs(connection.phase, Phase.CONNECTING, protocol)
            self.assertEqual(rig.router.logins[-1].profile, self.profile)
            self.assertEqual(rig.core.session_server.asked[0][0], "Notch")

    def test_signed_salt_accepted_as_vanilla_does(self) -> None:
        """A 1.19 – 1.19.2 client with a profile key signs token and salt instead of sending
        the token back; the signature is checked with the key from its Login Start."""
        key = generate_private_key(1024)
        for protocol in (759, 760):
            rig, connection, transport, public, token = self.start(protocol, public_key_der(key))
            salt = 12345
            signature = key.sign(token + salt.to_bytes(8, "big"), padding.PKCS1v15(), hashes.SHA256())
            fields = (encode_bytes(rsa_encrypt(public, os.urandom(16))) + encode_bool(False)
                      + encode_long(salt) + encode_bytes(signature))
            connection.dataReceived(packet(packet_ids(protocol).login_encryption_response, fields))
            self.assertIs(connection.phase, Phase.CONNECTING, protocol)

    def test_signed_salt_refused_without_key_or_with_a_bad_signature(self) -> None:
        """A signed salt from a client that sent no key, or signed wrongly, is BAD_ENCRYPTION."""
        key = generate_private_key(1024)
        for sent_key, signer in ((None, key), (public_key_der(key), generate_private_key(1024))):
            rig, connection, transport, public, token = self.start(760, sent_key)
            signature = signer.sign(token + (7).to_bytes(8, "big"), padding.PKCS1v15(), hashes.SHA256())
            fields = (encode_bytes(rsa_encrypt(public, os.urandom(16))) + encode_bool(False)
                      + encode_long(7) + encode_bytes(signature))
            connection.dataReceived(packet(packet_ids(760).login_encryption_response, fields))
            self.assertIs(connection.phase, Phase.CLOSED)
            self.assertEqual(rig.refusals("BAD_ENCRYPTION"), 1)
            self.assertEqual(rig.core.session_server.asked, [])


def backend_login(protocol: int, mode: str = "none") -> BackendConnection:
    login = BackendLogin(profile=offline_profile("Steve"), protocol=protocol, host="play.example.com",
                         port=25565, address="198.51.100.7", mode=mode, secret=b"s" * 32)
    backend = BackendConnection(login, packet_ids(protocol), 2097151)
    backend.makeConnection(StringTransport())
    return backend


class BackendLoginTests(SynchronousTestCase):
    def test_login_start_and_success_per_version(self) -> None:
        """The proxy's login to a backend writes its version's Login Start and reads its
        Login Success (a text UUID before 1.16); Login Acknowledged only from 1.20.2."""
        player = offline_profile("Steve").id
        for protocol in (47, 340, 735, 759, 760, 763, 764):
            backend = backend_login(protocol)
            ids = packet_ids(protocol)
            sent = frames(backend.transport.value())
            self.assertEqual(sent[1][0], ids.login_start)
            start = Reader(sent[1][1])
            self.assertEqual(start.string(16), "Steve")
            self.assertEqual(start.remaining(), {47: 0, 340: 0, 735: 0, 759: 1, 760: 18, 763: 17, 764: 16}[protocol])
            backend.transport.clear()
            success = encode_login_success(LoginLayout.of(protocol), player, "Steve", b"\x00")
            backend.dataReceived(packet(ids.login_compress, encode_varint(-1)) + packet(ids.login_success, success))
            self.assertIs(self.successResultOf(backend.ready), backend)
            self.assertEqual(backend.backend_profile, (player, "Steve"))
            backend.acknowledge_login()
            expected = packet(ids.login_acknowledged) if protocol >= 764 else b""
            self.assertEqual(backend.transport.value(), expected, protocol)

    def test_legacy_forwarding_in_an_old_handshake(self) -> None:
        """A 1.8 backend in legacy mode gets address and UUID in the handshake's host."""
        backend = backend_login(47, "legacy")
        [(packet_id, fields), _] = frames(backend.transport.value())
        reader = Reader(fields)
        self.assertEqual(reader.varint(), 47)
        host = reader.string(32767).split("\x00")
        self.assertEqual(host, ["play.example.com", "198.51.100.7", offline_profile("Steve").id.hex])


class ModernRefusalTests(SynchronousTestCase):
    def router(self, reactor, **servers) -> Router:
        return Router(reactor, servers, tuple(servers), {}, 8, 5.0, 5.0, 2097151)

    def rig(self, **servers) -> tuple[Rig, MemoryReactorClock]:
        rig = Rig(ProxySettings(online_mode=False, compression_threshold=-1, forwarding="legacy",
                                secret=b"s" * 32))
        reactor = MemoryReactorClock()
        rig.core.router = self.router(reactor, **servers)
        return rig, reactor

    def test_refused_with_a_message_and_counted(self) -> None:
        """A 1.12.2 player whose only server forwards in modern mode is told to update,
        counted as FORWARDING_UNSUPPORTED, and no connection to that server is made."""
        rig, reactor = self.rig(lobby=ServerAddress("127.0.0.1", 25566, forwarding="modern"))
        connection, transport = rig.connect()
        connection.dataReceived(handshake(protocol=340) + login_start("Steve", 340))
        [(packet_id, fields)] = frames(transport.value())
        self.assertEqual(packet_id, packet_ids(340).login_disconnect)
        self.assertEqual(chat.plain_text(chat.json_to_component(Reader(fields).string())),
                         "This server requires Minecraft 1.13 or newer.")
        self.assertIs(connection.phase, Phase.CLOSED)
        self.assertEqual(rig.refusals(FORWARDING_UNSUPPORTED), 1)
        self.assertEqual(rig.refusals("NO_SERVER_AVAILABLE"), 0)
        self.assertEqual(reactor.tcpClients, [])

    def test_falls_back_to_a_server_that_can_take_them(self) -> None:
        """The next server in the list, forwarding in legacy mode, is tried instead; a 1.13
        player still goes to the modern one."""
        servers = {"lobby": ServerAddress("127.0.0.1", 25566, forwarding="modern"),
                   "classic": ServerAddress("127.0.0.1", 25567, forwarding="legacy")}
        rig, reactor = self.rig(**servers)
        connection, _ = rig.connect()
        connection.dataReceived(handshake(protocol=340) + login_start("Steve", 340))
        self.assertEqual([client[:2] for client in reactor.tcpClients], [("127.0.0.1", 25567)])
        self.assertIs(connection.phase, Phase.CONNECTING)
        rig, reactor = self.rig(**servers)
        connection, _ = rig.connect()
        connection.dataReceived(handshake(protocol=393) + login_start("Steve", 393))
        self.assertEqual([client[:2] for client in reactor.tcpClients], [("127.0.0.1", 25566)])

    def test_reason_only_when_every_server_said_so(self) -> None:
        """When another server failed for another reason (down, full), the refusal is the
        usual NO_SERVER_AVAILABLE with that server's message."""
        too_old = BackendRefused(FORWARDING_UNSUPPORTED, "This server requires Minecraft 1.13 or newer.")
        self.assertEqual(NoServerAvailable([("a", too_old), ("b", too_old)]).reason, FORWARDING_UNSUPPORTED)
        mixed = NoServerAvailable([("a", too_old), ("b", BackendRefused("BACKEND_KICKED", "Whitelisted"))])
        self.assertEqual((mixed.reason, mixed.player_message()), ("NO_SERVER_AVAILABLE", "Whitelisted"))
        self.assertEqual(NoServerAvailable([]).reason, "NO_SERVER_AVAILABLE")

    def test_proxy_wide_modern_mode(self) -> None:
        """``[proxy].forwarding = "modern"`` refuses a 1.8 player the same way."""
        rig = Rig(ProxySettings(online_mode=False, compression_threshold=-1, forwarding="modern",
                                secret=b"s" * 32))
        reactor = MemoryReactorClock()
        rig.core.router = self.router(reactor, lobby=ServerAddress("127.0.0.1", 25566))
        connection, transport = rig.connect()
        connection.dataReceived(handshake(protocol=47) + login_start("Steve", 47))
        self.assertEqual(rig.refusals(FORWARDING_UNSUPPORTED), 1)
        self.assertIn("1.13", transport.value().decode("utf-8", "replace"))
