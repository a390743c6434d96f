"""A scripted Minecraft client for driving the limbo over a StringTransport."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from zope.interface import implementer

from mcproxy.backend.module import BackendModule
from mcproxy.backend.server import LimboFactory, LimboProtocol, LimboSettings
from mcproxy.interfaces import IBackendLink
from mcproxy.ops.metrics import BackendMetrics
from mcproxy.wire.chat import json_to_component, nbt_to_component, plain_text
from mcproxy.wire.compression import compress_packet, decompress_packet
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire import layout as layouts
from mcproxy.wire.packets import Direction, PacketTable, State
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import (
    Reader,
    encode_bool,
    encode_long,
    encode_string,
    encode_ushort,
    encode_uuid,
    encode_varint,
)

SECRET = b"a-test-secret-of-enough-length-0123456789"


@dataclass
class CommandSpecLike:
    name: str
    aliases: tuple[str, ...] = ()


@implementer(IBackendLink)
class FakeLink:
    """A control link whose registry state and answers the test sets."""

    def __init__(self, synchronized: bool = True, commands: tuple = ()) -> None:
        self.synchronized = synchronized
        self.commands = commands
        self.executed: list[tuple[str, str]] = []
        self.transfers: list[tuple[str, str]] = []
        self.answer: object = None
        self.observers: list = []

    def execute_command(self, player: str, line: str) -> Deferred:
        self.executed.append((player, line))
        return succeed(self.answer)

    def request_transfer(self, player: str, server: str) -> Deferred:
        self.transfers.append((player, server))
        return succeed(self.answer)

    def add_observer(self, callback):
        self.observers.append(callback)
        return lambda: self.observers.remove(callback)

    def changed(self) -> None:
        for callback in list(self.observers):
            callback(self)


@dataclass
class World:
    """A factory with everything injected: clock, registry, metrics, link."""

    settings: LimboSettings = field(default_factory=LimboSettings)
    enforce_proxy: bool = False
    require_authenticated_mode: bool = False
    link: FakeLink | None = None
    forwarding: str = "modern"
    secrets: tuple = (("current", SECRET), ("previous", b""))

    def __post_init__(self) -> None:
        self.clock = Clock()
        self.registry = CollectorRegistry()
        self.metrics = BackendMetrics(self.registry)
        self.module = BackendModule(
            enforce_proxy=self.enforce_proxy,
            require_authenticated_mode=self.require_authenticated_mode,
            secrets=list(self.secrets), metrics=self.metrics, link=self.link, log=Logger(),
            forwarding=self.forwarding)
        self.factory = LimboFactory(self.settings, self.module, self.clock, self.registry,
                                    self.metrics, log=Logger())

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def connect(self, protocol: int = 769) -> "ScriptedClient":
        server = self.factory.buildProtocol(None)
        transport = StringTransport()
        server.makeConnection(transport)
        return ScriptedClient(server, transport, protocol)


class WatchedTable:
    """A PacketTable look-alike from ``protocols.json``'s watched packets (before 1.20.5)."""

    def __init__(self, protocol: int) -> None:
        self.info = protocol_info(protocol)

    def id(self, state: State, direction: Direction, name: str) -> int:
        packet_id = self.info.id(state, direction, name)
        if packet_id is None:
            raise KeyError(name)
        return packet_id

    def name(self, state: State, direction: Direction, packet_id: int) -> str | None:
        for name, known in self.info.ids(state, direction).items():
            if known == packet_id:
                return name
        return None


class ScriptedClient:
    """Writes serverbound packets into a LimboProtocol and reads back what it sent."""

    def __init__(self, server: LimboProtocol, transport: StringTransport, protocol: int) -> None:
        self.server = server
        self.transport = transport
        self.protocol = protocol
        self.table = PacketTable.for_protocol(protocol) or (
            WatchedTable(protocol) if protocol_info(protocol) is not None
            and protocol_info(protocol).source == "minecraft-data"
            else PacketTable.for_protocol(775))
        self.state = State.HANDSHAKING
        self.compression = -1
        self.decoder = FrameDecoder()
        #: Every packet read so far: the state it was read in, and its body with the id.
        self.received: list[tuple[State, bytes]] = []

    def send_raw(self, data: bytes) -> None:
        self.server.dataReceived(data)

    def send(self, name: str, body: bytes = b"", state: State | None = None) -> None:
        state = state or self.state
        self.send_packet(encode_varint(self.table.id(state, Direction.SERVERBOUND, name)) + body)

    def send_packet(self, packet: bytes) -> None:
        """A packet (id and fields), framed and compressed as the connection now is."""
        if self.compression >= 0:
            packet = compress_packet(packet, self.compression)
        self.server.dataReceived(encode_frame(packet))

    def read(self) -> list[tuple[str, Reader]]:
        """Every packet sent since the last read, following compression and state changes."""
        data = self.transport.value()
        self.transport.clear()
        out = []
        for frame in self.decoder.frames(data):
            if self.compression >= 0:
                frame = decompress_packet(frame, self.compression)
            reader = Reader(frame)
            packet_id = reader.varint()
            name = self.table.name(self.state, Direction.CLIENTBOUND, packet_id)
            assert name is not None, (self.state, packet_id)
            self.received.append((self.state, bytes(frame)))
            if self.state is State.LOGIN and name == "compress":
                self.compression = Reader(frame, reader.offset).varint()
            if self.state is State.CONFIGURATION and name == "finish_configuration":
                self.state = State.PLAY
            if self.state is State.LOGIN and name == "success" and isinstance(
                    self.table, WatchedTable) and not self.table.info.facts["configuration_state"]:
                # Before 1.20.2 play follows Login Success directly.
                self.state = State.PLAY
            out.append((name, reader))
        return out

    def names(self) -> list[str]:
        return [name for name, _ in self.read()]

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting

    # Steps of a normal join

    def handshake(self, next_state: int = 2, protocol: int | None = None,
                  host: str = "localhost") -> None:
        self.send("set_protocol", encode_varint(protocol or self.protocol)
                  + encode_string(host, 32767) + encode_ushort(25565) + encode_varint(next_state))
        self.state = State.STATUS if next_state == 1 else State.LOGIN

    def login_start(self, name: str = "Steve") -> None:
        if isinstance(self.table, WatchedTable):
            # Each version's own Login Start: name only, then signing key and UUID options.
            layout = self.table.info.layout(State.LOGIN, Direction.SERVERBOUND, "login_start")
            self.send("login_start", layouts.write(layout, {
                "username": name, "signature": None, "playerUUID": uuid.uuid4().bytes}))
            return
        self.send("login_start", encode_string(name) + encode_uuid(uuid.uuid4()))

    def join_old(self, name: str = "Steve", host: str = "localhost") -> list[str]:
        """Handshake to play for a version before 1.20.5; the names of every packet."""
        self.handshake(host=host)
        self.login_start(name)
        seen = self.names()
        if self.table.info.facts.get("configuration_state") and "success" in seen:
            self.send("login_acknowledged")
            self.state = State.CONFIGURATION
            seen += self.names()
            self.send("finish_configuration", state=State.CONFIGURATION)
            seen += self.names()
        return seen

    def join(self, name: str = "Steve") -> list[str]:
        """Handshake to play without forwarding; the names of every packet received."""
        self.handshake()
        self.login_start(name)
        seen = self.names()
        self.send("login_acknowledged")
        self.state = State.CONFIGURATION
        seen += self.names()
        self.send("select_known_packs", encode_varint(1) + encode_string("minecraft")
                  + encode_string("core") + encode_string("1.21.4"))
        seen += self.names()
        self.send("finish_configuration", state=State.CONFIGURATION)
        seen += self.names()
        return seen

    def chat_lines(self, packets: list[tuple[str, Reader]] | None = None) -> list[str]:
        lines = []
        for name, reader in packets if packets is not None else self.read():
            json_text = isinstance(self.table, WatchedTable) \
                and self.table.info.facts["text_format"] == "json"
            if name == "chat" or (name == "system_chat" and json_text):
                lines.append(plain_text(json_to_component(reader.string(262144))))
            elif name == "system_chat":
                component, _ = nbt_to_component(reader.data, reader.offset)
                lines.append(plain_text(component))
        return lines

    def plugin_response(self, message_id: int, data: bytes | None) -> None:
        body = encode_varint(message_id) + encode_bool(data is not None) + (data or b"")
        self.send("login_plugin_response", body)

    def keep_alive(self, keep_alive_id: int) -> None:
        self.send("keep_alive", encode_long(keep_alive_id))


def login_disconnect_text(reader: Reader) -> str:
    return plain_text(json_to_component(reader.string(262144)))
