"""The front door, driven deterministically: handshake, status, legacy ping, throttles,
timeouts and refusals of :class:`~mcproxy.proxy.client.PlayerConnection`.

Every connection runs over a ``StringTransport`` against a real ``ProxyCore`` whose clock
is a ``MemoryReactorClock``; routing is a fake that never answers, since nothing here gets
past login.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import uuid
import zlib

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.protocols.haproxy._wrapper import HAProxyWrappingFactory
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mcproxy.config import RateLimitsSection
from mcproxy.interfaces import IPreloginHolder, IStatusSource
from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.client import Phase, PlayerFactory
from mcproxy.proxy.core import ProxyCore, ProxySettings
from mcproxy.wire.handshake import Intent, normalize_host, parse_handshake
from mcproxy.proxy.passthrough import StatusPassthrough
from mcproxy.proxy.status import UNSUPPORTED_PROTOCOL, StatusResponder
from mcproxy.wire import legacy
from mcproxy.wire.chat import json_to_component, plain_text
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.packets import SERVED_PROTOCOLS, TIER1_PROTOCOLS, VERSION_NAMES, supported_range, version_name
from mcproxy.wire.types import (
    Reader, encode_long, encode_string, encode_ushort, encode_uuid, encode_varint,
)

PEER = IPv4Address("TCP", "203.0.113.7", 50000)
HOST = IPv4Address("TCP", "127.0.0.1", 25565)
LATEST = max(TIER1_PROTOCOLS)


def make_png(width: int = 64, height: int = 64) -> bytes:
    """A valid grey PNG of the given size, made here so no binary lives in the repository."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def handshake(protocol: int = LATEST, host: str = "play.example.com", port: int = 25565,
              intent: int = 1) -> bytes:
    fields = encode_varint(protocol) + encode_string(host, 1024) + encode_ushort(port) + encode_varint(intent)
    return encode_frame(encode_varint(0x00) + fields)


def packet(packet_id: int, fields: bytes = b"") -> bytes:
    return encode_frame(encode_varint(packet_id) + fields)


def login_start(name: str = "Steve") -> bytes:
    return packet(0x00, encode_string(name, 16) + encode_uuid(uuid.uuid4()))


def frames(data: bytes) -> list[tuple[int, Reader]]:
    """Every packet the proxy wrote, as ``(packet id, reader over the fields)``."""
    out = []
    for body in FrameDecoder().frames(data):
        reader = Reader(body)
        out.append((reader.varint(), reader))
    return out


def rates(**limits) -> RateLimitsSection:
    """``[rate_limits]`` with the per-address buckets and cap off unless a test turns them on."""
    return RateLimitsSection(**{"connections_per_address_rate": 0.0, "logins_per_address_rate": 0.0,
                                "handshake_per_address_max": 65536, **limits})


class FakeRouter:
    """Routing that records who asked and never answers: these tests stop at login."""

    def __init__(self) -> None:
        self.requests: list[tuple] = []

    def candidates(self, host: str) -> tuple[str, ...]:
        return ("lobby",)

    def connect(self, login, names, correlation_id: str = "") -> defer.Deferred:
        self.requests.append((login, names, correlation_id))
        return defer.Deferred()


class FrontDoor:
    """A ``ProxyCore`` on a fake clock, with its registry and captured log events."""

    def __init__(self, settings: ProxySettings | None = None, limits: RateLimitsSection | None = None,
                 motd: str = "A mcproxy network", max_players: int = 500,
                 favicon: bytes | None = None, motd_by_host: dict | None = None, keypair=None) -> None:
        self.reactor = MemoryReactorClock()
        self.registry = CollectorRegistry()
        self.events: list[dict] = []
        self.router = FakeRouter()
        self.core = ProxyCore(
            self.reactor, settings or ProxySettings(online_mode=False), status=None,
            router=self.router, metrics=ProxyMetrics(self.registry),
            log=Logger(observer=self.events.append), limits=limits or rates(), keypair=keypair)
        self.core.status = StatusResponder(motd, max_players, self.core.online_count,
                                           favicon_png=favicon, motd_by_host=motd_by_host)
        self.factory = PlayerFactory(self.core)
        self.core.start()

    def connect(self, peer=PEER):
        protocol = self.factory.buildProtocol(peer)
        transport = StringTransport(hostAddress=HOST, peerAddress=peer)
        protocol.makeConnection(transport)
        return protocol, transport

    def close(self, protocol, transport) -> None:
        """What the reactor does once a transport has been told to close."""
        if transport.disconnecting or transport.disconnected:
            protocol.connectionLost(None)

    def refusals(self, reason: str) -> float:
        return self.registry.get_sample_value("mcproxy_refusals_total", {"reason": reason}) or 0.0

    def refusal_logs(self, protocol) -> list[dict]:
        return [e for e in self.events if e.get("log_format", "").startswith("refused")
                and e.get("correlation_id") == protocol.correlation_id]


class FrontDoorTestCase(SynchronousTestCase):
    def door(self, **kwargs) -> FrontDoor:
        door = FrontDoor(**kwargs)
        self.addCleanup(door.core.stop)
        return door

    def assertRefused(self, door: FrontDoor, protocol, transport, reason: str) -> None:
        """Closed, counted once under ``reason``, logged once with its correlation id."""
        self.assertIs(protocol.phase, Phase.CLOSED)
        self.assertTrue(transport.disconnecting or transport.disconnected)
        self.assertEqual(door.refusals(reason), 1.0)
        logs = door.refusal_logs(protocol)
        self.assertEqual(len(logs), 1, logs)
        self.assertEqual(logs[0]["reason"], reason)


class StatusTests(FrontDoorTestCase):
    def status(self, door: FrontDoor, protocol: int, host: str = "play.example.com") -> tuple[dict, object]:
        conn, transport = door.connect()
        conn.dataReceived(handshake(protocol, host) + packet(0x00))
        (packet_id, reader), = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        return json.loads(reader.string()), (conn, transport)

    def test_served_protocol_echoed(self) -> None:
        """Every served client, 1.8 to 26.3, sees its own protocol and version name, so its
        list entry is compatible, along with the MOTD, max players and the live online count."""
        door = self.door(motd="Hello", max_players=42)
        self.assertLessEqual({47, 340, 393, 765, 776, 777} | set(TIER1_PROTOCOLS), SERVED_PROTOCOLS)
        names = {47: "1.8.9", 340: "1.12.2", 765: "1.20.4", **VERSION_NAMES, 776: "26.2", 777: "26.3"}
        for protocol in SERVED_PROTOCOLS:
            status, _ = self.status(door, protocol)
            self.assertEqual(status["version"], {"name": version_name(protocol), "protocol": protocol})
            if protocol in names:
                self.assertEqual(status["version"]["name"], names[protocol])
            self.assertEqual(status["description"], {"text": "Hello"})
            self.assertEqual(status["players"]["max"], 42)
            self.assertEqual(status["players"]["online"], 0)
            self.assertNotIn("favicon", status)

    def test_unsupported_protocol(self) -> None:
        """A client the proxy does not serve (1.7, or newer than 26.3) gets a protocol that can match
        no client and the supported range as version name: its list shows the server as
        incompatible."""
        door = self.door()
        self.assertEqual(supported_range(), "1.8-26.3")
        for protocol in (5, 778, -1):
            status, _ = self.status(door, protocol)
            self.assertEqual(status["version"]["protocol"], UNSUPPORTED_PROTOCOL)
            self.assertIn(supported_range(), status["version"]["name"])

    def test_online_count_is_live(self) -> None:
        """The online count is read at each ping, not when the proxy started."""
        door = self.door()
        door.core.online_count = lambda: 7
        door.core.status = StatusResponder("m", 10, lambda: door.core.online_count())
        status, _ = self.status(door, LATEST)
        self.assertEqual(status["players"]["online"], 7)

    def test_json_motd(self) -> None:
        """A MOTD written as JSON chat is sent as that component, not as literal text."""
        motd = '{"text":"","extra":[{"text":"Gold","color":"gold"}]}'
        door = self.door(motd=motd)
        status, _ = self.status(door, LATEST)
        self.assertEqual(status["description"], json.loads(motd))

    def test_favicon(self) -> None:
        """The configured PNG is sent as a data URL."""
        png = make_png()
        door = self.door(favicon=png)
        status, _ = self.status(door, LATEST)
        prefix = "data:image/png;base64,"
        self.assertTrue(status["favicon"].startswith(prefix))
        self.assertEqual(base64.b64decode(status["favicon"][len(prefix):]), png)

    def test_motd_by_host(self) -> None:
        """A forced host's own MOTD is shown to players who typed that host, the default to
        others; the host is compared after normalisation (case, trailing dot, Forge marker)."""
        door = self.door(motd="Default", motd_by_host={"pvp.example.com": "PvP here"})
        for host in ("pvp.example.com", "PVP.Example.com.", "pvp.example.com\x00FML3\x00"):
            status, _ = self.status(door, LATEST, host)
            self.assertEqual(status["description"], {"text": "PvP here"}, host)
        status, _ = self.status(door, LATEST, "other.example.com")
        self.assertEqual(status["description"], {"text": "Default"})

    def test_ping_pong_then_close(self) -> None:
        """A ping after the status is answered with the same payload, then the connection
        closes and no longer counts against the pre-login limit."""
        door = self.door()
        status, (conn, transport) = self.status(door, LATEST)
        transport.clear()
        conn.dataReceived(packet(0x01, encode_long(-1234567890123)))
        (packet_id, reader), = frames(transport.value())
        self.assertEqual((packet_id, reader.long()), (0x01, -1234567890123))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(door.core.prelogin_gate.held, 0)
        door.close(conn, transport)
        self.assertEqual(door.core.connections, 0)

    def test_pipelined_status_and_ping(self) -> None:
        """Handshake, status request and ping in one read are all answered, in order."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(handshake() + packet(0x00) + packet(0x01, encode_long(5)))
        self.assertEqual([p for p, _ in frames(transport.value())], [0x00, 0x01])
        self.assertTrue(transport.disconnecting)

    def test_second_status_request_refused(self) -> None:
        """Only one status request per connection; a second is an unexpected packet."""
        door = self.door()
        _, (conn, transport) = self.status(door, LATEST)
        conn.dataReceived(packet(0x00))
        self.assertRefused(door, conn, transport, "UNEXPECTED_PACKET")

    def test_handshake_counted_by_intent(self) -> None:
        """Handshakes are counted by the next state they ask for."""
        door = self.door()
        self.status(door, LATEST)
        self.assertEqual(door.registry.get_sample_value("mcproxy_handshakes_total", {"next_state": "status"}), 1)


class LegacyPingTests(FrontDoorTestCase):
    def ping(self, door: FrontDoor, *chunks: bytes) -> tuple[legacy.LegacyStatus, object, object]:
        conn, transport = door.connect()
        for chunk in chunks:
            conn.dataReceived(chunk)
        reply = legacy.decode_legacy_reply(transport.value())
        self.assertTrue(transport.disconnecting)
        self.assertEqual(door.core.prelogin_gate.held, 0)
        return reply, conn, transport

    def test_beta(self) -> None:
        """Beta 1.8 – 1.3 send 0xFE alone and get ``motd§online§max``."""
        door = self.door(motd="Old", max_players=20)
        reply, _, _ = self.ping(door, b"\xfe")
        self.assertEqual((reply.motd, reply.online, reply.max_players, reply.protocol), ("Old", 0, 20, None))

    def test_1_4(self) -> None:
        """1.4 – 1.5 send FE 01 and get the §1 form with a protocol no old client speaks."""
        door = self.door(motd="Old", max_players=20)
        reply, _, _ = self.ping(door, b"\xfe\x01")
        self.assertEqual((reply.motd, reply.online, reply.max_players, reply.protocol), ("Old", 0, 20, 127))
        self.assertIn(supported_range(), reply.version)

    def test_1_6(self) -> None:
        """1.6 sends FE 01 FA and MC|PingHost, possibly split across reads; it gets the §1 form."""
        door = self.door(motd="Old", max_players=20)
        raw = legacy.encode_legacy_ping(legacy.LegacyPingKind.V1_6, 78, "play.example.com", 25565)
        reply, _, _ = self.ping(door, raw[:5], raw[5:])
        self.assertEqual((reply.motd, reply.max_players, reply.protocol), ("Old", 20, 127))
        self.assertEqual(door.registry.get_sample_value("mcproxy_handshakes_total", {"next_state": "legacy"}), 1)

    def test_1_6_without_ping_host(self) -> None:
        """FE 01 FA alone, as mcstatus's LegacyServer sends it and then waits, is answered
        at once: no frame starts so, and the MC|PingHost tail would only name the host."""
        door = self.door(motd="Old", max_players=20)
        reply, _, _ = self.ping(door, b"\xfe\x01\xfa")
        self.assertEqual((reply.motd, reply.max_players, reply.protocol), ("Old", 20, 127))

    def test_json_motd_as_plain_text(self) -> None:
        """Old clients read plain text: a JSON MOTD is flattened, not dropped."""
        door = self.door(motd='{"text":"","extra":[{"text":"Gold ","color":"gold"},"and more"]}')
        reply, _, _ = self.ping(door, b"\xfe\x01")
        self.assertEqual(reply.motd, "Gold and more")

    def test_malformed_1_6_refused(self) -> None:
        """A 1.6 ping whose plugin channel is not MC|PingHost is refused by name."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(b"\xfe\x01\xfa\x00\x02\x00A\x00B\x00\x00")
        self.assertRefused(door, conn, transport, "BAD_LEGACY_PING")

    def test_long_handshake_starting_with_fe_is_not_a_ping(self) -> None:
        """A modern handshake frame of 254 bytes starts with FE 01 like a 1.4 ping; the
        following byte (packet id 0, not FA) shows it is a frame, and it is served."""
        door = self.door()
        frame = handshake(LATEST, "a" * 246)
        self.assertEqual(frame[:3], b"\xfe\x01\x00")
        conn, transport = door.connect()
        conn.dataReceived(frame + packet(0x00))
        (packet_id, reader), = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        self.assertIs(conn.phase, Phase.STATUS)


class HandshakeTests(FrontDoorTestCase):
    def test_forge_suffix_normalised(self) -> None:
        """Forge's ``\\0FML\\0`` markers, a trailing dot and the case do not change the host."""
        for raw in ("Play.Example.com", "play.example.com.", "play.example.com\x00FML\x00",
                    "play.example.com\x00FML3\x00", "play.example.com.\x00FORGE"):
            self.assertEqual(normalize_host(raw), "play.example.com", repr(raw))
        parsed = parse_handshake(handshake(LATEST, "play.example.com\x00FML2\x00", intent=2)[1:])
        self.assertEqual((parsed.host, parsed.intent), ("play.example.com", Intent.LOGIN))

    def test_forge_host_reaches_routing(self) -> None:
        """A Forge client's login is routed by the bare host name."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(handshake(LATEST, "Lobby.Example.com\x00FML3\x00", intent=2) + login_start())
        (login, _, _), = door.router.requests
        self.assertEqual(login.host, "lobby.example.com")

    def test_host_length_limit(self) -> None:
        """A host longer than a DNS name can be is refused by name."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(handshake(LATEST, "a" * 300, intent=1))
        self.assertRefused(door, conn, transport, "HOST_TOO_LONG")

    def test_bad_intent(self) -> None:
        """A next state other than 1, 2 or 3 is refused."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=7))
        self.assertRefused(door, conn, transport, "BAD_INTENT")

    def test_not_a_handshake(self) -> None:
        """The first packet must be the handshake."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(packet(0x05, b"xyz"))
        self.assertRefused(door, conn, transport, "NOT_A_HANDSHAKE")

    def test_transfer_refused_unless_accepted(self) -> None:
        """Next state 3 (transfer) is refused with a login disconnect by default."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=3))
        (packet_id, reader), = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        self.assertIn("transfer", plain_text(json_to_component(reader.string())))
        self.assertRefused(door, conn, transport, "TRANSFER_REFUSED")

    def test_transfer_accepted(self) -> None:
        """With ``accept_transfers`` the transfer intent proceeds to login like intent 2."""
        door = self.door(settings=ProxySettings(online_mode=False, accept_transfers=True))
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=3) + login_start())
        self.assertIs(conn.phase, Phase.CONNECTING)
        self.assertEqual(len(door.router.requests), 1)
        self.assertEqual(door.refusals("TRANSFER_REFUSED"), 0)

    def test_unsupported_version_at_login(self) -> None:
        """A login from a version the proxy does not serve gets a Login Disconnect naming the
        supported range, though the proxy has no packet table for its version."""
        door = self.door()
        for protocol in (5, 778, 1000):
            conn, transport = door.connect(IPv4Address("TCP", f"198.51.100.{protocol % 250}", 1))
            conn.dataReceived(handshake(protocol, intent=2))
            (packet_id, reader), = frames(transport.value())
            self.assertEqual(packet_id, 0x00)
            self.assertIn(supported_range(), plain_text(json_to_component(reader.string())))
            self.assertIs(conn.phase, Phase.CLOSED)
        self.assertEqual(door.refusals("UNSUPPORTED_VERSION"), 3)


class MalformedInputTests(FrontDoorTestCase):
    def test_oversized_frame_before_login(self) -> None:
        """A frame longer than ``max_prelogin_frame`` is refused as soon as its length
        prefix is read, before its body is buffered."""
        door = self.door(settings=ProxySettings(online_mode=False, max_prelogin_frame=1024))
        conn, transport = door.connect()
        conn.dataReceived(encode_varint(1025))
        self.assertRefused(door, conn, transport, "FRAME_TOO_LARGE")

    def test_oversized_frame_after_handshake(self) -> None:
        """The pre-login bound holds in the login state too, not only for the handshake."""
        door = self.door(settings=ProxySettings(online_mode=False, max_prelogin_frame=1024))
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=2) + encode_varint(4000) + b"x" * 100)
        self.assertRefused(door, conn, transport, "FRAME_TOO_LARGE")

    def test_random_garbage(self) -> None:
        """Random bytes never raise out of ``dataReceived``: each connection is answered (a
        stray 0xFE reads as a legacy ping) or closed with a counted reason, at once or when
        its handshake deadline passes, and every pre-login slot comes back."""
        door = self.door(limits=rates(handshake_concurrent_max=10_000))
        rng = random.Random(1234)
        connections = []
        for n in range(500):
            peer = IPv4Address("TCP", f"10.{n // 250}.{n % 250}.1", 1000 + n)
            conn, transport = door.connect(peer)
            conn.dataReceived(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
            connections.append((conn, transport))
        door.reactor.advance(door.core.settings.handshake_timeout + 1)
        for conn, transport in connections:
            self.assertIs(conn.phase, Phase.CLOSED)
            door.close(conn, transport)
        self.assertEqual(self.flushLoggedErrors(), [])
        refused = sum(sample.value for family in door.registry.collect() if family.name == "mcproxy_refusals"
                      for sample in family.samples if sample.name == "mcproxy_refusals_total")
        answered = door.registry.get_sample_value("mcproxy_handshakes_total", {"next_state": "legacy"}) or 0
        self.assertEqual(refused + answered, 500)
        self.assertGreater(door.refusals("HANDSHAKE_TIMEOUT"), 0)
        self.assertEqual(door.core.prelogin_gate.held, 0)
        self.assertEqual(door.core.connections, 0)

    def test_empty_frame(self) -> None:
        """A zero-length frame is refused by name."""
        door = self.door()
        conn, transport = door.connect()
        conn.dataReceived(b"\x00")
        self.assertRefused(door, conn, transport, "EMPTY_FRAME")


class ThrottleTests(FrontDoorTestCase):
    def test_connection_is_a_prelogin_holder(self) -> None:
        """What the gate evicts provides ``IPreloginHolder``."""
        door = self.door()
        conn, _ = door.connect()
        self.assertTrue(verifyObject(IPreloginHolder, conn))

    def test_full_gate_evicts_oldest_half_open(self) -> None:
        """Past ``handshake_concurrent_max`` connections before login, a newcomer takes
        the slot of the oldest one still in its handshake, which is closed and counted
        ``HANDSHAKE_EVICTED``; the gate stays at its limit."""
        door = self.door(limits=rates(handshake_concurrent_max=3))
        held = [door.connect(IPv4Address("TCP", f"192.0.2.{i}", 1)) for i in range(3)]
        held[1][0].dataReceived(b"\x10\x00")
        conn, transport = door.connect(IPv4Address("TCP", "192.0.2.99", 1))
        self.assertIs(conn.phase, Phase.HANDSHAKE)
        self.assertFalse(transport.disconnected)
        self.assertRefused(door, *held[0], "HANDSHAKE_EVICTED")
        door.close(*held[0])
        self.assertEqual(door.core.prelogin_gate.held, 3)
        self.assertEqual(door.core.prelogin_gate.evictions, 1)
        self.assertEqual(door.core.connections, 3)

    def test_logins_are_not_evicted(self) -> None:
        """A connection past its handshake into login is never evicted: the newcomer
        evicts the oldest still handshaking, and when every slot is logging in it is
        refused ``HANDSHAKE_CONCURRENCY`` instead."""
        door = self.door(limits=rates(handshake_concurrent_max=2))
        login, _ = door.connect(IPv4Address("TCP", "192.0.2.1", 1))
        login.dataReceived(handshake(intent=2))
        squatter = door.connect(IPv4Address("TCP", "192.0.2.2", 1))
        newcomer, _ = door.connect(IPv4Address("TCP", "192.0.2.3", 1))
        self.assertIs(login.phase, Phase.LOGIN)
        self.assertRefused(door, *squatter, "HANDSHAKE_EVICTED")
        newcomer.dataReceived(handshake(intent=2))
        conn, transport = door.connect(IPv4Address("TCP", "192.0.2.4", 1))
        self.assertRefused(door, conn, transport, "HANDSHAKE_CONCURRENCY")
        self.assertEqual((login.phase, newcomer.phase), (Phase.LOGIN, Phase.LOGIN))

    def test_handshakes_evicted_before_status_exchanges(self) -> None:
        """A connection that has not completed its handshake goes before an older one
        already in its status exchange."""
        door = self.door(limits=rates(handshake_concurrent_max=2))
        status, status_transport = door.connect(IPv4Address("TCP", "192.0.2.1", 1))
        status.dataReceived(handshake(intent=1))
        squatter = door.connect(IPv4Address("TCP", "192.0.2.2", 1))
        door.connect(IPv4Address("TCP", "192.0.2.3", 1))
        self.assertRefused(door, *squatter, "HANDSHAKE_EVICTED")
        self.assertIs(status.phase, Phase.STATUS)
        door.connect(IPv4Address("TCP", "192.0.2.4", 1))
        self.assertEqual(door.refusals("HANDSHAKE_EVICTED"), 2.0)
        self.assertIs(status.phase, Phase.STATUS)

    def test_refused_connection_frees_nothing(self) -> None:
        """A connection refused at the cap does not release a slot it never held."""
        door = self.door(limits=rates(handshake_concurrent_max=1))
        first, _ = door.connect()
        first.dataReceived(handshake(intent=2))
        conn, transport = door.connect(IPv4Address("TCP", "192.0.2.2", 1))
        conn.connectionLost(None)
        self.assertEqual(door.core.prelogin_gate.held, 1)

    def test_per_address_cap(self) -> None:
        """One address holds at most ``handshake_per_address_max`` slots at once; the
        next from it is refused ``HANDSHAKE_PER_ADDRESS``, others are unaffected, and a
        slot given back is usable again."""
        door = self.door(limits=rates(handshake_per_address_max=2))
        first = door.connect()
        door.connect()
        conn, transport = door.connect()
        self.assertRefused(door, conn, transport, "HANDSHAKE_PER_ADDRESS")
        other, _ = door.connect(IPv4Address("TCP", "203.0.113.8", 1))
        self.assertIs(other.phase, Phase.HANDSHAKE)
        first[0].connectionLost(None)
        again, _ = door.connect()
        self.assertIs(again.phase, Phase.HANDSHAKE)

    def test_status_answered_through_half_open_flood(self) -> None:
        """300 addresses each holding a half-open handshake (``10 00``, then silence)
        cannot keep a fresh address's status ping from being answered: the squatters
        are evicted oldest first, and the gate never passes its limit."""
        door = self.door(limits=rates(handshake_concurrent_max=256, handshake_per_address_max=32))
        flood = []
        for n in range(300):
            conn, transport = door.connect(IPv4Address("TCP", f"10.1.{n // 250}.{n % 250}", 2000))
            conn.dataReceived(b"\x10\x00")
            flood.append((conn, transport))
            door.close(conn, transport)
        self.assertEqual(door.core.prelogin_gate.held, 256)
        conn, transport = door.connect(IPv4Address("TCP", "198.51.100.1", 1))
        conn.dataReceived(handshake(769, intent=1) + packet(0x00))
        (packet_id, reader), = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        self.assertIn("version", json.loads(reader.string()))
        self.assertEqual(door.refusals("HANDSHAKE_EVICTED"), 45.0)
        self.assertEqual(door.refusals("HANDSHAKE_CONCURRENCY"), 0.0)

    def test_per_address_rate(self) -> None:
        """Each address gets ``connection_burst`` connections at once, then
        ``connection_rate`` a second; other addresses are unaffected."""
        door = self.door(limits=rates(connections_per_address_rate=1.0, connections_per_address_burst=2))
        for _ in range(2):
            conn, transport = door.connect()
            self.assertIs(conn.phase, Phase.HANDSHAKE)
        conn, transport = door.connect()
        self.assertRefused(door, conn, transport, "CONNECTION_RATE")
        other, _ = door.connect(IPv4Address("TCP", "203.0.113.8", 1))
        self.assertIs(other.phase, Phase.HANDSHAKE)
        door.reactor.advance(1.0)
        again, _ = door.connect()
        self.assertIs(again.phase, Phase.HANDSHAKE)
        self.assertEqual(door.core.prelogin_gate.held, 4)

    def test_ipv6_grouped_by_64(self) -> None:
        """IPv6 addresses share a bucket per /64: rotating through one's own /64 gains
        nothing, while a neighbouring /64 has its own."""
        door = self.door(limits=rates(connections_per_address_rate=0.001, connections_per_address_burst=2))
        for suffix in ("::1", "::2"):
            conn, _ = door.connect(IPv6Address("TCP", "2001:db8:1:2" + suffix, 1))
            self.assertIs(conn.phase, Phase.HANDSHAKE)
        conn, transport = door.connect(IPv6Address("TCP", "2001:db8:1:2:ffff:1:2:3", 1))
        self.assertRefused(door, conn, transport, "CONNECTION_RATE")
        conn, _ = door.connect(IPv6Address("TCP", "2001:db8:1:3::1", 1))
        self.assertIs(conn.phase, Phase.HANDSHAKE)

    def test_no_address_not_limited(self) -> None:
        """Clients of a ``unix:`` listener have no address to tell them apart, so the
        per-address limits do not lump them into one bucket."""
        door = self.door(limits=rates(connections_per_address_rate=0.001, connections_per_address_burst=1,
                                 logins_per_address_rate=0.001, logins_per_address_burst=1))
        for name in ("Alice", "Bob", "Carol"):
            conn, transport = door.connect(UNIXAddress(None))
            conn.dataReceived(handshake(intent=2) + login_start(name))
            self.assertIs(conn.phase, Phase.CONNECTING)
        self.assertEqual(door.refusals("CONNECTION_RATE") + door.refusals("LOGIN_RATE"), 0)

    def test_login_rate(self) -> None:
        """Logins per address are limited separately from connections, with a Login
        Disconnect telling the player to wait."""
        door = self.door(limits=rates(logins_per_address_rate=0.5, logins_per_address_burst=1))
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=2) + login_start("Alice"))
        self.assertIs(conn.phase, Phase.CONNECTING)
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=2) + login_start("Bob"))
        (packet_id, reader), = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        self.assertIn("too fast", plain_text(json_to_component(reader.string())))
        self.assertRefused(door, conn, transport, "LOGIN_RATE")
        door.reactor.advance(2.0)
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=2) + login_start("Carol"))
        self.assertIs(conn.phase, Phase.CONNECTING)


class TimeoutTests(FrontDoorTestCase):
    def test_handshake_timeout(self) -> None:
        """A connection that does not finish its handshake in ``handshake_timeout`` is
        closed and counted; it frees its pre-login slot."""
        door = self.door(settings=ProxySettings(online_mode=False, handshake_timeout=5.0))
        conn, transport = door.connect()
        conn.dataReceived(handshake()[:3])
        door.reactor.advance(4.0)
        self.assertIs(conn.phase, Phase.HANDSHAKE)
        door.reactor.advance(2.0)
        self.assertRefused(door, conn, transport, "HANDSHAKE_TIMEOUT")
        self.assertEqual(door.core.prelogin_gate.held, 0)

    def test_status_phase_bounded_by_handshake_timeout(self) -> None:
        """A status client that never pings is closed by the same deadline."""
        door = self.door(settings=ProxySettings(online_mode=False, handshake_timeout=5.0))
        conn, transport = door.connect()
        conn.dataReceived(handshake() + packet(0x00))
        door.reactor.advance(6.0)
        self.assertRefused(door, conn, transport, "HANDSHAKE_TIMEOUT")

    def test_login_timeout(self) -> None:
        """After a login handshake the login deadline applies, and a player who never
        sends Login Start is told it timed out."""
        door = self.door(settings=ProxySettings(online_mode=False, handshake_timeout=5.0, login_timeout=20.0))
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=2))
        door.reactor.advance(10.0)
        self.assertIs(conn.phase, Phase.LOGIN)
        door.reactor.advance(11.0)
        (packet_id, reader), = frames(transport.value())
        self.assertEqual(packet_id, 0x00)
        self.assertRefused(door, conn, transport, "LOGIN_TIMEOUT")

    def test_login_timeout_while_routing(self) -> None:
        """A login stuck waiting for a backend is cut off by the login deadline too."""
        door = self.door(settings=ProxySettings(online_mode=False, login_timeout=3.0))
        conn, transport = door.connect()
        conn.dataReceived(handshake(intent=2) + login_start())
        self.assertIs(conn.phase, Phase.CONNECTING)
        door.reactor.advance(4.0)
        self.assertRefused(door, conn, transport, "LOGIN_TIMEOUT")
        self.assertEqual(door.core.prelogin_gate.held, 0)


class ProxyProtocolTests(FrontDoorTestCase):
    def connect_proxied(self, door: FrontDoor, client: str):
        """A connection through the ``haproxy:`` endpoint's wrapper, from a load balancer,
        to a factory built as the service builds it for a ``haproxy:`` listener."""
        wrapping = HAProxyWrappingFactory(PlayerFactory(door.core, behind_proxy_protocol=True))
        balancer = IPv4Address("TCP", "10.0.0.1", 40000)
        wrapper = wrapping.buildProtocol(balancer)
        transport = StringTransport(hostAddress=HOST, peerAddress=balancer)
        wrapper.makeConnection(transport)
        conn = wrapper.wrappedProtocol
        header = f"PROXY TCP4 {client} 10.0.0.2 51000 25565\r\n".encode("ascii")
        return wrapper, conn, transport, header

    def test_client_address_from_header(self) -> None:
        """Behind PROXY protocol the address logged and limited is the client's from the
        header, not the load balancer's."""
        door = self.door(limits=rates(connections_per_address_rate=0.001, connections_per_address_burst=1))
        wrapper, conn, transport, header = self.connect_proxied(door, "198.51.100.20")
        wrapper.dataReceived(header + handshake() + packet(0x00))
        self.assertEqual(conn.address, "198.51.100.20")
        self.assertEqual(frames(transport.value())[0][0], 0x00)
        # A second client through the same balancer is not limited by the first.
        wrapper, conn, transport, header = self.connect_proxied(door, "198.51.100.21")
        wrapper.dataReceived(header + handshake() + packet(0x00))
        self.assertIs(conn.phase, Phase.STATUS)
        # The first client again is over its own limit.
        wrapper, conn, transport, header = self.connect_proxied(door, "198.51.100.20")
        wrapper.dataReceived(header + handshake())
        self.assertEqual(door.refusals("CONNECTION_RATE"), 1)
        logs = door.refusal_logs(conn)
        self.assertEqual(logs[0]["peer"], "198.51.100.20")


class PassthroughTests(SynchronousTestCase):
    """The status of a backend shown through the proxy, cached, with our own fallback."""

    class Endpoint:
        """A client endpoint that hands each connection attempt to the test."""

        def __init__(self) -> None:
            self.attempts: list[tuple[object, defer.Deferred]] = []

        def connect(self, factory) -> defer.Deferred:
            d: defer.Deferred = defer.Deferred()
            self.attempts.append((factory, d))
            return d

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.endpoint = self.Endpoint()
        self.online = 3
        self.own = StatusResponder("Ours", 50, lambda: self.online)
        self.passthrough = StatusPassthrough(self.clock, self.endpoint, "10.1.1.1", 25566, self.own,
                                             ttl=5.0, timeout=2.0, log=Logger(observer=lambda e: None))

    def answer(self, status: dict) -> StringTransport:
        factory, d = self.endpoint.attempts[-1]
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        d.callback(protocol)
        sent = frames(transport.value())
        self.assertEqual([p for p, _ in sent], [0x00, 0x00])
        parsed = parse_handshake(encode_varint(0x00) + sent[0][1].rest())
        self.assertEqual((parsed.host, parsed.port, parsed.intent), ("10.1.1.1", 25566, Intent.STATUS))
        protocol.dataReceived(packet(0x00, encode_string(json.dumps(status))))
        return transport

    def test_interfaces(self) -> None:
        """Both status sources provide IStatusSource, so the connection treats them alike."""
        verifyObject(IStatusSource, self.own)
        verifyObject(IStatusSource, self.passthrough)

    def test_backend_status_with_our_count_and_version(self) -> None:
        """The backend's MOTD and extra fields are shown with the proxy's online count and
        the version the client asked for; it is fetched once per cache period."""
        d = self.passthrough.response_json(LATEST, "play.example.com")
        other = self.passthrough.response_json(766, "")
        self.assertEqual(len(self.endpoint.attempts), 1)
        backend = {"version": {"name": "Paper 1.21.4", "protocol": 769}, "description": {"text": "Backend"},
                   "players": {"max": 100, "online": 99, "sample": []}, "modinfo": {"type": "FML"}}
        transport = self.answer(backend)
        self.assertTrue(transport.disconnecting)
        status = json.loads(self.successResultOf(d))
        self.assertEqual(status["description"], {"text": "Backend"})
        self.assertEqual(status["players"], {"max": 100, "online": 3, "sample": []})
        self.assertEqual(status["version"]["protocol"], LATEST)
        self.assertEqual(status["modinfo"], {"type": "FML"})
        self.assertEqual(json.loads(self.successResultOf(other))["version"]["protocol"], 766)
        self.online = 4
        cached = self.passthrough.response_json(LATEST)
        self.assertIsInstance(cached, str)
        self.assertEqual(json.loads(cached)["players"]["online"], 4)
        self.clock.advance(5.0)
        self.assertIsInstance(self.passthrough.response_json(LATEST), defer.Deferred)
        self.assertEqual(len(self.endpoint.attempts), 2)

    def test_fallback_when_backend_silent(self) -> None:
        """A backend that does not answer within the timeout leaves players our own status,
        and that outcome is cached so the next pings do not wait again."""
        d = self.passthrough.response_json(LATEST)
        self.assertNoResult(d)
        self.clock.advance(2.0)
        status = json.loads(self.successResultOf(d))
        self.assertEqual(status["description"], {"text": "Ours"})
        self.assertIsInstance(self.passthrough.response_json(LATEST), str)
        self.assertEqual(len(self.endpoint.attempts), 1)

    def test_fallback_when_backend_answers_garbage(self) -> None:
        """A backend answering something that is not a JSON object gives our own status."""
        d = self.passthrough.response_json(LATEST)
        factory, connected = self.endpoint.attempts[-1]
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        connected.callback(protocol)
        protocol.dataReceived(packet(0x00, encode_string("[1, 2]")))
        self.assertEqual(json.loads(self.successResultOf(d))["description"], {"text": "Ours"})

    def test_fallback_when_unreachable(self) -> None:
        """A refused connection gives our own status at once."""
        from twisted.internet.error import ConnectionRefusedError
        d = self.passthrough.response_json(LATEST)
        self.endpoint.attempts[-1][1].errback(ConnectionRefusedError())
        self.assertEqual(json.loads(self.successResultOf(d))["description"], {"text": "Ours"})

    def test_connection_waits_for_passthrough(self) -> None:
        """A player's status request waits for the backend's answer, and a ping sent in the
        meantime is answered after the status, then the connection closes."""
        door = FrontDoor()
        self.addCleanup(door.core.stop)
        door.core.status = self.passthrough = StatusPassthrough(
            self.clock, self.endpoint, "10.1.1.1", 25566, door.core.status, log=Logger(observer=lambda e: None))
        conn, transport = door.connect()
        conn.dataReceived(handshake() + packet(0x00) + packet(0x01, encode_long(77)))
        self.assertEqual(transport.value(), b"")
        self.answer({"description": "From backend", "players": {"max": 1, "online": 0}})
        (status_id, status), (pong_id, pong) = frames(transport.value())
        self.assertEqual(json.loads(status.string())["description"], "From backend")
        self.assertEqual((pong_id, pong.long()), (0x01, 77))
        self.assertTrue(transport.disconnecting)
