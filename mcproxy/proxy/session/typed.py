"""What players type, in play: chat, commands, tab completion and the command tree.

Each version sends these its own way (see :mod:`mcproxy.wire.chat_input`): a ``/`` line
in ``chat`` before 1.19, ``chat_command`` after; tab completion as a list of words before
1.13, Brigadier suggestions with a transaction id after.  Proxy commands are run here
and never reach the backend; everything else passes untouched unless a plugin changes it.
"""

from __future__ import annotations

from collections import deque
from functools import partial

from mcproxy.proxy.events import Cancelled, PlayerChatEvent, PlayerCommandEvent, Rewritten
from mcproxy.proxy.relay import DROP, FORWARD, Half, Phase as RelayPhase
from mcproxy.wire.chat_input import (
    MAX_COMMAND, InputError, Typed, decode_completions, encode_completions, max_line, read_completion_request,
    read_typed,
)
from mcproxy.wire.types import Incomplete, WireError, encode_string, encode_varint

#: Old-style tab completions a client may have waiting on the backend; more are dropped.
MAX_PENDING_COMPLETIONS = 8


class TypedWatchers:
    """The watchers for chat, commands and completions of one play handler."""

    def __init__(self, play) -> None:
        self._play = play
        self._up: Half | None = None
        self._down: Half | None = None
        #: Old-style completions sent on to the backend, oldest first: the line for
        #: those whose answer gets the proxy's command names, None for the others.
        self._pending: deque[str | None] = deque()

    def install(self, up: Half, down: Half) -> None:
        connection = self._play.connection
        ids = connection.ids
        proxy = connection.proxy
        self._up, self._down = up, down
        self._pending.clear()
        up.on(RelayPhase.PLAY, ids.play_chat_command, partial(self._client_command, "chat_command"))
        up.on(RelayPhase.PLAY, ids.play_chat_command_signed, partial(self._client_command, "chat_command_signed"))
        up.on(RelayPhase.PLAY, ids.play_chat_message, self._client_chat)
        up.on(RelayPhase.PLAY, ids.play_chat_legacy_serverbound, self._client_line)
        if proxy.command_tree is None:
            return
        if ids.play_declare_commands is not None:
            down.on(RelayPhase.PLAY, ids.play_declare_commands, self._backend_commands)
            up.on(RelayPhase.PLAY, ids.play_tab_complete_request, self._client_tab_complete)
        else:
            up.on(RelayPhase.PLAY, ids.play_tab_complete_request, self._client_legacy_tab_complete)
            down.on(RelayPhase.PLAY, ids.play_tab_complete_response, self._backend_legacy_completions)

    # Chat and commands ----------------------------------------------------------------

    def _read(self, name: str, fields: bytes) -> Typed | None:
        try:
            return read_typed(self._play.connection.ids.protocol, name, fields)
        except InputError:
            # Not ours to judge: the backend refuses a malformed packet its own way.
            return None

    def _refused_on_signed(self, event) -> None:
        connection = self._play.connection
        connection.proxy.log.warn("a plugin tried to alter signed {kind} from {player}; sent unchanged",
                                  kind=type(event).__name__, player=connection.profile.name,
                                  correlation_id=connection.correlation_id)

    def _swallow(self, typed: Typed):
        """A packet the proxy keeps from the backend still acknowledged the messages the
        client saw; the backend must be told, or it counts the next one wrong."""
        ids = self._play.connection.ids
        if typed.acknowledgement is None or ids.play_message_acknowledgement is None:
            return DROP
        return self._up.reframe(encode_varint(ids.play_message_acknowledgement) + typed.acknowledgement)

    def _client_line(self, packet_id: int, fields: bytes):
        """Before 1.19 a command is a chat line starting with "/"."""
        typed = self._read("chat", fields)
        if typed is None:
            return FORWARD
        if typed.text.startswith("/"):
            return self._command(packet_id, typed, typed.text[1:], "/")
        return self._chat(packet_id, typed)

    def _client_chat(self, packet_id: int, fields: bytes):
        if not self._play.connection.proxy.events.wants(PlayerChatEvent):
            return FORWARD
        typed = self._read("chat_message", fields)
        return FORWARD if typed is None else self._chat(packet_id, typed)

    def _client_command(self, name: str, packet_id: int, fields: bytes):
        typed = self._read(name, fields)
        return FORWARD if typed is None else self._command(packet_id, typed, typed.text, "")

    def _chat(self, packet_id: int, typed: Typed):
        play = self._play
        proxy = play.connection.proxy
        if not proxy.events.wants(PlayerChatEvent):
            return FORWARD
        event = proxy.events.fire(PlayerChatEvent(play.connection.player, typed.text, typed.signed))
        result = event.result
        if isinstance(result, (Cancelled, Rewritten)) and typed.signed:
            self._refused_on_signed(event)
            return FORWARD
        if isinstance(result, Rewritten):
            limit = max_line(play.connection.ids.protocol)
            if len(result.text) > limit:
                proxy.log.warn("a plugin's rewritten chat is over {limit} characters; sent unchanged", limit=limit)
                return FORWARD
            return self._up.reframe(encode_varint(packet_id) + encode_string(result.text, limit) + typed.tail)
        if isinstance(result, Cancelled):
            return self._swallow(typed)
        return FORWARD

    def _command(self, packet_id: int, typed: Typed, line: str, prefix: str):
        """``line`` is the command without its "/"; ``prefix`` is what the packet puts before it."""
        connection = self._play.connection
        proxy = connection.proxy
        answer = FORWARD
        if proxy.events.wants(PlayerCommandEvent):
            event = proxy.events.fire(PlayerCommandEvent(connection.player, line, typed.signed))
            result = event.result
            if isinstance(result, Cancelled):
                # The proxy drops signed commands of its own too: cancelling one is allowed.
                return self._swallow(typed)
            if isinstance(result, Rewritten):
                if typed.signed:
                    self._refused_on_signed(event)
                else:
                    answer = self._rewritten(packet_id, typed, prefix + result.text)
                    if answer is not FORWARD:
                        line = result.text
        if proxy.commands.dispatch(connection, line):
            return self._swallow(typed)
        return answer

    def _rewritten(self, packet_id: int, typed: Typed, text: str):
        ids = self._play.connection.ids
        limit = max_line(ids.protocol) if ids.play_chat_legacy_serverbound == packet_id else MAX_COMMAND
        try:
            return self._up.reframe(encode_varint(packet_id) + encode_string(text, limit) + typed.tail)
        except WireError:
            self._play.connection.proxy.log.warn("a plugin's rewritten command is too long; sent unchanged")
            return FORWARD

    # The proxy's own commands in the client's tree (1.13 on) ----------------------------

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

    # Old-style completion (1.8 – 1.12.2) ------------------------------------------------

    def _client_legacy_tab_complete(self, packet_id: int, fields: bytes):
        """A line to complete: a proxy command's arguments are answered here; the backend
        answers the rest, and for "/partial" its answer gets the proxy's command names."""
        play = self._play
        connection = play.connection
        trees = connection.proxy.command_tree
        try:
            text, from_command_block = read_completion_request(connection.ids.protocol, fields)
        except InputError:
            return FORWARD
        if from_command_block:
            # A command block's line: a command without its "/", never a proxy command.
            text = ""
        matches = trees.complete_legacy(connection, text)
        if matches is not None:
            if play.in_play:
                play.send_down(connection.ids.play_tab_complete_response, encode_completions(matches))
            return DROP
        if len(self._pending) >= MAX_PENDING_COMPLETIONS:
            return DROP
        self._pending.append(text if trees.names_for(connection, text) else None)
        return FORWARD

    def _backend_legacy_completions(self, packet_id: int, fields: bytes):
        if not self._pending:
            return FORWARD
        text = self._pending.popleft()
        if text is None:
            return FORWARD
        connection = self._play.connection
        ours = connection.proxy.command_tree.names_for(connection, text) or []
        try:
            theirs = decode_completions(fields)
        except (WireError, Incomplete):
            return FORWARD
        known = {m.lower() for m in theirs}
        merged = theirs + sorted((m for m in ours if m.lower() not in known), key=str.lower)
        return self._down.reframe(encode_varint(packet_id) + encode_completions(merged))
