"""The GameSpy4 query codec and listener: answers byte by byte, and what is refused."""

from __future__ import annotations

import struct

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.internet.address import IPv4Address
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.proxy.query import TOKEN_WINDOW, QueryListener, QueryProtocol, listener_interface
from mcproxy.wire.query import (
    MAX_ANSWER, QueryInfo, RequestKind, encode_basic, encode_full, encode_handshake, parse_request,
)
from mcproxy.wire.types import WireError

INFO = QueryInfo(motd="A Minecraft Server", version="1.21.4", plugins="mcproxy 0.4.0", map="world",
                 online=2, max_players=20, host_ip="127.0.0.1", host_port=25565, names=("Alice", "Bob"))


def handshake(session: int = 1) -> bytes:
    return b"\xfe\xfd\x09" + struct.pack(">i", session)


def stat(token: int, session: int = 1, full: bool = False) -> bytes:
    return b"\xfe\xfd\x00" + struct.pack(">i", session) + struct.pack(">i", token) + (b"\0" * 4 if full else b"")


class CodecTests(SynchronousTestCase):
    def test_requests(self) -> None:
        """Handshake, basic and full stat requests parse by type and length."""
        self.assertEqual(parse_request(handshake(0x01020304)).kind, RequestKind.HANDSHAKE)
        basic = parse_request(stat(9513307, 0x01020304))
        self.assertEqual((basic.kind, basic.session_id, basic.token), (RequestKind.BASIC, 0x01020304, 9513307))
        self.assertEqual(parse_request(stat(-5, full=True)).kind, RequestKind.FULL)

    def test_bad_requests(self) -> None:
        """Anything but the three request shapes is a BAD_QUERY, never another exception."""
        for data in (b"", b"\xfe\xfd", b"GET / HTTP/1.1\r\n", handshake() + b"x", b"\xfe\xfd\x01" + b"\0" * 4,
                     stat(1)[:-1], stat(1, full=True) + b"\0", stat(1) + b"\1\0\0\0"):
            with self.assertRaises(WireError) as caught:
                parse_request(data)
            self.assertEqual(caught.exception.reason, "BAD_QUERY")

    def test_handshake_answer(self) -> None:
        """The challenge answer is type 9, the session id, the token as NUL-terminated decimal."""
        self.assertEqual(encode_handshake(1, 9513307), b"\x09\x00\x00\x00\x01" + b"9513307\x00")

    def test_basic_answer(self) -> None:
        """Basic stat: MOTD, game type, map, counts as text, then the port little-endian and the IP."""
        self.assertEqual(encode_basic(1, INFO),
                         b"\x00\x00\x00\x00\x01A Minecraft Server\x00SMP\x00world\x002\x0020\x00"
                         b"\xdd\x63127.0.0.1\x00")

    def test_full_answer(self) -> None:
        """Full stat: the splitnum header, key/value pairs, the player_ section, names."""
        self.assertEqual(
            encode_full(1, INFO),
            b"\x00\x00\x00\x00\x01splitnum\x00\x80\x00"
            b"hostname\x00A Minecraft Server\x00gametype\x00SMP\x00game_id\x00MINECRAFT\x00"
            b"version\x001.21.4\x00plugins\x00mcproxy 0.4.0\x00map\x00world\x00numplayers\x002\x00"
            b"maxplayers\x0020\x00hostport\x0025565\x00hostip\x00127.0.0.1\x00\x00"
            b"\x01player_\x00\x00Alice\x00Bob\x00\x00")

    def test_full_answer_is_bounded(self) -> None:
        """However many players are on, the answer fits one bounded datagram and stays well-formed."""
        many = QueryInfo(**{**INFO.__dict__, "names": [f"Player{n:06d}" for n in range(5000)]})
        answer = encode_full(1, many)
        self.assertLessEqual(len(answer), MAX_ANSWER)
        self.assertTrue(answer.endswith(b"\x00\x00"))

    def test_nul_in_motd_cannot_split_fields(self) -> None:
        """A NUL in the MOTD is dropped rather than ending the field early."""
        odd = QueryInfo(**{**INFO.__dict__, "motd": "a\x00b"})
        self.assertIn(b"hostname\x00ab\x00", encode_full(1, odd))


class _Datagrams:
    """Records what the protocol writes, as a UDP port would send it."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple]] = []

    def write(self, data: bytes, addr: tuple) -> None:
        self.sent.append((data, addr))


class ListenerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.registry = CollectorRegistry()
        self.metrics = ProxyMetrics(self.registry)
        self.protocol = QueryProtocol(self.clock, lambda: INFO, self.metrics, Logger(), key=b"k" * 32)
        self.transport = _Datagrams()
        self.protocol.transport = self.transport
        self.peer = ("127.0.0.7", 40000)

    def send(self, data: bytes, peer=None) -> bytes | None:
        before = len(self.transport.sent)
        self.protocol.datagramReceived(data, peer or self.peer)
        if len(self.transport.sent) == before:
            return None
        data, addr = self.transport.sent[-1]
        self.assertEqual(addr, peer or self.peer)
        return data

    def token(self, peer=None) -> int:
        answer = self.send(handshake(), peer)
        return int(answer[5:-1])

    def refused(self, reason: str) -> float:
        return self.registry.get_sample_value("mcproxy_query_refusals_total", {"reason": reason}) or 0.0

    def test_round_trip(self) -> None:
        """A handshake's token opens basic and full stat for that address."""
        token = self.token()
        self.assertEqual(self.send(stat(token, session=7)), encode_basic(7, INFO))
        self.assertEqual(self.send(stat(token, session=7, full=True)), encode_full(7, INFO))
        self.assertEqual(self.registry.get_sample_value("mcproxy_query_requests_total", {"kind": "full"}), 1.0)

    def test_handshake_answer_is_small(self) -> None:
        """Without a token only the handshake is answered, with at most a few bytes more than asked."""
        answer = self.send(handshake())
        self.assertLessEqual(len(answer), 5 + 11)

    def test_missing_or_wrong_token(self) -> None:
        """A stat request with a token never issued to this address gets no answer and is counted."""
        self.assertIsNone(self.send(stat(0)))
        token = self.token(("127.0.0.8", 40000))
        self.assertIsNone(self.send(stat(token)))
        self.assertIsNone(self.send(stat(self.token(), session=1), ("127.0.0.7", 40001)))
        self.assertEqual(self.refused("BAD_CHALLENGE"), 3.0)

    def test_token_expires(self) -> None:
        """A token is good for its window and the next, then refused as stale."""
        token = self.token()
        self.clock.advance(TOKEN_WINDOW)
        self.assertIsNotNone(self.send(stat(token)))
        self.clock.advance(TOKEN_WINDOW)
        self.assertIsNone(self.send(stat(token)))
        self.assertEqual(self.refused("BAD_CHALLENGE"), 1.0)

    def test_random_bytes(self) -> None:
        """Garbage is dropped silently and counted, never answered or raised."""
        import random
        rng = random.Random(16)
        for _ in range(200):
            self.assertIsNone(self.send(bytes(rng.randrange(256) for _ in range(rng.randrange(40)))))
        self.assertEqual(self.refused("BAD_QUERY"), 200.0)

    def test_flood_is_rate_limited(self) -> None:
        """One address flooding handshakes gets a bounded number of answers; the rest are counted."""
        answers = sum(self.send(handshake()) is not None for _ in range(100))
        self.assertEqual(answers, 8)
        self.assertEqual(self.refused("QUERY_RATE"), 92.0)
        self.clock.advance(1)
        self.assertIsNotNone(self.send(handshake()))
        self.assertIsNotNone(self.send(handshake(), ("127.0.0.9", 1)))

    def test_total_rate_bounds_spoofed_sources(self) -> None:
        """Handshakes from ever new (forged) addresses still stop at the listener's total budget."""
        answers = sum(self.send(handshake(), (f"10.0.{n // 250}.{n % 250}", 1)) is not None for n in range(1500))
        self.assertEqual(answers, 1000)


class InterfaceTests(SynchronousTestCase):
    def test_listener_interface(self) -> None:
        """The query listener binds where the first game listener does."""
        self.assertEqual(listener_interface("tcp:25565"), "")
        self.assertEqual(listener_interface("tcp:25565:interface=127.0.0.1"), "127.0.0.1")
        self.assertEqual(listener_interface("haproxy:tcp:port=25565:interface=10.0.0.2"), "10.0.0.2")
        self.assertEqual(listener_interface("tcp6:25565:interface=\\:\\:1"), "::1")
        self.assertEqual(listener_interface("tcp6:25565"), "::")
        self.assertEqual(listener_interface("ssl:25565:interface=10.0.0.3:privateKey=k.pem"), "10.0.0.3")
        self.assertEqual(listener_interface("unix:/run/mcproxy.sock"), "127.0.0.1")


class _UDPReactor:
    """Twisted's MemoryReactor has no UDP: this records listenUDP calls, or refuses them."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.ports: list = []

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        if self.refuse:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        bound = _BoundPort(port, protocol, interface)
        self.ports.append(bound)
        return bound


class _BoundPort:
    def __init__(self, port, protocol, interface) -> None:
        self.port, self.protocol, self.interface = port, protocol, interface
        self.stopped = False

    def getHost(self):
        return IPv4Address("UDP", self.interface, self.port)

    def stopListening(self):
        self.stopped = True


class QueryListenerTests(SynchronousTestCase):
    def listener(self, reactor) -> QueryListener:
        protocol = QueryProtocol(Clock(), lambda: INFO, ProxyMetrics(CollectorRegistry()), Logger())
        return QueryListener(reactor, 25565, "127.0.0.1", protocol, Logger(observer=lambda e: None))

    def test_listens_where_told(self) -> None:
        """The service binds UDP on the given port and interface, and lets go when stopped."""
        reactor = _UDPReactor()
        listener = self.listener(reactor)
        listener.privilegedStartService()
        listener.startService()
        [port] = reactor.ports
        self.assertEqual((port.port, port.interface, port.protocol), (25565, "127.0.0.1", listener.protocol))
        self.assertEqual(listener.check().state.value, "OK")
        listener.stopService()
        self.assertTrue(port.stopped)
        self.assertEqual(listener.check().state.value, "FAILED")

    def test_bind_failure_is_reported(self) -> None:
        """A port that cannot be bound fails the query check with the reason, without raising."""
        listener = self.listener(_UDPReactor(refuse=True))
        listener.privilegedStartService()
        listener.startService()
        check = listener.check()
        self.assertEqual(check.state.value, "FAILED")
        self.assertIn("Address already in use", check.detail)


class StatCacheTests(SynchronousTestCase):
    def test_stat_encoded_at_most_once_a_second(self) -> None:
        """Stat answers are reused for a second, each still carrying its own session id."""
        clock = Clock()
        asked: list[int] = []

        def info() -> QueryInfo:
            asked.append(1)
            return QueryInfo(**{**INFO.__dict__, "online": len(asked)})

        protocol = QueryProtocol(clock, info, ProxyMetrics(CollectorRegistry()), Logger(), key=b"k" * 32)
        protocol.transport = _Datagrams()
        peer = ("192.0.2.1", 1)
        token = protocol.token(*peer)
        protocol.datagramReceived(stat(token, session=1), peer)
        protocol.datagramReceived(stat(token, session=2), peer)
        self.assertEqual([d for d, _ in protocol.transport.sent],
                         [encode_basic(1, INFO.__class__(**{**INFO.__dict__, "online": 1})),
                          encode_basic(2, INFO.__class__(**{**INFO.__dict__, "online": 1}))])
        clock.advance(1)
        protocol.datagramReceived(stat(token, session=3), peer)
        self.assertEqual(len(asked), 2)
        self.assertIn(b"\x002\x00", protocol.transport.sent[-1][0])
