"""Both ends of the load: a minimal backend and a player, speaking the real protocol.

The player does what a client does up to play (handshake, login with offline or online
mode, configuration), then asks the backend for a workload with a serverbound play
packet: a flood of clientbound frames, echoes of its own frames, or nothing (idle).
The backend completes login, configuration and play login like a vanilla server in
offline mode, without compression, then serves the workload.
"""

from __future__ import annotations

import json
import os
import struct
import time
import uuid
import zlib

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from bench import stream
from bench.stream import FloodChecker, build_cycle, end_frame
from mcproxy.proxy.auth import offline_profile
from mcproxy.wire.cipher import rsa_encrypt
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.login import LoginLayout, encode_login_start, encode_login_success
from mcproxy.wire.packets import Direction, State, packet_ids
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import (
    Reader, encode_bytes, encode_long, encode_string, encode_ushort, encode_varint,
)

#: The protocol both ends speak: Minecraft 1.21.1 unless ``python -m bench --protocol``
#: (which sets this variable for the backend process too) asks for another served one, to
#: measure the relay of an older version (no configuration state before 1.20.2).
PROTOCOL = IDS = LAYOUT = COMMAND_ID = None


def configure(protocol: int) -> None:
    """Speak ``protocol`` from now on, in this process and the backend processes it starts."""
    global PROTOCOL, IDS, LAYOUT, COMMAND_ID
    os.environ["MCPROXY_BENCH_PROTOCOL"] = str(protocol)
    PROTOCOL = protocol
    IDS = packet_ids(protocol)
    LAYOUT = LoginLayout.of(protocol)
    #: Serverbound play ``custom_payload``: carries the player's workload requests.
    COMMAND_ID = IDS.play_custom_payload_serverbound
    stream.FLOOD_ID = unwatched_id(protocol)


def unwatched_id(protocol: int, preferred: int = 0x2E) -> int:
    """A clientbound play id for the flood that the proxy never watches in ``protocol``:
    ``preferred`` (1.21.1's ``rel_entity_move``) unless the tables name it as a packet
    the proxy may look at (in 1.12.2 it is the tab list), else the next id they do not."""
    recorded = set(protocol_info(protocol).ids(State.PLAY, Direction.CLIENTBOUND).values())
    return next(i for i in range(preferred, 0x80) if i not in recorded)


configure(int(os.environ.get("MCPROXY_BENCH_PROTOCOL", "767")))

FLOOD, STOP, ECHO = b"F", b"S", b"E"
_ECHO = struct.Struct(">IdI")


@implementer(IPushProducer)
class BenchBackend(Protocol):
    """One player's session on the bench backend."""

    def __init__(self, cycles: dict[int, bytes]) -> None:
        self.codec = PacketCodec()
        self.phase = "handshake"
        self.cycles = cycles
        self.cycle = b""
        self.sent = 0
        self.flooding = False
        self.paused = False

    def connectionMade(self) -> None:
        # As vanilla servers and clients do: play traffic is many small packets.
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data: bytes) -> None:
        self.codec.feed(data)
        while self.transport is not None and not self.transport.disconnecting:
            packet = self.codec.next_packet()
            if packet is None:
                return
            self.packet(*packet)

    def send(self, packet_id: int, fields: bytes = b"") -> None:
        self.transport.write(self.codec.encode(packet_id, fields))

    def packet(self, packet_id: int, reader: Reader) -> None:
        phase = self.phase
        if phase == "handshake":
            reader.varint()
            reader.string(255)
            reader.ushort()
            self.phase = "status" if reader.varint() == 1 else "login"
        elif phase == "status":
            if packet_id == 0x00:
                self.send(0x00, encode_string(json.dumps({
                    "version": {"name": "1.21.1", "protocol": PROTOCOL},
                    "players": {"max": 500, "online": 0},
                    "description": {"text": "A mcproxy network"}})))
            else:
                self.send(0x01, encode_long(reader.long()))
                self.transport.loseConnection()
        elif phase == "login":
            if packet_id == IDS.login_start:
                name = reader.string(16)
                profile = offline_profile(name)
                self.send(IDS.login_success, encode_login_success(LAYOUT, profile.id, name, encode_varint(0)))
                if IDS.login_acknowledged is None:
                    self._play()
            elif packet_id == IDS.login_acknowledged:
                self.phase = "configuration"
                self.send(IDS.config_finish)
        elif phase == "configuration":
            if packet_id == IDS.config_finish_ack:
                self._play()
        elif packet_id == COMMAND_ID:
            self.command(reader.rest())

    def _play(self) -> None:
        self.phase = "play"
        # Play Login's fields do not matter to the proxy, which passes them on.
        self.send(IDS.play_login, b"\x00" * 32)

    def command(self, body: bytes) -> None:
        kind = body[:1]
        if kind == FLOOD:
            self.cycle = self.cycles[struct.unpack_from(">H", body, 1)[0]]
            self.sent = 0
            self.flooding = True
            self.paused = False
            self.transport.registerProducer(self, True)
            self._pump()
        elif kind == STOP:
            self.flooding = False
            self.transport.unregisterProducer()
            self.transport.write(end_frame(self.sent))
        elif kind == ECHO:
            self.transport.write(self.codec.encode(stream.FLOOD_ID, body))

    def _pump(self) -> None:
        cycle = self.cycle
        while self.flooding and not self.paused:
            self.transport.write(cycle)
            self.sent += len(cycle)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self._pump()

    def stopProducing(self) -> None:
        self.flooding = False


class BenchBackendFactory(Factory):
    def __init__(self, frame_sizes: tuple[int, ...] = (64, 8192)) -> None:
        self.cycles = {size: build_cycle(size) for size in frame_sizes}

    def buildProtocol(self, addr) -> BenchBackend:
        return BenchBackend(self.cycles)


class BenchPlayer(Protocol):
    """A player: logs in, reaches play, then runs the workload it is told to.

    ``joined`` fires with the player once Play Login arrives; ``lost`` fires when the
    connection ends.  ``errors`` collects anything that was not what the backend sent.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 25565) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.codec = PacketCodec()
        self.phase = "login"
        self.joined: defer.Deferred = defer.Deferred()
        self.lost: defer.Deferred = defer.Deferred()
        self.encrypted = False
        self.errors: list[str] = []
        self.checker: FloodChecker | None = None
        self.rtts: list[float] = []
        self._echo_seq = 0
        self._echo_waiter: defer.Deferred | None = None
        self._flood_end: defer.Deferred | None = None

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        handshake = (encode_varint(PROTOCOL) + encode_string(self.host) + encode_ushort(self.port)
                     + encode_varint(2))
        start = encode_login_start(LAYOUT, self.name, uuid.uuid3(uuid.NAMESPACE_OID, self.name))
        self.transport.write(self.codec.encode(0x00, handshake) + self.codec.encode(IDS.login_start, start))

    def connectionLost(self, reason=None) -> None:
        if not self.joined.called:
            self.joined.errback(ConnectionError(f"{self.name}: closed before play ({self.phase})"))
        if self._flood_end is not None:
            waiter, self._flood_end = self._flood_end, None
            waiter.errback(ConnectionError(f"{self.name}: closed during a flood"))
        self.lost.callback(None)

    def dataReceived(self, data: bytes) -> None:
        if self.checker is not None:
            self.checker.feed(self.codec.decrypt(data))
            if self._flood_end is not None and self.checker.floods:
                waiter, self._flood_end = self._flood_end, None
                waiter.callback(self)
            elif self.checker.errors and self._flood_end is not None:
                waiter, self._flood_end = self._flood_end, None
                waiter.callback(self)
            return
        self.codec.feed(data)
        while True:
            packet = self.codec.next_packet()
            if packet is None:
                return
            self.packet(*packet)

    def packet(self, packet_id: int, reader: Reader) -> None:
        phase = self.phase
        if phase == "login":
            if packet_id == IDS.login_encryption_request:
                self._encrypt(reader)
            elif packet_id == IDS.login_compress:
                self.codec.enable_compression(reader.varint())
            elif packet_id == IDS.login_success:
                if IDS.login_acknowledged is None:
                    self.phase = "play"
                else:
                    self.send(IDS.login_acknowledged)
                    self.phase = "configuration"
            else:
                self.errors.append(f"login packet {packet_id:#x}")
                self.transport.abortConnection()
        elif phase == "configuration":
            if packet_id == IDS.config_finish:
                self.send(IDS.config_finish_ack)
                self.phase = "play"
            elif packet_id == IDS.config_keep_alive:
                self.send(IDS.config_keep_alive_response, reader.rest())
        elif packet_id == IDS.play_login and not self.joined.called:
            self.joined.callback(self)
        elif packet_id == stream.FLOOD_ID:
            self._echoed(reader.rest())

    def _encrypt(self, reader: Reader) -> None:
        reader.string(20)
        public_key = reader.byte_array(1024)
        token = reader.byte_array(64)
        secret = os.urandom(16)
        self.send(IDS.login_encryption_response,
                  encode_bytes(rsa_encrypt(public_key, secret)) + encode_bytes(rsa_encrypt(public_key, token)))
        self.codec.enable_encryption(secret)
        self.encrypted = True

    def send(self, packet_id: int, fields: bytes = b"") -> None:
        self.transport.write(self.codec.encode(packet_id, fields))

    # Workloads ------------------------------------------------------------------------

    def start_flood(self, checker: FloodChecker) -> None:
        """Ask for a flood of ``checker.frame_size``-byte frames; ``checker`` verifies it."""
        self.checker = checker
        leftover = self.codec.decoder.take_buffer()
        if leftover:
            checker.feed(leftover)
        self.send(COMMAND_ID, FLOOD + struct.pack(">H", checker.frame_size))

    def stop_flood(self) -> defer.Deferred:
        """Ask the backend to stop; fires once its end frame was checked (or checking failed)."""
        self._flood_end = defer.Deferred()
        self.send(COMMAND_ID, STOP)
        return self._flood_end

    def echo(self) -> defer.Deferred:
        """Send one echo request; fires with the round-trip time in seconds."""
        self._echo_seq += 1
        body = _ECHO.pack(self._echo_seq, time.perf_counter(), 0)
        body = body[:-4] + struct.pack(">I", zlib.crc32(body[:-4]))
        self._echo_waiter = defer.Deferred()
        self.send(COMMAND_ID, ECHO + body)
        return self._echo_waiter

    def _echoed(self, fields: bytes) -> None:
        now = time.perf_counter()
        waiter, self._echo_waiter = self._echo_waiter, None
        if waiter is None or len(fields) != 1 + _ECHO.size or fields[:1] != ECHO:
            self.errors.append("unexpected echo")
            return
        seq, sent, crc = _ECHO.unpack_from(fields, 1)
        if seq != self._echo_seq or crc != zlib.crc32(fields[1:-4]):
            self.errors.append("corrupt or reordered echo")
            return
        waiter.callback(now - sent)


class StatusProbe(Protocol):
    """One server-list ping: handshake, status request, ping; ``done`` fires after the pong."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.codec = PacketCodec()
        self.done: defer.Deferred = defer.Deferred()
        self._token = 0

    def connectionMade(self) -> None:
        handshake = (encode_varint(PROTOCOL) + encode_string(self.host) + encode_ushort(self.port)
                     + encode_varint(1))
        self.transport.write(self.codec.encode(0x00, handshake) + self.codec.encode(0x00))

    def dataReceived(self, data: bytes) -> None:
        self.codec.feed(data)
        while True:
            packet = self.codec.next_packet()
            if packet is None:
                return
            packet_id, reader = packet
            if packet_id == 0x00:
                json.loads(reader.string())
                self._token = time.monotonic_ns()
                self.transport.write(self.codec.encode(0x01, encode_long(self._token)))
            elif packet_id == 0x01 and reader.long() == self._token and not self.done.called:
                self.done.callback(True)
                self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:
        if not self.done.called:
            self.done.errback(ConnectionError("status ping closed early"))

