"""The proxy's own login to a backend, on the player's behalf."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

from mcproxy.proxy import forwarding
from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.fastpath import fast_path
from mcproxy.wire.packets import PacketIds
from mcproxy.wire.chat import json_to_component, plain_text
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.login import LoginLayout, encode_login_start, read_login_success
from mcproxy.wire.proxy_protocol import encode_header
from mcproxy.wire.types import (
    Reader, WireError, encode_bool, encode_string, encode_ushort, encode_varint,
)


class BackendRefused(Exception):
    """A backend would not take the player; ``reason`` is a counter name, ``message`` is
    what the backend said (if anything) for the player to read."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


class LoginPhase(enum.Enum):
    CONNECTING = "connecting"
    LOGGING_IN = "logging-in"
    LOGGED_IN = "logged-in"
    RELAYING = "relaying"
    CLOSED = "closed"


@dataclass(frozen=True)
class BackendLogin:
    """What the proxy tells a backend about the player."""

    profile: GameProfile
    protocol: int
    host: str
    port: int
    address: str
    mode: str
    secret: bytes = field(repr=False)
    #: "v1"/"v2": a PROXY header goes first, from ``source`` (the player) to ``destination``
    #: (the proxy's address the player reached).
    proxy_protocol: str = ""
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None
    #: A Forge client's host marker, passed on when forwarding leaves the host alone.
    fml_marker: str = ""
    #: While the player is still in the login state (first join): ``relay(channel, data)``
    #: passes a login plugin request on to them and fires with their answer (None: not
    #: understood). Without it, requests the proxy cannot answer are "not understood".
    plugin_relay: object = field(default=None, repr=False, compare=False)


def from_player(transport, handshake) -> dict:
    """What a backend login takes from the player's connection beyond the profile: the
    player's address and the one they connected to (for a PROXY header; behind a
    ``haproxy:`` listener, what the load balancer's header said) and a Forge marker."""
    peer, host = transport.getPeer(), transport.getHost()
    return {"source": _host_port(peer), "destination": _host_port(host), "fml_marker": handshake.fml_marker}


def _host_port(address) -> tuple[str, int] | None:
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    return (host, port) if host and port is not None else None


class BackendConnection(Protocol):
    """Logs in to a backend; ``ready`` fires with this protocol once Login Success arrives.

    After that it is a pipe: whatever the backend sends goes to ``sink(data)`` (the
    relay), and ``on_lost(reason)`` is called when the connection ends.
    """

    def __init__(self, login: BackendLogin, ids: PacketIds, max_frame_size: int) -> None:
        self.login = login
        self.ids = ids
        self.layout = LoginLayout.of(login.protocol)
        self.codec = PacketCodec(max_frame_size)
        self.phase = LoginPhase.CONNECTING
        self.ready: defer.Deferred = defer.Deferred()
        self.sink = None
        self.on_lost = None
        self.backend_profile: tuple | None = None
        #: Reads so far, and the watch that times them out once relaying (see PlayHandler.attach).
        self.reads = 0
        self.read_watch = None

    @property
    def threshold(self) -> int:
        return self.codec.threshold

    def connectionMade(self) -> None:
        self.phase = LoginPhase.LOGGING_IN
        login = self.login
        host = login.host + login.fml_marker
        if login.mode == "legacy":
            host = forwarding.legacy_host(login.host, login.address, login.profile)
        elif login.mode == "bungeeguard":
            host = forwarding.bungeeguard_host(
                login.host, login.address, login.profile, login.secret.decode("utf-8", "replace"))
        handshake = (encode_varint(login.protocol) + encode_string(host)
                     + encode_ushort(login.port) + encode_varint(2))
        start = encode_login_start(self.layout, login.profile.name, login.profile.id)
        header = encode_header(login.proxy_protocol, login.source, login.destination) if login.proxy_protocol else b""
        fast_path(self.transport)
        self.transport.write(header + self.codec.encode(0x00, handshake) + self.codec.encode(self.ids.login_start, start))
        factory = getattr(self, "factory", None)
        if factory is not None:
            factory.made(self)

    def dataReceived(self, data: bytes) -> None:
        self.reads += 1
        if self.phase is LoginPhase.RELAYING:
            # A player who left or moved on lets go of this backend (sink None) and
            # closes it, but a read the reactor already polled can still arrive.
            sink = self.sink
            if sink is not None:
                sink(data)
            return
        if self.phase is not LoginPhase.LOGGING_IN:
            self.codec.decoder.feed(data)
            return
        try:
            self.codec.feed(data)
            while self.phase is LoginPhase.LOGGING_IN:
                packet = self.codec.next_packet()
                if packet is None:
                    break
                self._login_packet(*packet)
        except WireError as error:
            self._fail(BackendRefused("BACKEND_PROTOCOL_ERROR", error.reason))
        except BackendRefused as refusal:
            self._fail(refusal)

    def _login_packet(self, packet_id: int, reader: Reader) -> None:
        ids = self.ids
        if packet_id == ids.login_compress:
            self.codec.enable_compression(reader.varint())
        elif packet_id == ids.login_plugin_request:
            message_id = reader.varint()
            channel = reader.string(256)
            data = reader.rest()
            self._answer_plugin(message_id, channel, data)
        elif packet_id == ids.login_success:
            self.backend_profile = read_login_success(self.layout, reader)
            self.phase = LoginPhase.LOGGED_IN
            self.ready.callback(self)
        elif packet_id == ids.login_disconnect:
            raise BackendRefused("BACKEND_KICKED", _kick_text(reader.string()))
        elif packet_id == ids.login_encryption_request:
            raise BackendRefused("BACKEND_ONLINE_MODE", "the backend asks for encryption; set it to offline mode")
        elif packet_id == ids.login_cookie_request:
            key = reader.string(32767)
            self._write(ids.login_cookie_response, encode_string(key) + encode_bool(False))
        else:
            raise BackendRefused("BACKEND_PROTOCOL_ERROR", f"unexpected login packet {packet_id:#x}")

    def _answer_plugin(self, message_id: int, channel: str, data: bytes) -> None:
        login = self.login
        if channel == forwarding.MODERN_CHANNEL and login.mode == "modern":
            requested = data[0] if data else forwarding.FORWARDING_DEFAULT
            answer = forwarding.modern_response(login.secret, requested, login.address, login.profile)
            self._plugin_response(message_id, answer)
        elif channel != forwarding.MODERN_CHANNEL and login.plugin_relay is not None:
            # Forge's handshake and other mods' login channels belong to the client (as Velocity relays them).
            login.plugin_relay(channel, data).addCallback(lambda answer: self._plugin_response(message_id, answer))
        else:
            self._plugin_response(message_id, None)

    def _plugin_response(self, message_id: int, answer: bytes | None) -> None:
        if self.phase is not LoginPhase.LOGGING_IN:
            return
        understood = encode_bool(True) + answer if answer is not None else encode_bool(False)
        self._write(self.ids.login_plugin_response, encode_varint(message_id) + understood)

    def _write(self, packet_id: int, fields: bytes) -> None:
        self.transport.write(self.codec.encode(packet_id, fields))

    def acknowledge_login(self) -> bytes:
        """Send Login Acknowledged (1.20.2+; older backends are in play after Login
        Success) and hand over anything already buffered."""
        if self.ids.login_acknowledged is not None:
            self._write(self.ids.login_acknowledged, b"")
        self.phase = LoginPhase.RELAYING
        return self.codec.decoder.take_buffer()

    def _fail(self, refusal: BackendRefused) -> None:
        if not self.ready.called:
            self.phase = LoginPhase.CLOSED
            self.ready.errback(Failure(refusal))
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        previous = self.phase
        self.phase = LoginPhase.CLOSED
        if self.read_watch is not None:
            self.read_watch.forget(self)
        if not self.ready.called:
            self.ready.errback(Failure(BackendRefused("BACKEND_CLOSED", "the backend closed the connection during login")))
        elif previous in (LoginPhase.RELAYING, LoginPhase.LOGGED_IN) and self.on_lost is not None:
            on_lost, self.on_lost = self.on_lost, None
            on_lost(reason)


class BackendFactory(ClientFactory):
    """One per backend connection; ``noisy`` off, or each would log its own start and stop.

    Handed to ``connectTCP`` itself, so no endpoint's wrapping protocol sits between the
    socket and the backend connection for every read it relays: ``connected`` fires with
    the protocol once it is connected (and has sent its login), or fails with why not.
    """

    noisy = False

    def __init__(self, login: BackendLogin, ids: PacketIds, max_frame_size: int) -> None:
        self._args = (login, ids, max_frame_size)
        self.connected: defer.Deferred = defer.Deferred()

    def buildProtocol(self, addr) -> BackendConnection:
        protocol = BackendConnection(*self._args)
        protocol.factory = self
        return protocol

    def made(self, protocol: BackendConnection) -> None:
        if not self.connected.called:
            self.connected.callback(protocol)

    def clientConnectionFailed(self, connector, reason: Failure) -> None:
        if not self.connected.called:
            self.connected.errback(reason)


def _kick_text(raw: str) -> str:
    """What a backend's login-state kick says, as plain text for the player."""
    try:
        return plain_text(json_to_component(raw))
    except (ValueError, WireError):
        return raw[:256]
