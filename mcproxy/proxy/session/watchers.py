"""The packets the relay looks at in play, and what the proxy (and its plugins) do with them."""

from __future__ import annotations

from mcproxy.proxy.events import (
    Cancelled, Disconnected, KickedFromServerEvent, PlayerChatEvent, PlayerCommandEvent, PluginMessageEvent,
    Redirected, Rewritten, SwitchCause,
)
from mcproxy.proxy.relay import DROP, FORWARD, PAUSE, Half, Phase as RelayPhase
from mcproxy.proxy.session.switch import SwitchState
from mcproxy.wire import bungee, chat
from mcproxy.wire.text import read_text
from mcproxy.wire.types import Reader, WireError, encode_bool, encode_string, encode_varint

#: Chat Message after its text: timestamp and salt, then whether a signature follows.
_CHAT_SIGNATURE_FLAG = 16
_SIGNATURE_BYTES = 256
#: The longest chat message a client may send.
MAX_CHAT = 256


def nbt_text(fields: bytes) -> str:
    try:
        component, _ = chat.nbt_to_component(fields)
        return chat.plain_text(component)
    except WireError:
        return "(unreadable reason)"


class PlayWatchers:
    """Watchers for one play handler's halves; each returns FORWARD, DROP, PAUSE or a frame."""

    def __init__(self, play) -> None:
        self._play = play
        self._up: Half | None = None
        self._down: Half | None = None

    def install(self, up: Half, down: Half) -> None:
        play = self._play
        ids = play.connection.ids
        proxy = play.connection.proxy
        self._up, self._down = up, down
        up.on(RelayPhase.CONFIGURATION, ids.config_finish_ack, self._client_finished_configuration)
        up.on(RelayPhase.PLAY, ids.play_configuration_acknowledged, self._client_acknowledged_configuration)
        up.on(RelayPhase.PLAY, ids.play_chat_command, self._client_command)
        up.on(RelayPhase.PLAY, ids.play_chat_command_signed, self._client_command)
        up.on(RelayPhase.PLAY, ids.play_chat_message, self._client_chat)
        down.on(RelayPhase.CONFIGURATION, ids.config_finish, self._backend_finished_configuration)
        down.on(RelayPhase.PLAY, ids.play_start_configuration, self._backend_started_configuration)
        down.on(RelayPhase.CONFIGURATION, ids.config_disconnect, self._backend_kick)
        down.on(RelayPhase.PLAY, ids.play_kick, self._backend_kick)
        down.on(RelayPhase.PLAY, ids.play_login, self._backend_play_login)
        if proxy.command_tree is not None:
            down.on(RelayPhase.PLAY, ids.play_declare_commands, self._backend_commands)
            up.on(RelayPhase.PLAY, ids.play_tab_complete_request, self._client_tab_complete)
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
        return FORWARD

    def _client_acknowledged_configuration(self, packet_id: int, fields: bytes):
        self._up.enter(RelayPhase.CONFIGURATION)
        switch = self._play.switch
        if switch is not None and switch.state is SwitchState.AWAITING_ACK:
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
        """The play login of a (new) backend: held messages can follow it."""
        play = self._play
        if not play.held:
            return FORWARD
        system_chat = play.connection.ids.play_system_chat
        out = [self._down.reframe(encode_varint(packet_id) + fields)]
        for text in play.held:
            out.append(self._down.reframe(encode_varint(system_chat) + chat.text_to_nbt(text) + encode_bool(False)))
        play.held.clear()
        return b"".join(out)

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
        if self._down.phase is not RelayPhase.PLAY:
            return self._pass_kick()
        fallbacks = play.fallback_servers()
        result = proxy.events.fire(KickedFromServerEvent(connection.player, play.server, reason, fallbacks)).result
        if not play.active:
            return DROP
        if isinstance(result, Disconnected):
            play.kicked = True
            connection.leave_reason = "kicked"
            return self._down.reframe(encode_varint(packet_id) + play.text_fields(result.message))
        if isinstance(result, Redirected):
            if result.server in proxy.router.servers and result.server != play.server:
                play.transition.begin((result.server,), SwitchCause.KICKED, notice)
                return DROP
            proxy.log.warn("a plugin redirected {player} to {server}, which is not another server; falling back",
                           player=connection.profile.name, server=result.server,
                           correlation_id=connection.correlation_id)
        if fallbacks:
            play.transition.begin(fallbacks, SwitchCause.KICKED, notice)
            return DROP
        return self._pass_kick()

    def _pass_kick(self):
        """The kick goes to the player, whose session ends when the backend closes."""
        self._play.kicked = True
        self._play.connection.leave_reason = "kicked"
        return FORWARD

    # Chat, commands, plugin messages --------------------------------------------------

    def _refused_on_signed(self, event) -> None:
        connection = self._play.connection
        connection.proxy.log.warn("a plugin tried to alter signed {kind} from {player}; sent unchanged",
                                  kind=type(event).__name__, player=connection.profile.name,
                                  correlation_id=connection.correlation_id)

    def _client_chat(self, packet_id: int, fields: bytes):
        play = self._play
        proxy = play.connection.proxy
        if not proxy.events.wants(PlayerChatEvent):
            return FORWARD
        try:
            reader = Reader(fields)
            text = reader.string(MAX_CHAT)
            tail = reader.rest()
            signed = tail[_CHAT_SIGNATURE_FLAG] != 0
        except (WireError, IndexError):
            return FORWARD
        event = proxy.events.fire(PlayerChatEvent(play.connection.player, text, signed))
        result = event.result
        if isinstance(result, (Cancelled, Rewritten)) and signed:
            self._refused_on_signed(event)
            return FORWARD
        if isinstance(result, Rewritten):
            if len(result.text) > MAX_CHAT:
                proxy.log.warn("a plugin's rewritten chat is over {limit} characters; sent unchanged", limit=MAX_CHAT)
                return FORWARD
            return self._up.reframe(encode_varint(packet_id) + encode_string(result.text, MAX_CHAT) + tail)
        if isinstance(result, Cancelled):
            return self._acknowledge_instead(tail)
        return FORWARD

    def _acknowledge_instead(self, tail: bytes):
        """A cancelled chat message still acknowledged the messages the client saw;
        the server must be told, or it counts the next one wrong (as Velocity does)."""
        try:
            offset = Reader(tail[_CHAT_SIGNATURE_FLAG + 1:]).varint()
        except WireError:
            return DROP
        if not offset:
            return DROP
        ids = self._play.connection.ids
        return self._up.reframe(encode_varint(ids.play_message_acknowledgement) + encode_varint(offset))

    def _client_command(self, packet_id: int, fields: bytes):
        play = self._play
        connection = play.connection
        proxy = connection.proxy
        try:
            reader = Reader(fields)
            line = reader.string(32767)
            tail = reader.rest()
        except WireError:
            return FORWARD
        answer = FORWARD
        if proxy.events.wants(PlayerCommandEvent):
            signed = packet_id == connection.ids.play_chat_command_signed
            event = proxy.events.fire(PlayerCommandEvent(connection.player, line, signed))
            result = event.result
            if isinstance(result, Cancelled):
                # The proxy drops signed commands of its own too: cancelling one is allowed.
                return DROP
            if isinstance(result, Rewritten):
                if signed:
                    self._refused_on_signed(event)
                else:
                    line = result.text
                    answer = self._up.reframe(encode_varint(packet_id) + encode_string(line) + tail)
        if proxy.commands.dispatch(connection, line):
            return DROP
        return answer

    def _plugin_message(self, packet_id: int, fields: bytes, direction: str):
        connection = self._play.connection
        proxy = connection.proxy
        try:
            reader = Reader(fields)
            channel = reader.string(32767)
        except WireError:
            return FORWARD
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

    # The proxy's own commands in the client's tree --------------------------------------

    def _backend_commands(self, packet_id: int, fields: bytes):
        """The backend's command tree, with the proxy's commands this player may run added."""
        connection = self._play.connection
        merged = connection.proxy.command_tree.merged(connection, connection.ids.protocol, fields)
        if merged is None:
            return FORWARD
        return self._down.reframe(encode_varint(packet_id) + merged)

    def _client_tab_complete(self, packet_id: int, fields: bytes):
        """Completions for a proxy command come from the proxy; others go to the backend."""
        play = self._play
        connection = play.connection
        answer = connection.proxy.command_tree.complete(connection, fields)
        if answer is None:
            return FORWARD
        if play.in_play:
            play.send_down(connection.ids.play_tab_complete_response, answer)
        return DROP
