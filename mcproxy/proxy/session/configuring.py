"""What a client was asked and told in the configuration it is in, for a server taking it over.

A server that goes away while its player is still configuring with it is replaced in the
middle of that configuration (see ``PlayHandler.backend_lost``): the client never left it,
and it cannot be sent Start Configuration again. The new server starts its configuration
from the beginning, so without care the client is asked for its known packs a second time
(minecraft-protocol answers once per configuration) and sent registries it already holds
(the vanilla client refuses a duplicate entry). The servers of one network run the same
version with the same packs, so the first answer and the first registries stand for
both: the proxy answers the repeated question itself and keeps repeated registries back.
"""

from __future__ import annotations

from mcproxy.proxy.relay import DROP, FORWARD, Half, Phase as RelayPhase
from mcproxy.wire.types import Reader, WireError, encode_long, encode_varint


class ConfigurationMemo:
    """One play handler's memory of the client's current configuration, forgotten when the
    client finishes it."""

    def __init__(self, play) -> None:
        self._play = play
        self.forget()

    def forget(self) -> None:
        """A configuration ended (or none began yet)."""
        #: The client was asked which packs it knows.
        self.asked = False
        #: Its answer (the packet's fields), once it came.
        self.answer: bytes | None = None
        #: The server the client is relayed to has its answer.
        self.answered_here = False
        #: Registries the client was sent, by name.
        self.registries: set[str] = set()
        #: Keep-alives the proxy itself sent (to a held client): the answers are its own.
        self.own_keep_alives: set[bytes] = set()
        #: Servers that kicked the client in this configuration: not tried again in it.
        self.kicked_by: set[str] = set()

    def install(self, up: Half, down: Half) -> None:
        """Watch a new pair of halves: a new server, which has nobody's answer yet."""
        ids = self._play.connection.ids
        self.answered_here = False
        if ids.config_known_packs_answer is not None:
            # Where the answer's id is not known (26.2, 26.3), the question goes to the client.
            up.on(RelayPhase.CONFIGURATION, ids.config_known_packs_answer, self._client_answered)
            down.on(RelayPhase.CONFIGURATION, ids.config_select_known_packs, self._server_asks)
        down.on(RelayPhase.CONFIGURATION, ids.config_registry_data, self._registry)
        up.on(RelayPhase.CONFIGURATION, ids.config_keep_alive_response, self._keep_alive_answer)

    def keep_alive(self, ident: int) -> None:
        """A keep-alive of the proxy's own to a client held in configuration; its answer is
        kept from the server that takes the client over (a vanilla server drops a client
        answering a keep-alive it never sent)."""
        play = self._play
        body = encode_long(ident)
        self.own_keep_alives.add(body)
        play.send_down(play.connection.ids.config_keep_alive, body)

    def _keep_alive_answer(self, packet_id: int, fields: bytes):
        if fields in self.own_keep_alives:
            self.own_keep_alives.discard(fields)
            return DROP
        return FORWARD

    def _client_answered(self, packet_id: int, fields: bytes):
        self.answer = fields
        switch = self._play.switch
        self.answered_here = switch is None or not switch.leaving
        return FORWARD

    def _server_asks(self, packet_id: int, fields: bytes):
        if not self.asked:
            self.asked = True
            return FORWARD
        if self.answer is not None and not self.answered_here:
            play = self._play
            ids = play.connection.ids
            play.backend.transport.write(play.up.reframe(encode_varint(ids.config_known_packs_answer) + self.answer))
            self.answered_here = True
        # Otherwise the client's answer to the first question is on its way to this server.
        return DROP

    def _registry(self, packet_id: int, fields: bytes):
        try:
            name = Reader(fields).string(32767)
        except WireError:
            return FORWARD
        if name in self.registries:
            return DROP
        self.registries.add(name)
        return FORWARD
