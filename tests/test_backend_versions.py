"""The limbo for clients before 1.20.5, driven packet by packet with a fake clock.

Each version's packets are named from ``protocols.json``'s watched ids; that the bytes are
what minecraft-protocol reads is tests/test_backend_peer_layouts.py's job.
"""

from __future__ import annotations

import json
import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.backend.module import FORWARDING_UNSUPPORTED
from mcproxy.backend.packets import field_type
from mcproxy.backend.registries import RegistryStore
from mcproxy.backend.server import Phase
from mcproxy.backend.status import served_protocols
from mcproxy.wire.forwarding import CHANNEL, offline_uuid
from mcproxy.wire.legacy_forwarding import BUNGEEGUARD_PROPERTY
from mcproxy.wire.packets import TIER1_PROTOCOLS, Direction, State
from mcproxy.wire.protocols import known_protocols, protocol_info
from mcproxy.wire.types import encode_long, encode_string, encode_varint

from tests.backend_support import SECRET, World, login_disconnect_text

MOJANG_UUID = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
#: Every protocol before tier 1 the limbo serves.
OLD = sorted(p for p in served_protocols(RegistryStore.load()) if p not in TIER1_PROTOCOLS)
PLAY = ["login", "spawn_position", "position", "update_health", "chat"]


def forwarded_host(token: str | None = None, player: uuid.UUID = MOJANG_UUID,
                   properties: list | None = None) -> str:
    """What a BungeeCord-style proxy writes into the handshake's host field."""
    props = list(properties or [])
    if token is not None:
        props.append({"name": BUNGEEGUARD_PROPERTY, "value": token})
    fields = ["play.example.com", "198.51.100.7", player.hex]
    if props:
        fields.append(json.dumps(props))
    return "\x00".join(fields)


class ServedVersionsTests(SynchronousTestCase):
    def test_every_version_with_tables(self) -> None:
        """Every protocol from 1.8 with minecraft-data tables is served (1.9.1 and 1.14.2
        have none, 26.2 has ids but no layouts)."""
        expected = [p for p in known_protocols()
                    if protocol_info(p).source == "minecraft-data" and p not in TIER1_PROTOCOLS]
        self.assertEqual(OLD, expected)
        self.assertEqual((OLD[0], OLD[-1]), (47, 765))
        self.assertNotIn(776, served_protocols(RegistryStore.load()))

    def test_layout_questions(self) -> None:
        """field_type answers what a version's layout carries (1.8's Join Game has an i8
        dimension and no codec)."""
        login = protocol_info(47).layout(State.PLAY, Direction.CLIENTBOUND, "login")
        self.assertEqual(field_type(login, "dimension"), "i8")
        self.assertIsNone(field_type(login, "dimensionCodec"))

    def test_status_echoes_old_protocols(self) -> None:
        """A 1.8 client sees its own protocol as compatible in the server list."""
        client = World().connect(47)
        client.handshake(1)
        client.send("ping_start")
        status = json.loads(client.read()[0][1].string())
        self.assertEqual(status["version"], {"name": "mcproxy", "protocol": 47})


class JoinTests(SynchronousTestCase):
    def test_join_every_old_version(self) -> None:
        """Each version from 1.8 to 1.20.4 goes from handshake to play: Login Success,
        then (1.20.2+) one codec in configuration, then the play packets, commands from
        1.13, the welcome line in the version's chat packet."""
        for protocol in OLD:
            world = World()
            client = world.connect(protocol)
            seen = client.join_old()
            facts = protocol_info(protocol).facts
            self.assertEqual(seen[:2], ["compress", "success"], protocol)
            if facts["configuration_state"]:
                self.assertEqual(seen[2:6], ["custom_payload", "feature_flags", "registry_data",
                                             "finish_configuration"], protocol)
            play = [name for name in seen if name in PLAY + ["system_chat", "declare_commands",
                                                          "game_state_change"]]
            expected = ["login"] + (["declare_commands"] if facts["declare_commands"] else [])
            expected += ["spawn_position"] + (["game_state_change"] if protocol >= 765 else [])
            expected += ["position", "update_health",
                         "system_chat" if "system_chat" in facts["chat_packets"]["clientbound"]
                         else "chat"]
            self.assertEqual(play, expected, protocol)
            self.assertIs(client.server.phase, Phase.PLAY, protocol)
            self.assertEqual(world.metric("mcproxy_logins_total", result="ok"), 1.0)

    def test_login_success_uuid_as_text_before_1_16(self) -> None:
        """1.8 - 1.15 carry the UUID as dashed text, 1.16 on as 16 bytes."""
        client = World().connect(47)
        client.handshake()
        client.login_start("Alex")
        success = dict(client.read())["success"]
        self.assertEqual(success.string(), str(offline_uuid("Alex")))
        self.assertEqual(success.string(), "Alex")
        self.assertEqual(success.remaining(), 0)
        client = World().connect(754)
        client.handshake()
        client.login_start("Alex")
        success = dict(client.read())["success"]
        self.assertEqual(success.uuid(), offline_uuid("Alex"))

    def test_1_20_2_configuration_is_one_codec(self) -> None:
        """1.20.2 - 1.20.4 get every registry in one nameless NBT compound."""
        client = World().connect(765)
        client.handshake()
        client.login_start()
        client.read()
        client.send("login_acknowledged")
        client.state = client.state.CONFIGURATION
        packets = dict(client.read())
        codec = packets["registry_data"]
        self.assertEqual(codec.data[codec.offset], 0x0A)
        self.assertGreater(codec.remaining(), 10000)


class ChatTests(SynchronousTestCase):
    def joined(self, protocol: int, name: str = "Steve"):
        world = World()
        client = world.connect(protocol)
        client.join_old(name)
        return world, client

    def test_chat_echoed_in_each_versions_packet(self) -> None:
        """A chat line comes back as JSON chat before 1.19, JSON system chat in 1.19 -
        1.20.2, NBT system chat from 1.20.3."""
        for protocol, packet in ((47, "chat"), (340, "chat"), (754, "chat"),
                                 (759, "chat_message"), (764, "chat_message"),
                                 (765, "chat_message")):
            _, client = self.joined(protocol)
            client.send(packet, encode_string("hello") + (encode_long(0) * 2 + b"\x00"
                                                          if packet == "chat_message" else b""))
            self.assertEqual(client.chat_lines(), ["<Steve> hello"], protocol)

    def test_commands_are_slash_lines_before_1_19(self) -> None:
        """Before 1.19 a chat line starting with / runs a command and is not echoed."""
        for protocol in (47, 340, 754):
            _, client = self.joined(protocol)
            client.send("chat", encode_string("/where"))
            self.assertEqual(client.chat_lines(), ["You are on limbo (mcproxy limbo)."], protocol)

    def test_chat_command_from_1_19(self) -> None:
        """1.19 - 1.20.4 send commands in chat_command, with their signing fields after."""
        _, client = self.joined(760)
        client.send("chat_command", encode_string("where") + encode_long(0) * 2 + b"\x00" * 8)
        self.assertEqual(client.chat_lines(), ["You are on limbo (mcproxy limbo)."])

    def test_movement_packets_ignored(self) -> None:
        """Packets the tables do not name (movement, arm swings) pass silently in play."""
        _, client = self.joined(47)
        # A compressed frame (threshold 256): uncompressed length 0, then flying (0x03).
        client.server.dataReceived(b"\x03\x00\x03\x01")
        self.assertIs(client.server.phase, Phase.PLAY)


class KeepAliveTests(SynchronousTestCase):
    def test_varint_keep_alive_before_1_12_2(self) -> None:
        """1.8 - 1.12.1 keep-alive ids are VarInts both ways, kept in 31 bits even when the
        clock's milliseconds are not; answering them keeps the player."""
        world = World()
        world.clock.advance(3_000_000_000)
        world.factory.doStart()
        client = world.connect(47)
        client.join_old()
        for _ in range(4):
            world.clock.pump([1] * 15)
            [(name, reader)] = client.read()
            self.assertEqual(name, "keep_alive")
            keep_alive_id = reader.varint()
            self.assertEqual(reader.remaining(), 0)
            self.assertLess(keep_alive_id, 2 ** 31)
            client.send("keep_alive", encode_varint(keep_alive_id))
        self.assertFalse(client.closed)

    def test_long_keep_alive_from_1_12_2(self) -> None:
        """From 1.12.2 the id is a Long."""
        world = World()
        world.factory.doStart()
        client = world.connect(340)
        client.join_old()
        world.clock.pump([1] * 15)
        [(name, reader)] = client.read()
        self.assertEqual(name, "keep_alive")
        client.send("keep_alive", encode_long(reader.long()))
        self.assertIsNone(client.server.keepalive.pending)


class ForwardingTests(SynchronousTestCase):
    def world(self, forwarding: str, **options) -> World:
        return World(enforce_proxy=True, forwarding=forwarding,
                     secrets=(("current", SECRET), ("previous", b"old-secret")), **options)

    def test_modern_refused_before_1_13(self) -> None:
        """A 1.8 or 1.12.2 client on a modern-only backend is told why and counted."""
        for protocol in (47, 340):
            world = self.world("modern")
            client = world.connect(protocol)
            client.handshake()
            client.login_start()
            [(name, reader)] = client.read()
            self.assertEqual(name, "disconnect")
            text = login_disconnect_text(reader)
            self.assertIn("Minecraft 1.13 or newer", text)
            self.assertIn(FORWARDING_UNSUPPORTED, text)
            self.assertTrue(client.closed)
            self.assertEqual(world.metric("mcproxy_forwarding_refusals_total",
                                          reason=FORWARDING_UNSUPPORTED), 1)
            self.assertEqual(world.metric("mcproxy_logins_total",
                                          result=FORWARDING_UNSUPPORTED), 1)

    def test_modern_asked_from_1_13(self) -> None:
        """A 1.13.2 client is asked for velocity:player_info."""
        client = self.world("modern").connect(404)
        client.handshake()
        client.login_start()
        [(name, reader)] = client.read()
        self.assertEqual(name, "login_plugin_request")
        reader.varint()
        self.assertEqual(reader.string(), CHANNEL)

    def test_legacy_forwarding_every_version(self) -> None:
        """The identity in the host field is the player's, from 1.8 to 26.1."""
        for protocol in (47, 340, 404, 754, 765, 775):
            world = self.world("legacy")
            client = world.connect(protocol)
            if protocol in TIER1_PROTOCOLS:
                client.handshake(host=forwarded_host())
                client.login_start("Notch")
                client.read()
            else:
                client.join_old("Notch", host=forwarded_host())
            self.assertEqual(client.server.uuid, MOJANG_UUID, protocol)
            self.assertEqual(client.server.address, "198.51.100.7", protocol)

    def test_legacy_properties_kept(self) -> None:
        """Forwarded properties (the skin) reach Login Success from 1.19."""
        world = self.world("legacy")
        client = world.connect(760)
        client.handshake(host=forwarded_host(properties=[
            {"name": "textures", "value": "e30=", "signature": "c2ln"}]))
        client.login_start("Notch")
        success = dict(client.read())["success"]
        success.uuid(), success.string()
        self.assertEqual(success.varint(), 1)
        self.assertEqual((success.string(), success.string()), ("textures", "e30="))

    def test_direct_client_refused(self) -> None:
        """A plain host field (no proxy in front) is NOT_VIA_PROXY."""
        world = self.world("legacy")
        client = world.connect(47)
        client.join_old()
        self.assertTrue(client.closed)
        self.assertEqual(world.metric("mcproxy_forwarding_refusals_total",
                                      reason="NOT_VIA_PROXY"), 1)

    def test_bungeeguard_token(self) -> None:
        """BungeeGuard: the current or previous secret as token logs in; a wrong or missing
        token is BAD_FORWARDING_SIGNATURE; the token never reaches the player's profile."""
        for token, ok in ((SECRET.decode(), True), ("old-secret", True), ("guess", False),
                          (None, False)):
            world = self.world("bungeeguard")
            client = world.connect(47)
            client.join_old("Notch", host=forwarded_host(token))
            self.assertEqual(client.server.phase is Phase.PLAY, ok, token)
            if ok:
                self.assertEqual(client.server.properties, ())
            else:
                self.assertEqual(world.metric("mcproxy_forwarding_refusals_total",
                                              reason="BAD_FORWARDING_SIGNATURE"), 1)

    def test_authenticated_mode_applies_to_legacy(self) -> None:
        """An offline (version-3) UUID in the host field is refused as unauthenticated."""
        world = self.world("legacy", require_authenticated_mode=True)
        client = world.connect(47)
        client.join_old("Notch", host=forwarded_host(player=offline_uuid("Notch")))
        self.assertEqual(world.metric("mcproxy_forwarding_refusals_total",
                                      reason="UNAUTHENTICATED_PLAYER"), 1)

    def test_long_host_field_only_with_legacy(self) -> None:
        """A forwarded host field over the client limit (a signed skin is over 1 KiB) is
        read when legacy forwarding is expected, and refused otherwise."""
        props = [{"name": "textures", "value": "e" * 1500, "signature": "s" * 600}]
        world = self.world("legacy")
        client = world.connect(47)
        client.join_old("Notch", host=forwarded_host(properties=props))
        self.assertIs(client.server.phase, Phase.PLAY)
        world = World()
        client = world.connect(47)
        client.handshake(host=forwarded_host(properties=props))
        self.assertTrue(client.closed)

