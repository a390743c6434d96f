"""The packets the relay looks at in play, and what the proxy (and its plugins) do with them."""

from __future__ import annotations

from mcproxy.proxy.events import (
    Cancelled, Disconnected, KickedFromServerEvent, PluginMessageEvent, Redirected, SwitchCause,
)
from mcproxy.proxy.relay import DROP, FORWARD, PAUSE, Half, Phase as RelayPhase
from mcproxy.proxy.session.switch import SwitchState
from mcproxy.proxy.session.transition import release
from mcproxy.proxy.session.typed import TypedWatchers
from mcproxy.wire import bungee
from mcproxy.wire.join_game import with_online_mode
from mcproxy.wire.text import read_text
from mcproxy.wire.types import Reader, WireError, encode_varint


class PlayWatchers:
    """Watchers for one play handler's halves; each returns FORWARD, DROP, PAUSE or a frame."""

    def __init__(self, play) -> None:
        self._play = play
        self._up: Half | None = None
        self._down: Half | None = None
        self.typed = TypedWatchers(play)

    def install(self, up: Half, down: Half) -> None:
        play = self._play
        ids = play.connection.ids
        proxy = play.connection.proxy
        self._up, self._down = up, down
        up.on(RelayPhase.CONFIGURATION, ids.config_finish_ack, self._client_finished_configuration)
        up.on(RelayPhase.PLAY, ids.play_configuration_acknowledged, self._client_acknowledged_configuration)
        down.on(RelayPhase.CONFIGURATION, ids.config_finish, self._backend_finished_configuration)
        down.on(RelayPhase.PLAY, ids.play_start_configuration, self._backend_started_configuration)
        down.on(RelayPhase.CONFIGURATION, ids.config_disconnect, self._backend_kick)
        down.on(RelayPhase.PLAY, ids.play_kick, self._backend_kick)
        down.on(RelayPhase.PLAY, ids.play_login, self._backend_play_login)
        self.typed.install(up, down)
        play.configuration.install(up, down)
        if play.leftovers is not None:
            play.leftovers.install(up, down)
            up.on(RelayPhase.PLAY, ids.play_custom_payload_serverbound, self._plugin_message_up)
        if proxy.bungee is not None or proxy.events.wants(PluginMessageEvent):
            self.watch_plugin_messages()

    def watch_plugin_messages(self) -> None:
        """Look at plugin messages too: only for the BungeeCord channel or once a plugin
        wants them, as some servers send many and the relay would otherwise pass them
        without a look."""
        ids = self._play.connection.ids
        up, down = self._up, self._down
        up.on(RelayPhase.CONFIGURATION, ids.config_custom_payload_serverbound, self._plugin_message_up)
        up.on(RelayPhase.PLAY, ids.play_custom_payload_serverbound, self._plugin_message_up)
        down.on(RelayPhase.CONFIGURATION, ids.config_custom_payload, self._plugin_message_down)
        down.on(RelayPhase.PLAY, ids.play_custom_payload, self._plugin_message_down)

    # Phases ---------------------------------------------------------------------------

    def _client_finished_configuration(self, packet_id: int, fields: bytes):
        self._up.enter(RelayPhase.PLAY)
        self._play.configuration.forget()
        return FORWARD

    def _client_acknowledged_configuration(self, packet_id: int, fields: bytes):
        self._up.enter(RelayPhase.CONFIGURATION)
        switch = self._play.switch
        if switch is not None and (switch.state is SwitchState.AWAITING_ACK
                                   or (switch.reconfiguring and switch.in_flight)):
            # The client left play for us, not for its backend: the rest of its bytes
            # belong to the new server.
            switch.acknowledged = True
            return PAUSE
        return FORWARD

    def _backend_finished_configuration(self, packet_id: int, fields: bytes):
        self._down.enter(RelayPhase.PLAY)
        return FORWARD

    def _backend_started_configuration(self, packet_id: int, fields: bytes):
        self._down.enter(RelayPhase.CONFIGURATION)
        return FORWARD

    def _backend_play_login(self, packet_id: int, fields: bytes):
        """The play login of a (new) backend: from 26.2 it says the proxy's online mode,
        not the backend's (offline behind the proxy); held messages can follow it."""
        play = self._play
        connection = play.connection
        login = fields
        if connection.ids.join_game_has_online_mode:
            login = with_online_mode(fields, connection.proxy.settings.online_mode) or fields
        if not play.held:
            return FORWARD if login is fields else self._down.reframe(encode_varint(packet_id) + login)
        return b"".join([self._down.reframe(encode_varint(packet_id) + login)] + play.held_frames())

    # Kicks ----------------------------------------------------------------------------

    def _backend_kick(self, packet_id: int, fields: bytes):
        play = self._play
        connection = play.connection
        proxy = connection.proxy
        reason = read_text(connection.ids.protocol, fields)
        proxy.log.info("backend {server} kicked {player}: {reason}", server=play.server,
                       player=connection.profile.name, reason=reason, correlation_id=connection.correlation_id)
        notice = f"You were kicked from {play.server}: {reason}"
        if play.switch is not None:
            # A switch is on its way: it takes the player off this server, or they leave with the kick.
            play.switch.old_backend_gone(notice)
            return DROP
        configuring = self._down.phase is not RelayPhase.PLAY
        if configuring:
            # Kicked while configuring (a server's own login timeout, say): the next server
            # takes the configuration over, each at most once in it, so that servers that all
            # refuse the player do not pass them back and forth.
            play.configuration.kicked_by.add(play.server)
        fallbacks = tuple(name for name in play.fallback_servers() if name not in play.configuration.kicked_by)
        result = proxy.events.fire(KickedFromServerEvent(connection.player, play.server, reason, fallbacks)).result
        if not play.active:
            return DROP
        if isinstance(result, Disconnected):
            play.kicked = True
            connection.leave_reason = "kicked"
            return self._down.reframe(encode_varint(packet_id) + play.text_fields(result.message))
        if isinstance(result, Redirected):
            if result.server in proxy.router.servers and result.server != play.server:
                self._fall_back((result.server,), notice, configuring)
                return DROP
            proxy.log.warn("a plugin redirected {player} to {server}, which is not another server; falling back",
                           player=connection.profile.name, server=result.server,
                           correlation_id=connection.correlation_id)
        if fallbacks:
            self._fall_back(fallbacks, notice, configuring)
            return DROP
        return self._pass_kick()

    def _fall_back(self, names, notice: str, configuring: bool) -> None:
        play = self._play
        if configuring:
            # The client stays in its configuration for the next server; this one is done.
            release(play.backend)
            play.backend = None
        play.transition.begin(names, SwitchCause.KICKED, notice, configuring=configuring)

    def _pass_kick(self):
        """The kick goes to the player, whose session ends when the backend closes."""
        self._play.kicked = True
        self._play.connection.leave_reason = "kicked"
        return FORWARD

    # Plugin messages ------------------------------------------------------------------

    def _plugin_message(self, packet_id: int, fields: bytes, direction: str):
        connection = self._play.connection
        proxy = connection.proxy
        try:
            reader = Reader(fields)
            channel = reader.string(32767)
        except WireError:
            return FORWARD
        leftovers = self._play.leftovers
        if leftovers is not None and direction == "serverbound":
            leftovers.note_plugin_message(channel, fields[reader.offset:])
        if proxy.bungee is not None and channel in bungee.CHANNELS:
            # The proxy's channel: answered here, and a client may not speak on it.
            if direction == "clientbound":
                proxy.bungee.handle(self._play, channel, reader.rest())
            return DROP
        if not proxy.events.wants(PluginMessageEvent):
            return FORWARD
        event = proxy.events.fire(PluginMessageEvent(connection.player, channel, reader.rest(), direction))
        return DROP if isinstance(event.result, Cancelled) else FORWARD

    def _plugin_message_up(self, packet_id: int, fields: bytes):
        return self._plugin_message(packet_id, fields, "serverbound")

    def _plugin_message_down(self, packet_id: int, fields: bytes):
        return self._plugin_message(packet_id, fields, "clientbound")
