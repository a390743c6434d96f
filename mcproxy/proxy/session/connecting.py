"""The connecting state: the first server logs the player in, then Login Success and its acknowledgement."""

from __future__ import annotations

from dataclasses import replace

from twisted.internet import defer
from twisted.python.failure import Failure

from mcproxy.proxy.events import Denied, PreConnectEvent, Redirected, SwitchCause
from mcproxy.proxy.routing import NoServerAvailable
from mcproxy.proxy.session.base import Phase, Refusal, SessionHandler
from mcproxy.proxy.session.hold import RETRY_DELAYS
from mcproxy.proxy.session.play import MAX_HELD_UP, PlayHandler
from mcproxy.wire.forwarding import encode_properties
from mcproxy.wire.login import encode_login_success
from mcproxy.wire.text import encode_text
from mcproxy.wire.types import encode_string, encode_varint

#: Login plugin requests a backend may have waiting on the client at once.
MAX_RELAYED_REQUESTS = 64

#: Refusals that say a server is not there at all (stopped, restarting) rather than that it
#: would not take the player: a join every server refused so is tried again for a while.
ABSENT = frozenset({"BACKEND_UNREACHABLE", "BACKEND_CLOSED", "BACKEND_CONNECT_TIMEOUT"})


class ConnectingHandler(SessionHandler):
    """Routes the player to the first of ``names`` that takes them.

    ``phase`` is CONNECTING while the router works (no packet is legal), then
    AWAIT_ACK once Login Success is sent, until Login Acknowledged hands the
    connection to the relay (at once, before 1.20.2, which has no acknowledgement).
    """

    phase = Phase.CONNECTING
    in_login = True

    def __init__(self, connection, names) -> None:
        super().__init__(connection)
        self.names = tuple(names)
        self.server: str | None = None
        self.backend = None
        #: Login plugin requests passed on to the client, by the id the proxy gave them.
        self._relayed: dict[int, defer.Deferred] = {}
        self._next_message_id = 0
        #: Tries made again because every server was away, and when the first was made.
        self._tries = 0
        self._began = 0.0
        #: Login Success went out (the client's next state is configuration), and the client
        #: acknowledged it while no server was there to take it.
        self._success_sent = False
        self._acknowledged = False

    def activated(self) -> None:
        connection = self.connection
        proxy = connection.proxy
        names = self.names
        event = PreConnectEvent(connection.player, names[0] if names else "", SwitchCause.JOIN, None)
        result = proxy.events.fire(event).result
        if not self.active:
            return
        if isinstance(result, Denied):
            connection.refuse(Refusal("PLUGIN_DENIED", result.message))
            return
        if isinstance(result, Redirected):
            if result.server not in proxy.router.servers:
                proxy.log.warn("a plugin redirected {player} to unknown server {server}",
                               player=connection.profile.name, server=result.server,
                               correlation_id=connection.correlation_id)
                connection.refuse(Refusal("NO_SERVER_AVAILABLE", f"There is no server called {result.server}."))
                return
            names = (result.server,)
        self.names = names
        self._began = proxy.reactor.seconds()
        self._route()

    def _route(self) -> None:
        if not self.active:
            return
        connection = self.connection
        login = connection.backend_login()
        if connection.ids.login_plugin_request is not None:
            login = replace(login, plugin_relay=self._relay_plugin_request)
        d = connection.proxy.router.connect(login, self.names, connection.correlation_id)
        d.addCallbacks(self._backend_ready, self._no_backend)

    def deactivated(self) -> None:
        self.connection.proxy.deadlines.cancel((self, "retry"))
        self._counted("left")
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.on_lost = None
            backend.transport.loseConnection()

    def _counted(self, outcome: str) -> None:
        """How a join that found every server away ended (``mcproxy_backend_losses_total``)."""
        if self._tries:
            self._tries = 0
            self.connection.proxy.metrics.backend_losses.labels("login", outcome).inc()

    def _away(self, error: NoServerAvailable) -> bool:
        """Every server is away (a restart): try again after the pauses of a held fallback
        (session/hold.py), within half of ``login_timeout`` (or ``fallback_hold``, if shorter),
        as the client in login hears nothing meanwhile."""
        if not error.attempts or any(refusal.reason not in ABSENT for _, refusal in error.attempts):
            return False
        proxy = self.connection.proxy
        delay = RETRY_DELAYS[min(self._tries, len(RETRY_DELAYS) - 1)]
        limit = min(proxy.settings.fallback_hold, proxy.settings.login_timeout / 2)
        if proxy.reactor.seconds() - self._began + delay > limit:
            return False
        self._tries += 1
        proxy.deadlines.set((self, "retry"), delay, self._route)
        return True

    def _no_backend(self, failure: Failure) -> None:
        if not self.active:
            return
        connection = self.connection
        if failure.check(NoServerAvailable) and self._away(failure.value):
            return
        self._counted("disconnected")
        if failure.check(NoServerAvailable):
            refusal = Refusal(failure.value.reason, failure.value.player_message())
        else:
            connection.proxy.log.failure("routing error", failure, correlation_id=connection.correlation_id)
            refusal = Refusal("ROUTING_ERROR", "Could not connect you to a server.")
        if self._success_sent:
            # Past Login Success the client reads configuration packets, not a login kick.
            connection.send(connection.ids.config_disconnect, encode_text(connection.ids.protocol, refusal.message))
            refusal.message = ""
        connection.refuse(refusal)

    def _backend_ready(self, result) -> None:
        name, backend = result
        if not self.active:
            backend.transport.loseConnection()
            return
        connection = self.connection
        self._counted("moved")
        self.server = name
        self.backend = backend
        backend.on_lost = self._backend_lost
        if self._success_sent:
            # A server that went away after Login Success is replaced by this one.
            if self._acknowledged:
                self._enter_play()
            return
        threshold = connection.proxy.settings.compression_threshold
        ids = connection.ids
        if threshold >= 0:
            connection.send(ids.login_compress, encode_varint(threshold))
            connection.codec.enable_compression(threshold)
        profile = connection.profile
        layout = connection.login_layout
        session_id = connection.proxy.play_session.current() if layout.success_session_id else None
        connection.send(ids.login_success, encode_login_success(
            layout, profile.id, profile.name, encode_properties(profile.properties), session_id))
        self._success_sent = True
        if ids.login_acknowledged is None:
            # Before 1.20.2 there is no acknowledgement: the client is in play at once.
            self._enter_play()
        else:
            self.phase = Phase.AWAIT_ACK

    def data_received(self, data: bytes) -> None:
        if self._acknowledged and len(self.connection.codec.decoder.buffer) + len(data) > MAX_HELD_UP:
            raise Refusal("SWITCH_BUFFER_FULL")
        self.connection.feed(data)

    def _enter_play(self) -> None:
        backend, self.backend = self.backend, None
        self.connection.set_handler(PlayHandler(self.connection, backend, self.server))

    def _backend_lost(self, reason) -> None:
        """The server went away between Login Success and the client's acknowledgement (the
        client is on its way into configuration): the next server takes the player, the lost
        one last, as a fallback would."""
        if not self.active:
            return
        self.backend = None
        lost = self.server
        self.names = tuple(name for name in self.names if name != lost) + (lost,)
        self._tries += 1
        self._route()

    def _relay_plugin_request(self, channel: str, data: bytes) -> defer.Deferred:
        """Pass a backend's login plugin request on to the client, under an id of the proxy's own."""
        if not self.active or self.phase is not Phase.CONNECTING or len(self._relayed) >= MAX_RELAYED_REQUESTS:
            return defer.succeed(None)
        message_id = self._next_message_id
        self._next_message_id += 1
        d = self._relayed[message_id] = defer.Deferred()
        self.connection.send(self.connection.ids.login_plugin_request,
                             encode_varint(message_id) + encode_string(channel) + data)
        return d

    def _plugin_response(self, reader) -> None:
        d = self._relayed.pop(reader.varint(), None)
        if d is None:
            raise Refusal("UNEXPECTED_PACKET")
        understood = reader.bool()
        d.callback(reader.rest() if understood else None)

    def packet(self, packet_id: int, reader) -> None:
        ids = self.connection.ids
        if self._relayed and packet_id == ids.login_plugin_response:
            self._plugin_response(reader)
        elif self.phase is Phase.AWAIT_ACK and packet_id == ids.login_acknowledged and not self._acknowledged:
            reader.expect_end()
            if self.backend is not None:
                self._enter_play()
                return
            # No server yet: what the client sends next is its configuration, for the server to come.
            self._acknowledged = True
            self.reads_packets = False
            self.in_login = False
        elif self.phase is not Phase.AWAIT_ACK or packet_id != ids.login_cookie_response:
            raise Refusal("UNEXPECTED_PACKET")
