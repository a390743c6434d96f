"""The play state: the relay between the player and one backend, and moves between backends."""

from __future__ import annotations

import time

from twisted.internet import defer

from mcproxy.proxy.backend import BackendConnection
from mcproxy.proxy.cookies import ROUTE_COOKIE, encode_route
from mcproxy.proxy.events import ServerConnectedEvent, SwitchCause
from mcproxy.proxy.fastpath import fast_path
from mcproxy.proxy.relay import Half, Phase as RelayPhase, Throttle, joined, no_delay, relay_chunk
from mcproxy.proxy.session.base import Phase, SessionHandler
from mcproxy.proxy.session.configuring import ConfigurationMemo
from mcproxy.proxy.session.leftovers import ClientLeftovers
from mcproxy.proxy.session.switch import ServerSwitch, SwitchRefused, SwitchState
from mcproxy.proxy.session.transition import Transition, release
from mcproxy.proxy.session.watchers import PlayWatchers
from mcproxy.wire import chat
from mcproxy.wire.text import encode_text
from mcproxy.wire.types import WireError, encode_bytes, encode_string, encode_varint

#: Messages held for a player between servers; more are dropped.
MAX_QUEUED_MESSAGES = 16
#: Client bytes held while a fallback finds a server for a client already in configuration.
MAX_HELD_UP = 1024 * 1024


class PlayHandler(SessionHandler):
    """Relays frames both ways; watches the few packets the proxy must see."""

    phase = Phase.RELAY
    reads_packets = False

    def __init__(self, connection, backend: BackendConnection, server: str) -> None:
        super().__init__(connection)
        self.backend: BackendConnection | None = backend
        self.server = server
        self.up: Half | None = None
        self.down: Half | None = None
        #: The switch in flight, if any; at most one at a time.
        self.switch: ServerSwitch | None = None
        #: The backend kicked the player and the kick was passed on: its close ends the session.
        self.kicked = False
        self.held: list[str] = []
        #: What the old server showed that a client before 1.20.2 keeps over a switch.
        reconfigures = connection.ids.play_start_configuration is not None
        self.leftovers = None if reconfigures else ClientLeftovers(connection.ids)
        #: What the client was asked and sent in its configuration, for a server taking it over.
        self.configuration = ConfigurationMemo(self)
        self.watchers = PlayWatchers(self)
        self.transition = Transition(self)

    # Lifetime -------------------------------------------------------------------------

    def activated(self) -> None:
        connection = self.connection
        proxy = connection.proxy
        backend = self.backend
        proxy.deadlines.cancel(connection)
        proxy.read_watch.watch(connection, proxy.settings.read_timeout, self.client_silent)
        connection.leave_prelogin()
        leftover_client = connection.codec.decoder.take_buffer()
        self.attach(backend, self.server, b"")
        leftover_backend = backend.acknowledge_login()
        proxy.player_joined(connection)
        proxy.metrics_login_latency(time.monotonic() - connection.login_started)
        proxy.events.fire(ServerConnectedEvent(connection.player, self.server, None))
        if not self.active:
            return
        if leftover_client:
            self.relay_up(leftover_client)
        if leftover_backend:
            self.from_backend(backend, leftover_backend)

    def deactivated(self) -> None:
        """The player left (or was sent off): every backend it holds goes too."""
        self.transition.hold.end("left")
        self.transition.settled("left")
        switch, self.switch = self.switch, None
        backends = [self.backend]
        if switch is not None:
            backends.append(switch.backend)
            switch.fail("The player left.")
        self.backend = None
        for backend in {id(b): b for b in backends if b is not None}.values():
            release(backend)

    def attach(self, backend: BackendConnection, name: str, pending_up: bytes) -> None:
        """Make ``backend`` the relay's other end, both directions in configuration.

        ``pending_up`` is client bytes not yet relayed; they go to the new backend.
        """
        connection = self.connection
        # Before 1.20.2 there is no configuration state: Login Success leads straight to play.
        start = RelayPhase.CONFIGURATION if connection.ids.config_finish is not None else RelayPhase.PLAY
        up = Half("serverbound", connection.codec.threshold, backend.threshold, start)
        down = Half("clientbound", backend.threshold, connection.codec.threshold, start)
        up.buffer = bytearray(pending_up)
        self.up, self.down = up, down
        self.watchers.install(up, down)
        self.backend = backend
        self.server = name
        backend.on_lost = lambda reason: self.backend_lost(backend)
        backend.sink = lambda data: self.from_backend(backend, data)
        read_watch = connection.proxy.read_watch
        backend.read_watch = read_watch
        read_watch.watch(backend, connection.proxy.settings.read_timeout, lambda: self.backend_silent(backend))
        # Play traffic is many small packets; Nagle's algorithm would hold each one back
        # until the previous one is acknowledged (tens of milliseconds with delayed ACKs).
        transport = connection.transport
        no_delay(transport)
        no_delay(backend.transport)
        fast_path(transport)
        fast_path(backend.transport)
        if transport.producer is not None:
            transport.unregisterProducer()
        transport.registerProducer(Throttle(backend.transport), True)
        backend.transport.registerProducer(Throttle(transport), True)

    # The relay ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.relay_up(self.connection.codec.decrypt(data))

    def relay_up(self, data) -> None:
        switch = self.switch
        if switch is not None and switch.acknowledged and switch.backend is None:
            # In configuration for a server not found yet: its bytes wait for it.
            self._hold_up(data)
            return
        half = self.up
        frames = half.frames
        try:
            pieces = relay_chunk(half, data)
        except WireError as error:
            self._relay_error("client", error)
            return
        out = joined(pieces)
        backend = self.backend
        switch = self.switch
        if out and backend is not None and (switch is None or not switch.leaving):
            backend.transport.write(out)
            self.connection.proxy.count_relayed("serverbound", len(out), half.frames - frames)
        if switch is not None and switch.acknowledged and switch is self.switch and switch.backend is not None:
            self.transition.complete()

    def _hold_up(self, data) -> None:
        half = self.up
        if len(half.buffer) + len(data) > MAX_HELD_UP:
            connection = self.connection
            connection.proxy.refused("SWITCH_BUFFER_FULL", connection)
            connection.close()
            return
        half.buffer += data

    def from_backend(self, backend: BackendConnection, data: bytes) -> None:
        switch = self.switch
        if not self.active or backend is not self.backend or (switch is not None and switch.leaving):
            return
        half = self.down
        frames = half.frames
        try:
            pieces = relay_chunk(half, data)
        except WireError as error:
            self._relay_error("backend", error)
            return
        out = joined(pieces)
        if out:
            connection = self.connection
            connection.transport.write(connection.codec.encrypt(out))
            connection.proxy.count_relayed("clientbound", len(out), half.frames - frames)

    def _relay_error(self, side: str, error: WireError) -> None:
        connection = self.connection
        connection.proxy.log.info("malformed frame from {side}: {reason}", side=side, reason=error.reason,
                                  correlation_id=connection.correlation_id)
        if side == "client":
            connection.proxy.refused(error.reason, connection)
            connection.close()
        else:
            self.disconnect_player(f"The server {self.server} sent a malformed packet.")

    # Backends coming and going --------------------------------------------------------

    def backend_lost(self, backend: BackendConnection) -> None:
        if not self.active or backend is not self.backend:
            return
        message = f"Lost connection to the server {self.server}."
        switch = self.switch
        if switch is not None:
            # A switch is already on its way; it will take the player off this backend.
            self.transition.server_lost("switch")
            switch.old_backend_gone(message)
            return
        if self.kicked:
            self.connection.leave_reason = "kicked"
            self.connection.close()
            return
        # The lost server comes last: restarted, it takes its players back when no other
        # server does (the player is held meanwhile, see session/hold.py).
        names = self.fallback_servers() + (self.server,)
        if self.down.phase is RelayPhase.PLAY:
            self.transition.server_lost("play")
            self.transition.begin(names, SwitchCause.LOST, message)
            return
        self.transition.server_lost("configuration")
        connection = self.connection
        connection.proxy.log.info("{server} went away while {player} was configuring with it", server=self.server,
                                  player=connection.profile.name, correlation_id=connection.correlation_id)
        # Still configuring with the lost server (1.20.2+, just joined or just moved): the
        # next server takes that configuration over, as the client cannot go back to play.
        release(backend)
        self.backend = None
        self.transition.begin(names, SwitchCause.LOST, message, configuring=True)

    def client_silent(self) -> None:
        """Nothing from the client for ``read_timeout``.  An idle client (a bot, an older
        version) only answers its server's keep-alives: when the server has been as quiet,
        it is the one that stopped, and it goes instead; the client gets a new period."""
        connection = self.connection
        proxy = connection.proxy
        backend = self.backend
        timeout = proxy.settings.read_timeout
        if backend is not None and proxy.read_watch.silent_for(backend) >= timeout:
            proxy.read_watch.watch(connection, timeout, self.client_silent)
            self.backend_silent(backend)
            return
        connection.read_timed_out()

    def backend_silent(self, backend: BackendConnection) -> None:
        """Nothing from ``backend`` for ``read_timeout``: it is cut off, and its close is a
        lost backend like any other (:meth:`backend_lost`)."""
        backend.read_watch.forget(backend)
        if backend is self.backend and self.active:
            connection = self.connection
            connection.proxy.log.info("{server} sent nothing to {player} for {seconds} s; dropping it",
                                      server=self.server, player=connection.profile.name,
                                      seconds=connection.proxy.settings.read_timeout,
                                      correlation_id=connection.correlation_id)
        if backend.transport is not None:
            backend.transport.abortConnection()

    def fallback_servers(self) -> tuple[str, ...]:
        connection = self.connection
        return tuple(name for name in connection.proxy.router.candidates(connection.handshake.host)
                     if name != self.server)

    def switch_to(self, name: str, cause: SwitchCause) -> defer.Deferred:
        """See :meth:`PlayerConnection.switch_to`."""
        if self.switch is not None:
            return defer.fail(SwitchRefused("You are already being moved to another server."))
        if name == self.server:
            return defer.fail(SwitchRefused(f"You are already connected to {name}."))
        if name not in self.connection.proxy.router.servers:
            return defer.fail(SwitchRefused(f"There is no server called {name}."))
        if self.down.phase is not RelayPhase.PLAY or self.up.phase is not RelayPhase.PLAY:
            return defer.fail(SwitchRefused("You cannot switch servers right now, try again in a moment."))
        return self.transition.begin((name,), cause).result

    # Output ---------------------------------------------------------------------------

    @property
    def in_play(self) -> bool:
        """The client is in play with the backend it is relayed to (not on its way elsewhere)."""
        switch = self.switch
        return self.down.phase is RelayPhase.PLAY and (
            switch is None or switch.state in (SwitchState.CONNECTING, SwitchState.AWAITING_JOIN))

    def send_down(self, packet_id: int, fields: bytes) -> None:
        """A packet of our own, framed for the client's compression."""
        frame = self.down.reframe(encode_varint(packet_id) + fields)
        connection = self.connection
        connection.transport.write(connection.codec.encrypt(frame))

    def held_frames(self) -> list[bytes]:
        """The held messages, framed for the client, and forgotten."""
        protocol = self.connection.ids.protocol
        frames = [self.down.reframe(encode_varint(packet_id) + fields)
                  for packet_id, fields in (chat.system_message(protocol, chat.text_component(t)) for t in self.held)]
        self.held.clear()
        return frames

    def rejoin(self, join_game: bytes, respawns: tuple[bytes, bytes], early: bytes) -> None:
        """Move a client before 1.20.2 into the new backend's world: what the old server
        showed taken away, the new Join Game, the Respawn pair, then what the new
        backend sent before its Join Game and the held messages.  The new backend
        learns the plugin channels the client registered with the old one."""
        ids = self.connection.ids
        down = self.down
        out = [down.reframe(encode_varint(packet_id) + fields) for packet_id, fields in self.leftovers.removals()]
        out.append(down.reframe(encode_varint(ids.play_login) + join_game))
        out += [down.reframe(encode_varint(ids.play_respawn) + fields) for fields in respawns]
        if early:
            out.append(early)
        out += self.held_frames()
        connection = self.connection
        connection.transport.write(connection.codec.encrypt(b"".join(out)))
        register = self.leftovers.register_channels()
        if register is not None:
            self.backend.transport.write(self.up.reframe(encode_varint(register[0]) + register[1]))

    def send_system_message(self, text: str) -> None:
        self.send_system_component(chat.text_component(text))

    def send_system_component(self, component) -> None:
        """Show ``component`` in the player's chat in their version's packet; held back
        (as plain text) while they are between servers."""
        if self.in_play:
            self.send_down(*chat.system_message(self.connection.ids.protocol, component))
        elif len(self.held) < MAX_QUEUED_MESSAGES:
            self.held.append(chat.plain_text(component))

    def send_plugin_message_up(self, channel: str, data: bytes) -> None:
        """A plugin message of the proxy's own to the backend, in the state the relay is in
        towards it; the relay only ever writes whole frames, so this one slots in between."""
        backend, switch, up = self.backend, self.switch, self.up
        if backend is None or up is None or (switch is not None and switch.leaving):
            return
        ids = self.connection.ids
        packet_id = (ids.play_custom_payload_serverbound if up.phase is RelayPhase.PLAY
                     else ids.config_custom_payload_serverbound)
        backend.transport.write(up.reframe(encode_varint(packet_id) + encode_string(channel) + data))

    def transfer_out(self, host: str, port: int, server: str | None) -> None:
        """Send the Transfer packet; with a secret, a signed ``mcproxy:route`` cookie goes
        first, naming ``server`` (by default the current one) for a proxy of this network."""
        if not self.in_play:
            raise ValueError("the player cannot be transferred right now")
        connection = self.connection
        proxy = connection.proxy
        ids = connection.ids
        if ids.play_transfer is None:
            raise ValueError("their client version has no Transfer packet (1.20.5 and newer have)")
        if proxy.settings.secret:
            payload = encode_route(proxy.settings.secret, connection.profile.id, server or self.server,
                                   proxy.reactor.seconds())
            self.send_down(ids.play_store_cookie, encode_string(ROUTE_COOKIE) + encode_bytes(payload))
        proxy.log.info("transferring {player} to {host}:{port}", player=connection.profile.name, host=host,
                       port=port, correlation_id=connection.correlation_id)
        self.send_down(ids.play_transfer, encode_string(host) + encode_varint(port))

    def disconnect_player(self, message: str) -> None:
        ids = self.connection.ids
        if self.down.phase is RelayPhase.PLAY:
            self.send_down(ids.play_kick, self.text_fields(message))
        else:
            self.send_down(ids.config_disconnect, self.text_fields(message))
        self.connection.close()

    def text_fields(self, message: str) -> bytes:
        """``message`` as this client's version writes a text field: NBT from 1.20.3,
        a JSON string before."""
        return encode_text(self.connection.ids.protocol, message)
