"""A player's connection to the proxy: handshake, status, login, then the relay."""

from __future__ import annotations

import enum
import os
import time

from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper
from twisted.python.failure import Failure

from mcproxy.ops.logging import new_correlation_id
from mcproxy.proxy.auth import AuthenticationError, GameProfile, offline_profile
from mcproxy.proxy.backend import BackendConnection, BackendLogin, from_player
from mcproxy.proxy.cookies import MAX_COOKIE_BYTES, ROUTE_COOKIE, CookieRejected, decode_route, encode_route
from mcproxy.wire.handshake import Intent, parse_handshake
from mcproxy.wire.packets import LOGIN_DISCONNECT_ANY_VERSION, PacketIds, packet_ids, supported_range
from mcproxy.proxy.fastpath import fast_path
from mcproxy.proxy.relay import (
    DROP, FORWARD, PAUSE, Half, Throttle, Phase as RelayPhase, joined, no_delay, relay_chunk,
)
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.throttle import address_key
from mcproxy.wire import chat, legacy
from mcproxy.wire.cipher import rsa_decrypt, server_hash
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.forwarding import encode_properties
from mcproxy.wire.names import USERNAME_MAX_CHARS, is_valid_username
from mcproxy.wire.types import (
    Reader, WireError, encode_bool, encode_bytes, encode_long, encode_string, encode_uuid, encode_varint,
)

#: Messages held for a player between servers; more are dropped.
MAX_QUEUED_MESSAGES = 16


def _peer_host(transport) -> str:
    """The client's address as limits and logs use it ("" for a UNIX socket)."""
    return getattr(transport.getPeer(), "host", "") or ""


class Phase(enum.Enum):
    HANDSHAKE = "handshake"
    STATUS = "status"
    LOGIN = "login"
    ENCRYPTION = "encryption"
    AUTHENTICATING = "authenticating"
    ROUTE_COOKIE = "route-cookie"
    CONNECTING = "connecting"
    AWAIT_ACK = "await-login-ack"
    RELAY = "relay"
    CLOSED = "closed"


#: Phases in which a connection counts against ``handshake_concurrent_max``.
PRE_LOGIN = frozenset({Phase.HANDSHAKE, Phase.STATUS, Phase.LOGIN, Phase.ENCRYPTION,
                       Phase.AUTHENTICATING, Phase.ROUTE_COOKIE, Phase.CONNECTING, Phase.AWAIT_ACK})


class Refusal(Exception):
    """Why a connection was closed: a counter name and, for players, a message."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class SwitchRefused(Exception):
    """A server switch that did not happen; the message is for the player."""


def _nbt_text(fields: bytes) -> str:
    try:
        component, _ = chat.nbt_to_component(fields)
        return chat.plain_text(component)
    except WireError:
        return "(unreadable reason)"


class PlayerConnection(Protocol):
    """One client, from its first byte to its last."""

    def __init__(self, proxy) -> None:
        self.proxy = proxy
        self.phase = Phase.HANDSHAKE
        self.codec = PacketCodec(proxy.settings.max_prelogin_frame)
        self.correlation_id = new_correlation_id()
        self.address = ""
        self.handshake = None
        self.ids: PacketIds | None = None
        self.profile: GameProfile | None = None
        self.server: str | None = None
        self.backend: BackendConnection | None = None
        self._verify_token = b""
        self._login_started = 0.0
        self._up: Half | None = None
        self._down: Half | None = None
        self._kicked = False
        self._status_sent = False
        self._next: tuple[str, BackendConnection] | None = None
        self._draining: BackendConnection | None = None
        self._switching = False
        self._switched: defer.Deferred | None = None
        self._switch_ack_seen = False
        self._fallback_pending: str | None = None
        self._queued_messages: list[str] = []
        self._counted = False
        self._name = ""
        self._address_pending = False
        self._status_waiting = False
        self._pending_ping: int | None = None

    # Connection lifetime -------------------------------------------------------------

    def connectionMade(self) -> None:
        self.address = _peer_host(self.transport)
        proxy = self.proxy
        if not proxy.prelogin_gate.try_acquire():
            self.phase = Phase.CLOSED
            proxy.refused("HANDSHAKE_CONCURRENCY", self)
            self.transport.abortConnection()
            return
        self._address_pending = isinstance(self.transport, HAProxyProtocolWrapper)
        if not self._address_pending and not proxy.connection_limiter.allow(address_key(self.address)):
            self._leave_prelogin()
            self.phase = Phase.CLOSED
            proxy.refused("CONNECTION_RATE", self)
            self.transport.abortConnection()
            return
        self._counted = True
        proxy.connection_opened(self)
        proxy.deadlines.set(self, proxy.settings.handshake_timeout, self._timed_out)

    def _admit_proxied_address(self) -> None:
        """Behind PROXY protocol the client's address is known only once the header is
        read, which is before the first byte reaches us: limits apply to it, not to the
        load balancer's address that ``connectionMade`` saw."""
        self._address_pending = False
        self.address = _peer_host(self.transport)
        if not self.proxy.connection_limiter.allow(address_key(self.address)):
            raise Refusal("CONNECTION_RATE")

    def connectionLost(self, reason: Failure = None) -> None:
        previous = self.phase
        self.phase = Phase.CLOSED
        self.proxy.deadlines.cancel(self)
        if previous in PRE_LOGIN:
            self.proxy.prelogin_gate.release()
        if self._counted:
            self._counted = False
            self.proxy.connection_closed(self, previous)
        self._release_backends()
        self.backend = None
        self._draining = None
        waiter, self._switched = self._switched, None
        if waiter is not None:
            waiter.errback(SwitchRefused("The player left."))

    def _leave_prelogin(self) -> None:
        if self.phase in PRE_LOGIN:
            self.proxy.prelogin_gate.release()

    def _timed_out(self) -> None:
        reason = "HANDSHAKE_TIMEOUT" if self.phase in (Phase.HANDSHAKE, Phase.STATUS) else "LOGIN_TIMEOUT"
        self.refuse(Refusal(reason, "Timed out"))

    def refuse(self, refusal: Refusal) -> None:
        """Close with a counted reason, telling a player in login why."""
        if self.phase is Phase.CLOSED:
            return
        self.proxy.refused(refusal.reason, self)
        if refusal.message and self.phase in (
                Phase.LOGIN, Phase.ENCRYPTION, Phase.AUTHENTICATING, Phase.ROUTE_COOKIE, Phase.CONNECTING,
                Phase.AWAIT_ACK):
            packet_id = self.ids.login_disconnect if self.ids is not None else LOGIN_DISCONNECT_ANY_VERSION
            self._send(packet_id, encode_string(chat.text_to_json(refusal.message)))
        self._leave_prelogin()
        self.phase = Phase.CLOSED
        self.proxy.deadlines.cancel(self)
        self.transport.loseConnection()

    # Input --------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.phase is Phase.RELAY:
            self._from_client(data)
            return
        if self.phase is Phase.CLOSED:
            return
        try:
            if self._address_pending:
                self._admit_proxied_address()
            if self.phase is Phase.HANDSHAKE and not self.codec.decoder.buffer and data[:1] == b"\xfe":
                data = self._legacy_ping(data)
                if not data:
                    return
            self.codec.feed(data)
            while self.phase not in (Phase.CLOSED, Phase.RELAY):
                packet = self.codec.next_packet()
                if packet is None:
                    break
                self._packet(*packet)
        except WireError as error:
            self.refuse(Refusal(error.reason))
        except Refusal as refusal:
            self.refuse(refusal)

    def _legacy_ping(self, data: bytes) -> bytes:
        """Answer a pre-1.7 server-list ping, which starts with 0xFE instead of a frame.

        Returns the bytes to read as modern frames when they turn out not to be a ping:
        a frame of 254, 382, ... bytes also starts with 0xFE (a handshake with a long host).
        """
        ping = legacy.sniff_legacy_ping(data)
        if ping is None:
            return data
        motd, online, max_players = self.proxy.status.legacy_fields()
        self.proxy.count_handshake("legacy")
        self.transport.write(legacy.encode_legacy_reply(ping, legacy.legacy_status(motd, online, max_players)))
        self._leave_prelogin()
        self.phase = Phase.CLOSED
        self.proxy.deadlines.cancel(self)
        self.transport.loseConnection()
        return b""

    def _packet(self, packet_id: int, reader) -> None:
        phase = self.phase
        if phase is Phase.HANDSHAKE:
            self._on_handshake(packet_id, reader)
        elif phase is Phase.STATUS:
            self._on_status(packet_id, reader)
        elif phase is Phase.LOGIN:
            if packet_id != self.ids.login_start:
                raise Refusal("UNEXPECTED_PACKET")
            self._on_login_start(reader)
        elif phase is Phase.ENCRYPTION:
            if packet_id != self.ids.login_encryption_response:
                raise Refusal("UNEXPECTED_PACKET")
            self._on_encryption_response(reader)
        elif phase is Phase.ROUTE_COOKIE:
            if packet_id != self.ids.login_cookie_response:
                raise Refusal("UNEXPECTED_PACKET")
            self._on_route_cookie(reader)
        elif phase is Phase.AWAIT_ACK:
            if packet_id == self.ids.login_acknowledged:
                reader.expect_end()
                self._start_relay()
            elif packet_id != self.ids.login_cookie_response:
                raise Refusal("UNEXPECTED_PACKET")
        else:
            raise Refusal("UNEXPECTED_PACKET")

    def _on_handshake(self, packet_id: int, reader) -> None:
        reader.offset = 0
        handshake = parse_handshake(reader.rest())
        self.handshake = handshake
        self.proxy.count_handshake(handshake.intent.name.lower())
        if handshake.intent is Intent.STATUS:
            self.phase = Phase.STATUS
            return
        try:
            self.ids = packet_ids(handshake.protocol)
        except KeyError:
            self.phase = Phase.LOGIN
            raise Refusal("UNSUPPORTED_VERSION", self._unsupported_message()) from None
        self.phase = Phase.LOGIN
        if handshake.intent is Intent.TRANSFER and not self.proxy.settings.accept_transfers:
            raise Refusal("TRANSFER_REFUSED", "This network does not accept transfers.")
        self.proxy.deadlines.set(self, self.proxy.settings.login_timeout, self._timed_out)

    def _unsupported_message(self) -> str:
        return f"This server supports Minecraft {supported_range()}."

    def _on_status(self, packet_id: int, reader) -> None:
        if packet_id == 0x00 and not self._status_sent:
            reader.expect_end()
            self._status_sent = True
            text = self.proxy.status.response_json(self.handshake.protocol, self.handshake.host)
            if isinstance(text, str):
                self._send(0x00, encode_string(text))
            else:
                self._status_waiting = True
                text.addCallback(self._status_ready)
        elif packet_id == 0x01:
            payload = reader.long()
            reader.expect_end()
            if self._status_waiting:
                self._pending_ping = payload
            else:
                self._pong(payload)
        else:
            raise Refusal("UNEXPECTED_PACKET")

    def _status_ready(self, text: str) -> None:
        """A status that had to be fetched (pass-through) is here; a ping that came
        while it was on its way is answered after it, as clients expect."""
        if self.phase is not Phase.STATUS:
            return
        self._status_waiting = False
        self._send(0x00, encode_string(text))
        if self._pending_ping is not None:
            self._pong(self._pending_ping)

    def _pong(self, payload: int) -> None:
        self._send(0x01, encode_long(payload))
        self._leave_prelogin()
        self.phase = Phase.CLOSED
        self.proxy.deadlines.cancel(self)
        self.transport.loseConnection()

    # Login --------------------------------------------------------------------------

    def _on_login_start(self, reader) -> None:
        name = reader.string(USERNAME_MAX_CHARS)
        reader.uuid()
        reader.expect_end()
        if not is_valid_username(name):
            raise Refusal("BAD_USERNAME", "Invalid username.")
        self._login_started = time.monotonic()
        proxy = self.proxy
        if not proxy.login_limiter.allow(address_key(self.address)):
            raise Refusal("LOGIN_RATE", "You are logging in too fast, try again later.")
        if proxy.online_count() >= proxy.settings.max_players:
            raise Refusal("SERVER_FULL", "The server is full.")
        self._name = name
        if proxy.settings.online_mode:
            self._verify_token = os.urandom(4)
            fields = (encode_string("", 20) + encode_bytes(proxy.keypair.public_der)
                      + encode_bytes(self._verify_token) + encode_bool(True))
            self.phase = Phase.ENCRYPTION
            self._send(self.ids.login_encryption_request, fields)
        else:
            self._authenticated(offline_profile(name))

    def _on_encryption_response(self, reader) -> None:
        encrypted_secret = reader.byte_array(256)
        encrypted_token = reader.byte_array(256)
        reader.expect_end()
        try:
            shared_secret = rsa_decrypt(self.proxy.keypair.private_key, encrypted_secret)
            token = rsa_decrypt(self.proxy.keypair.private_key, encrypted_token)
        except ValueError:
            raise Refusal("BAD_ENCRYPTION", "Encryption failed.") from None
        if len(shared_secret) != 16 or token != self._verify_token:
            raise Refusal("BAD_ENCRYPTION", "Encryption failed.")
        self.codec.enable_encryption(shared_secret)
        self.phase = Phase.AUTHENTICATING
        digest = server_hash("", shared_secret, self.proxy.keypair.public_der)
        d = self.proxy.session_server.has_joined(self._name, digest)
        d.addCallbacks(self._authenticated, self._authentication_failed)

    def _authentication_failed(self, failure: Failure) -> None:
        if self.phase is Phase.CLOSED:
            return
        error = failure.value
        if isinstance(error, AuthenticationError):
            self.proxy.log.info("authentication failed: {reason}", reason=error.reason,
                                correlation_id=self.correlation_id)
            self.refuse(Refusal(error.reason, "Failed to verify username!"))
        else:
            self.proxy.log.failure("authentication error", failure, correlation_id=self.correlation_id)
            self.refuse(Refusal("AUTHENTICATION_ERROR", "Failed to verify username!"))

    def _authenticated(self, profile: GameProfile) -> None:
        if self.phase is Phase.CLOSED:
            return
        self.profile = profile
        proxy = self.proxy
        existing = proxy.players.get(profile.id)
        if existing is not None and not proxy.take_over(existing):
            self.profile = None
            self.refuse(Refusal("ALREADY_CONNECTED", "You are already connected to this proxy!"))
            return
        self.phase = Phase.CONNECTING
        proxy.log.info("player {player} ({uuid}) logging in from {peer}", player=profile.name,
                       uuid=str(profile.id), peer=self.address, correlation_id=self.correlation_id)
        proxy.hooks.login(self)
        if self.phase is Phase.CLOSED:
            return
        if self.handshake.intent is Intent.TRANSFER and proxy.settings.secret:
            # A player we (or a proxy sharing our secret) transferred may carry where to go.
            self.phase = Phase.ROUTE_COOKIE
            self._send(self.ids.login_cookie_request, encode_string(ROUTE_COOKIE))
            return
        self._connect_first(proxy.router.candidates(self.handshake.host))

    def _on_route_cookie(self, reader) -> None:
        key = reader.string(32767)
        payload = reader.byte_array(MAX_COOKIE_BYTES) if reader.bool() else b""
        reader.expect_end()
        if key != ROUTE_COOKIE:
            raise Refusal("UNEXPECTED_PACKET")
        names = self.proxy.router.candidates(self.handshake.host)
        if payload:
            settings = self.proxy.settings
            try:
                server = decode_route(payload, (settings.secret, settings.secret_previous), self.profile.id,
                                      self.proxy.reactor.seconds())
            except CookieRejected as rejected:
                self.proxy.log.info("routing cookie refused: {detail}", detail=rejected.detail,
                                    correlation_id=self.correlation_id)
                raise Refusal(rejected.reason, "Your transfer could not be verified.") from None
            if server in self.proxy.router.servers:
                names = (server, *(name for name in names if name != server))
            else:
                self.proxy.log.info("routing cookie names unknown server {server}", server=server,
                                    correlation_id=self.correlation_id)
        self.phase = Phase.CONNECTING
        self._connect_first(names)

    def _connect_first(self, names) -> None:
        """Log the player in to the first server of ``names`` that takes them."""
        proxy = self.proxy
        profile = self.profile
        login = BackendLogin(profile=profile, protocol=self.handshake.protocol, host=self.handshake.host,
                             port=self.handshake.port, address=self.address,
                             mode=proxy.settings.forwarding, secret=proxy.settings.secret,
                             **from_player(self.transport, self.handshake))
        d = proxy.router.connect(login, names, self.correlation_id)
        d.addCallbacks(self._backend_ready, self._no_backend)

    def _no_backend(self, failure: Failure) -> None:
        if self.phase is Phase.CLOSED:
            return
        if failure.check(NoServerAvailable):
            self.refuse(Refusal("NO_SERVER_AVAILABLE", failure.value.player_message()))
        else:
            self.proxy.log.failure("routing error", failure, correlation_id=self.correlation_id)
            self.refuse(Refusal("ROUTING_ERROR", "Could not connect you to a server."))

    def _backend_ready(self, result) -> None:
        name, backend = result
        if self.phase is Phase.CLOSED:
            backend.transport.loseConnection()
            return
        self.server = name
        self.backend = backend
        backend.on_lost = lambda reason: self._backend_lost(backend, reason)
        threshold = self.proxy.settings.compression_threshold
        if threshold >= 0:
            self._send(self.ids.login_compress, encode_varint(threshold))
            self.codec.enable_compression(threshold)
        profile = self.profile
        fields = [encode_uuid(profile.id), encode_string(profile.name, 16), encode_properties(profile.properties)]
        if self.ids.login_success_has_strict_flag:
            fields.append(encode_bool(False))
        self._send(self.ids.login_success, b"".join(fields))
        self.phase = Phase.AWAIT_ACK

    # Relay --------------------------------------------------------------------------

    def _start_relay(self) -> None:
        backend = self.backend
        proxy = self.proxy
        proxy.deadlines.cancel(self)
        self._leave_prelogin()
        self.phase = Phase.RELAY
        leftover_client = self.codec.decoder.take_buffer()
        self._attach(backend, self.server, b"")
        leftover_backend = backend.acknowledge_login()
        proxy.player_joined(self)
        proxy.metrics_login_latency(time.monotonic() - self._login_started)
        proxy.hooks.server_connected(self, self.server)
        if leftover_client:
            self._relay_up(leftover_client)
        if leftover_backend:
            self._from_backend(backend, leftover_backend)

    def _attach(self, backend: BackendConnection, name: str, pending_up: bytes) -> None:
        """Make ``backend`` the relay's other end, both directions in configuration.

        ``pending_up`` is client bytes not yet relayed; they go to the new backend.
        """
        ids = self.ids
        up = Half("serverbound", self.codec.threshold, backend.threshold, RelayPhase.CONFIGURATION)
        down = Half("clientbound", backend.threshold, self.codec.threshold, RelayPhase.CONFIGURATION)
        up.buffer = bytearray(pending_up)
        up.on(RelayPhase.CONFIGURATION, ids.config_finish_ack, self._client_finished_configuration)
        up.on(RelayPhase.PLAY, ids.play_configuration_acknowledged, self._client_acknowledged_configuration)
        up.on(RelayPhase.PLAY, ids.play_chat_command, self._client_command)
        up.on(RelayPhase.PLAY, ids.play_chat_command_signed, self._client_command)
        down.on(RelayPhase.CONFIGURATION, ids.config_finish, self._backend_finished_configuration)
        down.on(RelayPhase.PLAY, ids.play_start_configuration, self._backend_started_configuration)
        down.on(RelayPhase.CONFIGURATION, ids.config_disconnect, self._backend_kick)
        down.on(RelayPhase.PLAY, ids.play_kick, self._backend_kick)
        down.on(RelayPhase.PLAY, ids.play_login, self._backend_play_login)
        if self.proxy.command_tree is not None:
            down.on(RelayPhase.PLAY, ids.play_declare_commands, self._backend_commands)
            up.on(RelayPhase.PLAY, ids.play_tab_complete_request, self._client_tab_complete)
        self._up, self._down = up, down
        self.backend = backend
        self.server = name
        backend.on_lost = lambda reason: self._backend_lost(backend, reason)
        backend.sink = lambda data: self._from_backend(backend, data)
        # Play traffic is many small packets; Nagle's algorithm would hold each one back
        # until the previous one is acknowledged (tens of milliseconds with delayed ACKs).
        no_delay(self.transport)
        no_delay(backend.transport)
        fast_path(self.transport)
        fast_path(backend.transport)
        if self.transport.producer is not None:
            self.transport.unregisterProducer()
        self.transport.registerProducer(Throttle(backend.transport), True)
        backend.transport.registerProducer(Throttle(self.transport), True)

    def _from_client(self, data: bytes) -> None:
        self._relay_up(self.codec.decrypt(data))

    def _relay_up(self, data) -> None:
        half = self._up
        frames = half.frames
        try:
            pieces = relay_chunk(half, data)
        except WireError as error:
            self._relay_error("client", error)
            return
        out = joined(pieces)
        backend = self.backend
        if out and backend is not None and backend is not self._draining:
            backend.transport.write(out)
            self.proxy.count_relayed("serverbound", len(out), half.frames - frames)
        if self._switch_ack_seen:
            self._switch_ack_seen = False
            self._complete_switch()

    def _from_backend(self, backend: BackendConnection, data: bytes) -> None:
        if self.phase is not Phase.RELAY or backend is not self.backend or backend is self._draining:
            return
        half = self._down
        frames = half.frames
        try:
            pieces = relay_chunk(half, data)
        except WireError as error:
            self._relay_error("backend", error)
            return
        out = joined(pieces)
        if out:
            self.transport.write(self.codec.encrypt(out))
            self.proxy.count_relayed("clientbound", len(out), half.frames - frames)

    def _relay_error(self, side: str, error: WireError) -> None:
        self.proxy.log.info("malformed frame from {side}: {reason}", side=side, reason=error.reason,
                            correlation_id=self.correlation_id)
        if side == "client":
            self.proxy.refused(error.reason, self)
            self._close()
        else:
            self._disconnect_player(f"The server {self.server} sent a malformed packet.")

    def _client_finished_configuration(self, packet_id: int, fields: bytes):
        self._up.enter(RelayPhase.PLAY)
        return FORWARD

    def _client_acknowledged_configuration(self, packet_id: int, fields: bytes):
        self._up.enter(RelayPhase.CONFIGURATION)
        if self._next is not None:
            # The client left play for us, not for its backend: the rest of its bytes
            # belong to the new server.
            self._switch_ack_seen = True
            return PAUSE
        return FORWARD

    def _backend_finished_configuration(self, packet_id: int, fields: bytes):
        self._down.enter(RelayPhase.PLAY)
        return FORWARD

    def _backend_started_configuration(self, packet_id: int, fields: bytes):
        self._down.enter(RelayPhase.CONFIGURATION)
        return FORWARD

    def _backend_play_login(self, packet_id: int, fields: bytes):
        """The play login of a (new) backend: queued messages can follow it."""
        if not self._queued_messages:
            return FORWARD
        out = [self._down.reframe(encode_varint(packet_id) + fields)]
        for text in self._queued_messages:
            out.append(self._down.reframe(encode_varint(self.ids.play_system_chat)
                                          + chat.text_to_nbt(text) + encode_bool(False)))
        self._queued_messages.clear()
        return b"".join(out)

    def _backend_kick(self, packet_id: int, fields: bytes):
        reason = _nbt_text(fields)
        self.proxy.log.info("backend {server} kicked {player}: {reason}", server=self.server,
                            player=self.profile.name, reason=reason, correlation_id=self.correlation_id)
        if self._down.phase is RelayPhase.PLAY and self._next is None and self._fallback_servers():
            self._kicked = True
            self._fall_back(f"You were kicked from {self.server}: {reason}")
            return DROP
        self._kicked = True
        self.proxy.hooks.disconnect(self, "kicked")
        return FORWARD

    def _client_command(self, packet_id: int, fields: bytes):
        try:
            line = Reader(fields).string(32767)
        except WireError:
            return FORWARD
        if self.proxy.commands.dispatch(self, line):
            return DROP
        return FORWARD

    def _backend_commands(self, packet_id: int, fields: bytes):
        """The backend's command tree, with the proxy's commands this player may run added."""
        merged = self.proxy.command_tree.merged(self, self.ids.protocol, fields)
        if merged is None:
            return FORWARD
        return self._down.reframe(encode_varint(packet_id) + merged)

    def _client_tab_complete(self, packet_id: int, fields: bytes):
        """Completions for a proxy command come from the proxy; others go to the backend."""
        answer = self.proxy.command_tree.complete(self, fields)
        if answer is None:
            return FORWARD
        if self._down.phase is RelayPhase.PLAY and self._next is None:
            self._send_down(self.ids.play_tab_complete_response, answer)
        return DROP

    def _backend_lost(self, backend: BackendConnection, reason: Failure) -> None:
        if self.phase is Phase.AWAIT_ACK and backend is self.backend:
            self.backend = None
            self.refuse(Refusal("BACKEND_CLOSED", f"Lost connection to the server {self.server}."))
            return
        if self.phase is not Phase.RELAY or backend is not self.backend:
            return
        if self._switching and self._next is None:
            # A switch is already on its way; it will take the player off this backend.
            self._draining = backend
            return
        if self._kicked and self._next is None and self._fallback_pending is None:
            self._close()
            return
        if self._fallback_pending is not None or backend is self._draining:
            return
        message = f"Lost connection to the server {self.server}."
        if self._down.phase is RelayPhase.PLAY and self._next is None and self._fallback_servers():
            self._fall_back(message)
        else:
            self.backend = None
            self._disconnect_player(message)

    # Server switching -----------------------------------------------------------------

    def _backend_login(self) -> BackendLogin:
        settings = self.proxy.settings
        return BackendLogin(profile=self.profile, protocol=self.handshake.protocol, host=self.handshake.host,
                            port=self.handshake.port, address=self.address,
                            mode=settings.forwarding, secret=settings.secret,
                            **from_player(self.transport, self.handshake))

    def _fallback_servers(self) -> list[str]:
        tried = {self.server}
        return [name for name in self.proxy.router.candidates(self.handshake.host) if name not in tried]

    def _fall_back(self, message: str) -> None:
        """The backend is gone or kicked us: move to the next server, or leave with ``message``."""
        self._fallback_pending = message
        self._draining = self.backend
        names = self._fallback_servers()
        self.proxy.log.info("moving {player} off {server} to one of {names}", player=self.profile.name,
                            server=self.server, names=names, correlation_id=self.correlation_id)
        d = self.proxy.router.connect(self._backend_login(), names, self.correlation_id)
        d.addCallbacks(self._switch_ready, self._fallback_failed)

    def _fallback_failed(self, failure: Failure) -> None:
        message, self._fallback_pending = self._fallback_pending, None
        if self.phase is Phase.RELAY:
            self._disconnect_player(message or "No fallback server is available.")

    def switch_to(self, name: str) -> defer.Deferred:
        """Move the player to server ``name`` in place; fires with a message for them.

        The old backend is closed only once the new one has accepted the login; if it
        does not, the player stays where they were.
        """
        if self.phase is not Phase.RELAY:
            return defer.fail(SwitchRefused("You are not connected to a server."))
        if self._next is not None or self._switching or self._fallback_pending is not None:
            return defer.fail(SwitchRefused("You are already being moved to another server."))
        if name == self.server:
            return defer.fail(SwitchRefused(f"You are already connected to {name}."))
        if name not in self.proxy.router.servers:
            return defer.fail(SwitchRefused(f"There is no server called {name}."))
        if self._down.phase is not RelayPhase.PLAY or self._up.phase is not RelayPhase.PLAY:
            return defer.fail(SwitchRefused("You cannot switch servers right now, try again in a moment."))
        self._switching = True
        self._switched = defer.Deferred()
        self.proxy.hooks.server_chosen(self, name)
        d = self.proxy.router.connect(self._backend_login(), [name], self.correlation_id)
        d.addCallbacks(self._switch_ready, self._switch_failed)
        return self._switched

    def transfer_out(self, host: str, port: int = 25565, server: str | None = None) -> None:
        """Send the player to ``host:port`` with the Transfer packet; the client reconnects there.

        With a secret, a signed ``mcproxy:route`` cookie goes first, naming ``server`` (by
        default the current one) for a proxy of this network to route the player to.
        Raises ValueError when the player cannot be transferred now.
        """
        if not host or len(host) > 255 or not 0 < port < 65536:
            raise ValueError(f"not an address: {host}:{port}")
        if self.phase is not Phase.RELAY or self._down.phase is not RelayPhase.PLAY or self._next is not None:
            raise ValueError("the player cannot be transferred right now")
        settings = self.proxy.settings
        if settings.secret:
            payload = encode_route(settings.secret, self.profile.id, server or self.server,
                                   self.proxy.reactor.seconds())
            self._send_down(self.ids.play_store_cookie, encode_string(ROUTE_COOKIE) + encode_bytes(payload))
        self.proxy.log.info("transferring {player} to {host}:{port}", player=self.profile.name, host=host,
                            port=port, correlation_id=self.correlation_id)
        self._send_down(self.ids.play_transfer, encode_string(host) + encode_varint(port))

    def _switch_failed(self, failure: Failure) -> None:
        self._switching = False
        waiter, self._switched = self._switched, None
        if failure.check(NoServerAvailable):
            attempt = failure.value.attempts[0][1] if failure.value.attempts else None
            why = attempt.message or attempt.reason if attempt else "unreachable"
            message = f"Could not connect you to that server: {why}"
        else:
            self.proxy.log.failure("switch failed", failure, correlation_id=self.correlation_id)
            message = "Could not connect you to that server."
        if waiter is not None:
            waiter.errback(SwitchRefused(message))

    def _switch_ready(self, result) -> None:
        name, backend = result
        if self.phase is not Phase.RELAY or self._down.phase is not RelayPhase.PLAY:
            backend.transport.loseConnection()
            self._switching = False
            if self._switched is not None:
                waiter, self._switched = self._switched, None
                waiter.errback(SwitchRefused("The switch was interrupted."))
            if self._fallback_pending is not None:
                self._fallback_failed(Failure(SwitchRefused("interrupted")))
            return
        self._next = (name, backend)
        backend.on_lost = lambda reason: self._next_lost(backend)
        if self._draining is None:
            self._draining = self.backend
        self._down.enter(RelayPhase.CONFIGURATION)
        self._send_down(self.ids.play_start_configuration, b"")

    def _next_lost(self, backend: BackendConnection) -> None:
        if self._next is not None and self._next[1] is backend:
            self._next = None
            self._switching = False
            self._disconnect_player("The server you were moving to went away.")

    def _complete_switch(self) -> None:
        name, backend = self._next
        self._next = None
        old = self._draining
        self._draining = None
        pending_up = bytes(self._up.buffer)
        if old is not None:
            old.on_lost = None
            old.sink = None
            if old.transport is not None:
                old.transport.unregisterProducer()
                old.transport.loseConnection()
        previous = self.server
        self._attach(backend, name, pending_up)
        self._kicked = False
        leftover_backend = backend.acknowledge_login()
        fallback, self._fallback_pending = self._fallback_pending, None
        self._switching = False
        if fallback is not None:
            self._queued_messages.append(f"{fallback} You are now on {name}.")
        self.proxy.player_moved(self, previous, name)
        self.proxy.hooks.server_connected(self, name)
        waiter, self._switched = self._switched, None
        if waiter is not None:
            waiter.callback(f"You are now connected to {name}.")
        if self._up.buffer:
            self._relay_up(b"")
        if leftover_backend:
            self._from_backend(backend, leftover_backend)

    # Output --------------------------------------------------------------------------

    def _send(self, packet_id: int, fields: bytes) -> None:
        self.transport.write(self.codec.encode(packet_id, fields))

    def send_system_message(self, text: str) -> None:
        """Show ``text`` in the player's chat; held back while they are between servers."""
        if self.phase is not Phase.RELAY:
            return
        if self._down.phase is RelayPhase.PLAY and self._next is None:
            self._send_down(self.ids.play_system_chat, chat.text_to_nbt(text) + encode_bool(False))
        elif len(self._queued_messages) < MAX_QUEUED_MESSAGES:
            self._queued_messages.append(text)

    def _send_down(self, packet_id: int, fields: bytes) -> None:
        """A packet of our own, framed for the client's compression."""
        payload = encode_varint(packet_id) + fields
        frame = self._down.reframe(payload)
        self.transport.write(self.codec.encrypt(frame))

    def _disconnect_player(self, message: str) -> None:
        if self.phase is Phase.RELAY:
            if self._down.phase is RelayPhase.PLAY:
                self._send_down(self.ids.play_kick, chat.text_to_nbt(message))
            else:
                self._send_down(self.ids.config_disconnect, chat.text_to_nbt(message))
        self._close()

    def disconnect(self, message: str) -> None:
        """Disconnect the player with ``message``, whatever phase it is in."""
        if self.phase is Phase.RELAY:
            self._disconnect_player(message)
        else:
            self.refuse(Refusal("DISCONNECTED", message))

    def _close(self) -> None:
        self.transport.loseConnection()
        self._release_backends()

    def _release_backends(self) -> None:
        """Close every backend connection this player holds: current, draining, next."""
        nxt = self._next[1] if self._next is not None else None
        self._next = None
        for backend in {id(b): b for b in (self.backend, self._draining, nxt) if b is not None}.values():
            backend.on_lost = None
            backend.sink = None
            if backend.transport is not None:
                backend.transport.loseConnection()


class PlayerFactory(Factory):
    """Builds a :class:`PlayerConnection` per accepted socket, all sharing ``proxy``."""

    def __init__(self, proxy) -> None:
        self.proxy = proxy

    def buildProtocol(self, addr) -> PlayerConnection:
        protocol = PlayerConnection(self.proxy)
        protocol.factory = self
        return protocol
