"""The limbo server driven packet by packet over a StringTransport with a fake clock."""

from __future__ import annotations

import json
import uuid

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mcproxy.backend.commands import encode_command_tree
from mcproxy.wire.forwarding import (
    CHANNEL,
    ProfileProperty,
    encode_modern_forwarding,
    offline_uuid,
)
from mcproxy.backend.module import UNSYNCHRONIZED_MESSAGE, CommandOutcome, NoLink
from mcproxy.backend.server import LimboSettings, Phase
from mcproxy.control.results import CommandResult
from mcproxy.interfaces import IBackendLink, IBackendModule
from mcproxy.wire.legacy import LegacyPingKind, decode_legacy_reply, encode_legacy_ping
from mcproxy.wire.packets import TIER1_PROTOCOLS, State
from mcproxy.wire.types import Reader, encode_long, encode_string, encode_varint

from tests.backend_support import (
    SECRET,
    CommandSpecLike,
    FakeLink,
    World,
    login_disconnect_text,
)

MOJANG_UUID = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")

JOIN_PACKETS = ["compress", "success", "custom_payload", "feature_flags", "select_known_packs"]
PLAY_PACKETS = ["login", "declare_commands", "spawn_position", "game_state_change", "position",
                "update_health", "system_chat"]


class StatusTests(SynchronousTestCase):
    def test_status_echoes_tier1_protocol(self) -> None:
        """A tier-1 client sees its own protocol, the MOTD and the player count."""
        world = World(LimboSettings(motd="Hello limbo", max_players=7))
        client = world.connect(770)
        client.handshake(1)
        client.send("ping_start")
        [(name, reader)] = client.read()
        status = json.loads(reader.string())
        self.assertEqual(name, "server_info")
        self.assertEqual(status["version"]["protocol"], 770)
        self.assertEqual(status["players"], {"max": 7, "online": 0})
        self.assertEqual(status["description"], {"text": "Hello limbo"})

    def test_status_for_unsupported_version(self) -> None:
        """Other versions (26.2 and 26.3, which the limbo has no registry data for) get an
        answer naming the versions the limbo serves, not the proxy's wider range."""
        client = World().connect()
        client.handshake(1, protocol=776)
        client.send("ping_start")
        status = json.loads(client.read()[0][1].string())
        self.assertEqual(status["version"], {"name": "mcproxy 1.8-26.1", "protocol": 775})

    def test_ping_answered_then_closed(self) -> None:
        """The ping payload comes back unchanged and the connection closes."""
        client = World().connect()
        client.handshake(1)
        client.send("ping", encode_long(123456789))
        [(name, reader)] = client.read()
        self.assertEqual((name, reader.long()), ("ping", 123456789))
        self.assertTrue(client.closed)

    def test_legacy_pings(self) -> None:
        """Pre-1.7 pings (FE, FE 01, FE 01 FA) get a kick-packet reply and a close."""
        full_16 = encode_legacy_ping(LegacyPingKind.V1_6, 78, "localhost", 25565)
        for ping in (b"\xfe", b"\xfe\x01", b"\xfe\x01\xfa", full_16):
            world = World(LimboSettings(motd="Old", max_players=3))
            client = world.connect()
            client.send_raw(ping)
            reply = decode_legacy_reply(client.transport.value())
            self.assertEqual((reply.motd, reply.online, reply.max_players), ("Old", 0, 3))
            self.assertTrue(client.closed)


class JoinTests(SynchronousTestCase):
    def test_join_every_tier1_version(self) -> None:
        """Each tier-1 version goes from handshake to play with the expected packets."""
        for protocol in TIER1_PROTOCOLS:
            world = World()
            client = world.connect(protocol)
            seen = client.join()
            self.assertEqual(seen[:5], JOIN_PACKETS, protocol)
            self.assertEqual(seen[-len(PLAY_PACKETS):], PLAY_PACKETS, protocol)
            registries = [name for name in seen if name == "registry_data"]
            self.assertGreater(len(registries), 5, protocol)
            self.assertIs(client.server.phase, Phase.PLAY)
            self.assertEqual(world.metric("mcproxy_players_online"), 1.0)
            self.assertEqual(world.metric("mcproxy_logins_total", result="ok"), 1.0)

    def test_login_success_fields_per_version(self) -> None:
        """766-767 send strictErrorHandling after the properties; 768 and later do not."""
        for protocol, has_flag in ((766, True), (767, True), (768, False), (775, False)):
            client = World().connect(protocol)
            client.handshake()
            client.login_start("Alex")
            success = dict(client.read())["success"]
            self.assertEqual(success.uuid(), offline_uuid("Alex"))
            self.assertEqual(success.string(), "Alex")
            self.assertEqual(success.varint(), 0)
            self.assertEqual(success.remaining(), 1 if has_flag else 0, protocol)

    def registry_packets(self, packs: bytes) -> list[Reader]:
        client = World().connect(769)
        client.handshake()
        client.login_start()
        client.read()
        client.send("login_acknowledged")
        client.state = State.CONFIGURATION
        client.read()
        client.send("select_known_packs", packs)
        return [reader for name, reader in client.read() if name == "registry_data"]

    def test_shared_core_pack_gets_names_only(self) -> None:
        """A client sharing minecraft:core at our version gets entries without NBT."""
        packs = (encode_varint(1) + encode_string("minecraft") + encode_string("core")
                 + encode_string("1.21.4"))
        for reader in self.registry_packets(packs):
            reader.string()
            for _ in range(reader.varint()):
                reader.string()
                self.assertFalse(reader.bool())
            reader.expect_end()

    def test_every_release_of_a_protocol_is_offered(self) -> None:
        """1.20.5 and 1.20.6 share protocol 766: both are offered as core packs."""
        client = World().connect(766)
        client.handshake()
        client.login_start()
        client.read()
        client.send("login_acknowledged")
        client.state = State.CONFIGURATION
        offer = dict(client.read())["select_known_packs"]
        packs = [(offer.string(), offer.string(), offer.string())
                 for _ in range(offer.varint())]
        self.assertEqual(packs, [("minecraft", "core", "1.20.5"), ("minecraft", "core", "1.20.6")])

    def test_registries_a_version_needs_are_all_sent(self) -> None:
        """1.21.5's capture is 1.21.3's; the registries 1.21.5 added are filled in."""
        client = World().connect(770)
        client.handshake()
        client.login_start()
        client.read()
        client.send("login_acknowledged")
        client.state = State.CONFIGURATION
        client.read()
        client.send("select_known_packs", encode_varint(0))
        ids = {reader.string() for name, reader in client.read() if name == "registry_data"}
        self.assertTrue({"minecraft:pig_variant", "minecraft:wolf_sound_variant",
                         "minecraft:instrument"} <= ids)
        self.assertNotIn("minecraft:dialog", ids)

    def test_other_clients_get_full_data(self) -> None:
        """A client without the core pack (minecraft-protocol, mineflayer) gets NBT."""
        registries = self.registry_packets(encode_varint(0))
        dimension_types = [r for r in registries if r.string() == "minecraft:dimension_type"]
        reader = dimension_types[0]
        self.assertGreater(reader.varint(), 0)
        self.assertEqual(reader.string(), "minecraft:overworld")
        self.assertTrue(reader.bool())

    def test_transfer_intent_logs_in(self) -> None:
        """A handshake with next state 3 (a Transfer packet's reconnect) logs in normally."""
        client = World().connect(775)
        client.handshake(3)
        client.login_start("Moved")
        self.assertEqual(client.names(), ["compress", "success"])

    def test_compression_off(self) -> None:
        """compression_threshold = -1 sends no Set Compression."""
        client = World(LimboSettings(compression_threshold=-1)).connect()
        self.assertNotIn("compress", client.join())

    def test_unsupported_version_refused(self) -> None:
        """A login from a version without tables (1.7.10, 26.2) is told why, closed and
        counted."""
        world = World()
        client = world.connect()
        client.handshake(2, protocol=776)
        [(name, reader)] = client.read()
        self.assertEqual(name, "disconnect")
        text = login_disconnect_text(reader)
        self.assertIn("Unsupported Minecraft version", text)
        self.assertIn("1.8-26.1", text)
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_logins_total", result="UNSUPPORTED_VERSION"), 1)

    def test_invalid_offline_name(self) -> None:
        """Without forwarding, names vanilla would not accept are refused."""
        client = World().connect()
        client.handshake()
        client.login_start("bad name!")
        self.assertEqual(client.names(), ["disconnect"])
        self.assertTrue(client.closed)

    def test_duplicate_login_kicks_the_first(self) -> None:
        """A second login with the same identity replaces the first, as vanilla does."""
        world = World()
        first = world.connect()
        first.join("Steve")
        second = world.connect()
        second.join("Steve")
        self.assertTrue(first.closed)
        self.assertIs(world.factory.players[offline_uuid("Steve")], second.server)

    def test_teleport_confirm(self) -> None:
        """The client's confirmation of the spawn teleport is accepted."""
        client = World().connect()
        client.join()
        teleport_id = client.server._teleport_id
        client.send("teleport_confirm", encode_varint(teleport_id))
        self.assertIsNone(client.server._teleport_id)
        self.assertFalse(client.closed)


class IllegalTransitionTests(SynchronousTestCase):
    def test_packet_from_wrong_state(self) -> None:
        """Login Acknowledged before Login Start closes with ILLEGAL_PACKET, counted."""
        world = World()
        client = world.connect()
        client.handshake()
        client.send("login_acknowledged")
        self.assertEqual(client.names(), ["disconnect"])
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_limbo_protocol_errors_total",
                                      reason="ILLEGAL_PACKET"), 1)

    def test_bad_next_state(self) -> None:
        """A handshake asking for an unknown state is refused."""
        world = World()
        client = world.connect()
        client.handshake(7)
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_limbo_protocol_errors_total",
                                      reason="BAD_INTENT"), 1)

    def test_oversized_frame(self) -> None:
        """A frame above max_packet_size is refused from its length prefix alone."""
        world = World(LimboSettings(max_packet_size=1024))
        client = world.connect()
        client.send_raw(encode_varint(4096))
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_limbo_protocol_errors_total",
                                      reason="FRAME_TOO_LARGE"), 1)

    def test_configuration_ack_in_play(self) -> None:
        """A play client acknowledging a configuration we never started is illegal."""
        client = World().connect()
        client.join()
        client.send("configuration_acknowledged")
        self.assertTrue(client.closed)


class ForwardingLoginTests(SynchronousTestCase):
    def start(self, world: World) -> tuple:
        client = world.connect()
        client.handshake()
        client.login_start("Notch")
        [(name, reader)] = client.read()
        self.assertEqual(name, "login_plugin_request")
        message_id = reader.varint()
        self.assertEqual(reader.string(), CHANNEL)
        self.assertEqual(reader.rest(), b"\x04")
        return client, message_id

    def assertRefused(self, world: World, client, reason: str) -> None:
        [(name, reader)] = client.read()
        self.assertEqual(name, "disconnect")
        self.assertIn(reason, login_disconnect_text(reader))
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_forwarding_refusals_total", reason=reason), 1)
        self.assertEqual(world.metric("mcproxy_logins_total", result=reason), 1)

    def test_not_understood(self) -> None:
        """A direct client answers "not understood" and is refused NOT_VIA_PROXY."""
        world = World(enforce_proxy=True)
        client, message_id = self.start(world)
        client.plugin_response(message_id, None)
        self.assertRefused(world, client, "NOT_VIA_PROXY")

    def test_wrong_secret(self) -> None:
        """Forwarding signed with another secret is refused BAD_FORWARDING_SIGNATURE."""
        world = World(enforce_proxy=True)
        client, message_id = self.start(world)
        client.plugin_response(message_id, encode_modern_forwarding(
            b"not-the-secret", 4, "198.51.100.4", MOJANG_UUID, "Notch"))
        self.assertRefused(world, client, "BAD_FORWARDING_SIGNATURE")

    def test_malformed(self) -> None:
        """Signed garbage is refused MALFORMED_FORWARDING."""
        import hashlib
        import hmac
        payload = encode_varint(1) + b"\xff\xff"
        world = World(enforce_proxy=True)
        client, message_id = self.start(world)
        client.plugin_response(
            message_id, hmac.new(SECRET, payload, hashlib.sha256).digest() + payload)
        self.assertRefused(world, client, "MALFORMED_FORWARDING")

    def test_unsupported_version(self) -> None:
        """A forwarding version above 4 is refused UNSUPPORTED_FORWARDING_VERSION."""
        import hashlib
        import hmac
        payload = (encode_varint(9) + encode_string("a") + MOJANG_UUID.bytes
                   + encode_string("Notch") + encode_varint(0))
        world = World(enforce_proxy=True)
        client, message_id = self.start(world)
        client.plugin_response(
            message_id, hmac.new(SECRET, payload, hashlib.sha256).digest() + payload)
        self.assertRefused(world, client, "UNSUPPORTED_FORWARDING_VERSION")

    def test_unauthenticated_player(self) -> None:
        """With require_authenticated_mode, an offline-mode identity is refused."""
        world = World(enforce_proxy=True, require_authenticated_mode=True)
        client, message_id = self.start(world)
        client.plugin_response(message_id, encode_modern_forwarding(
            SECRET, 4, "198.51.100.4", offline_uuid("Notch"), "Notch"))
        self.assertRefused(world, client, "UNAUTHENTICATED_PLAYER")

    def test_valid_forwarding_logs_in_the_forwarded_identity(self) -> None:
        """A correctly signed answer logs in the proxy's UUID, name, address and skin."""
        world = World(enforce_proxy=True, require_authenticated_mode=True)
        client, message_id = self.start(world)
        textures = ProfileProperty("textures", "e30=", "c2ln")
        client.plugin_response(message_id, encode_modern_forwarding(
            SECRET, 4, "198.51.100.4", MOJANG_UUID, "Notch", [textures]))
        packets = dict(client.read())
        success = packets["success"]
        self.assertEqual((success.uuid(), success.string(), success.varint()),
                         (MOJANG_UUID, "Notch", 1))
        self.assertEqual((success.string(), success.string(), success.bool(), success.string()),
                         ("textures", "e30=", True, "c2ln"))
        self.assertEqual(client.server.address, "198.51.100.4")

    def test_direct_login_refused_when_authentication_required(self) -> None:
        """Without enforce_proxy, require_authenticated_mode refuses every direct login
        (nobody authenticated it) instead of quietly admitting offline identities."""
        world = World(require_authenticated_mode=True)
        client = world.connect()
        client.handshake()
        client.login_start("Direct")
        self.assertRefused(world, client, "UNAUTHENTICATED_PLAYER")

    def test_wrong_message_id(self) -> None:
        """An answer to a request we never sent is a protocol violation."""
        world = World(enforce_proxy=True)
        client, message_id = self.start(world)
        client.plugin_response(message_id + 1, None)
        self.assertTrue(client.closed)


class LimitTests(SynchronousTestCase):
    def test_max_players(self) -> None:
        """Past max_players, a login is refused SERVER_FULL."""
        world = World(LimboSettings(max_players=1))
        world.connect().join("One")
        client = world.connect()
        client.handshake()
        client.login_start("Two")
        [(name, reader)] = client.read()
        self.assertIn("full", login_disconnect_text(reader))
        self.assertEqual(world.metric("mcproxy_logins_total", result="SERVER_FULL"), 1)

    def test_players_still_logging_in_count_once(self) -> None:
        """A player in configuration takes one slot, not two."""
        world = World(LimboSettings(max_players=2))
        first = world.connect()
        first.handshake()
        first.login_start("One")
        first.send("login_acknowledged")
        second = world.connect()
        second.handshake()
        second.login_start("Two")
        self.assertEqual(second.names(), ["compress", "success"])

    def test_concurrent_login_cap(self) -> None:
        """Logins between Login Start and play are capped."""
        world = World(LimboSettings(login_concurrent_max=1), enforce_proxy=True)
        first = world.connect()
        first.handshake()
        first.login_start("One")
        second = world.connect()
        second.handshake()
        second.login_start("Two")
        self.assertTrue(second.closed)
        self.assertEqual(world.metric("mcproxy_logins_total", result="LOGIN_CAP"), 1)
        first.transport.loseConnection()
        first.server.connectionLost(None)
        self.assertEqual(world.factory.logins_in_progress, 0)


class TimeoutTests(SynchronousTestCase):
    def test_one_loop_for_all_connections(self) -> None:
        """The server schedules one shared loop, however many clients connect."""
        world = World()
        world.factory.doStart()
        for _ in range(5):
            world.connect().join(f"P{_}")
        self.assertEqual(len(world.clock.getDelayedCalls()), 1)
        world.factory.doStop()

    def test_silent_connection_dropped(self) -> None:
        """A connection that never completes its handshake is closed after login_timeout."""
        world = World(LimboSettings(login_timeout=30))
        world.factory.doStart()
        client = world.connect()
        world.clock.advance(29)
        self.assertFalse(client.closed)
        world.clock.advance(1)
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_limbo_disconnects_total",
                                      reason="HANDSHAKE_TIMEOUT"), 1)

    def test_stalled_login_dropped(self) -> None:
        """A login that stops before play is closed and counted LOGIN_TIMEOUT."""
        world = World(LimboSettings(login_timeout=30), enforce_proxy=True)
        world.factory.doStart()
        client = world.connect()
        client.handshake()
        client.login_start()
        client.read()
        world.clock.pump([1] * 30)
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_logins_total", result="LOGIN_TIMEOUT"), 1)
        self.assertEqual(world.factory.logins_in_progress, 0)

    def test_keepalive_answered_stays(self) -> None:
        """A player who answers keep-alives stays connected."""
        world = World()
        world.factory.doStart()
        client = world.connect()
        client.join()
        for _ in range(6):
            world.clock.pump([1] * 15)
            packets = client.read()
            alive = [reader for name, reader in packets if name == "keep_alive"]
            self.assertEqual(len(alive), 1)
            client.keep_alive(alive[0].long())
        self.assertFalse(client.closed)

    def test_keepalive_during_configuration(self) -> None:
        """A client waiting in configuration gets configuration-state keep-alives."""
        world = World(LimboSettings(login_timeout=120))
        world.factory.doStart()
        client = world.connect()
        client.handshake()
        client.login_start()
        client.read()
        client.send("login_acknowledged")
        client.state = State.CONFIGURATION
        client.read()
        world.clock.pump([1] * 15)
        [(name, reader)] = client.read()
        self.assertEqual(name, "keep_alive")
        client.keep_alive(reader.long())
        self.assertIsNone(client.server.keepalive.pending)

    def test_keepalive_timeout(self) -> None:
        """A player who does not answer within 30 s is dropped with KEEPALIVE_TIMEOUT."""
        world = World()
        world.factory.doStart()
        client = world.connect()
        client.join()
        world.clock.pump([1] * 15)
        self.assertIn("keep_alive", client.names())
        world.clock.pump([1] * 29)
        self.assertFalse(client.closed)
        world.clock.pump([1])
        self.assertEqual(client.names(), ["kick_disconnect"])
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_limbo_disconnects_total",
                                      reason="KEEPALIVE_TIMEOUT"), 1)


class ChatAndCommandTests(SynchronousTestCase):
    def command(self, client, line: str) -> list[str]:
        client.read()
        client.send("chat_command", encode_string(line))
        return client.chat_lines()

    def test_chat_echoed_to_everyone(self) -> None:
        """A chat message reaches every player as system chat."""
        world = World()
        alice, bob = world.connect(), world.connect(766)
        alice.join("Alice")
        bob.join("Bob")
        alice.read()
        bob.read()
        body = (encode_string("hello") + encode_long(0) + encode_long(0) + b"\x00"
                + encode_varint(0) + b"\x00\x00\x00")
        alice.send("chat_message", body + b"\x00")
        self.assertEqual(alice.chat_lines(), ["<Alice> hello"])
        self.assertEqual(bob.chat_lines(), ["<Alice> hello"])

    def test_builtin_commands(self) -> None:
        """/where names the server, /players lists players, /help lists commands."""
        world = World(LimboSettings(server_id="lobby"))
        client = world.connect()
        client.join("Steve")
        self.assertEqual(self.command(client, "where"),
                         ["You are on lobby (mcproxy limbo)."])
        self.assertEqual(self.command(client, "players"), ["Players online (1): Steve"])
        self.assertEqual(self.command(client, "help"), ["Commands: /help, /players, /where"])
        self.assertIn("Unknown command /nope", self.command(client, "nope")[0])

    def test_proxy_command_refused_while_unsynchronized(self) -> None:
        """A proxy command is refused with the UNSYNCHRONIZED_REGISTRY message."""
        link = FakeLink(synchronized=False, commands=(CommandSpecLike("server"),))
        world = World(link=link)
        client = world.connect()
        client.join()
        self.assertEqual(self.command(client, "server lobby"), [UNSYNCHRONIZED_MESSAGE])
        self.assertEqual(link.executed, [])

    def test_proxy_command_forwarded_when_synchronized(self) -> None:
        """With a synchronized registry, a proxy command (or alias) goes to the proxy."""
        link = FakeLink(commands=(CommandSpecLike("server", ("srv",)),))
        link.answer = CommandResult(True, "Connecting you to lobby")
        world = World(link=link)
        client = world.connect()
        client.join("Steve")
        self.assertEqual(self.command(client, "srv lobby"), ["Connecting you to lobby"])
        self.assertEqual(link.executed, [(str(offline_uuid("Steve")), "srv lobby")])

    def test_declared_commands_include_proxy_commands(self) -> None:
        """declare_commands lists the limbo's and the proxy's commands for tab completion."""
        link = FakeLink(commands=(CommandSpecLike("server"),))
        world = World(link=link)
        client = world.connect()
        client.handshake()
        client.login_start()
        client.read()
        client.send("login_acknowledged")
        client.state = State.CONFIGURATION
        client.read()
        client.send("select_known_packs", encode_varint(0))
        client.read()
        client.send("finish_configuration", state=State.CONFIGURATION)
        tree = dict(client.read())["declare_commands"]
        self.assertEqual(tree.rest(), encode_command_tree(["help", "players", "server", "where"]))


class CommandTreeTests(SynchronousTestCase):
    def test_tree_shape(self) -> None:
        """Root, then a literal and a greedy-string argument per command, root index 0."""
        reader = Reader(encode_command_tree(["b", "a"]))
        self.assertEqual(reader.varint(), 5)
        self.assertEqual((reader.ubyte(), reader.varint(), reader.varint(), reader.varint()),
                         (0, 2, 1, 3))
        self.assertEqual((reader.ubyte(), reader.varint(), reader.varint(), reader.string()),
                         (0x05, 1, 2, "a"))
        self.assertEqual((reader.ubyte(), reader.varint(), reader.string(), reader.varint(),
                          reader.varint()), (0x06, 0, "args", 5, 2))


class InterfaceTests(SynchronousTestCase):
    def test_module_provides_interface(self) -> None:
        """BackendModule provides IBackendModule; NoLink and the fake provide IBackendLink."""
        world = World()
        self.assertTrue(verifyObject(IBackendModule, world.module))
        self.assertTrue(verifyObject(IBackendLink, NoLink()))
        self.assertTrue(verifyObject(IBackendLink, FakeLink()))

    def test_enforce_proxy_needs_a_secret(self) -> None:
        """enforce_proxy without any secret is a configuration error, not an open door."""
        from mcproxy.backend.module import BackendModule
        from mcproxy.ops.metrics import BackendMetrics
        from prometheus_client import CollectorRegistry
        with self.assertRaises(ValueError):
            BackendModule(enforce_proxy=True, require_authenticated_mode=True,
                          secrets=[("current", b"")], metrics=BackendMetrics(CollectorRegistry()))

    def test_transfer_outcome(self) -> None:
        """A transfer request goes through the link and its answer becomes an outcome."""
        from mcproxy.control.results import TransferResult
        link = FakeLink()
        link.answer = TransferResult(False, "UNKNOWN_SERVER")
        world = World(link=link)
        outcomes: list[CommandOutcome] = []
        world.module.request_transfer(MOJANG_UUID, "nowhere").addCallback(outcomes.append)
        self.assertEqual(outcomes, [CommandOutcome(False, "Transfer refused: UNKNOWN_SERVER",
                                                   "UNKNOWN_SERVER")])
        self.assertEqual(link.transfers, [(str(MOJANG_UUID), "nowhere")])
