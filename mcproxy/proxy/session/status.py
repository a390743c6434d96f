"""The status state: one server-list answer, one ping echoed, then the end."""

from __future__ import annotations

import json

from mcproxy.proxy.events import StatusPingEvent
from mcproxy.proxy.session.base import Phase, Refusal, SessionHandler
from mcproxy.wire.types import encode_long, encode_string


class StatusHandler(SessionHandler):
    """Answers Status Request once and Ping once; anything else is refused."""

    phase = Phase.STATUS
    timeout_reason = "HANDSHAKE_TIMEOUT"

    def __init__(self, connection) -> None:
        super().__init__(connection)
        self._sent = False
        self._waiting = False
        self._pending_ping: int | None = None

    def packet(self, packet_id: int, reader) -> None:
        if packet_id == 0x00 and not self._sent:
            reader.expect_end()
            self._sent = True
            text = self._answer()
            if isinstance(text, str):
                self.connection.send(0x00, encode_string(text))
            else:
                self._waiting = True
                text.addCallback(self._ready)
        elif packet_id == 0x01:
            payload = reader.long()
            reader.expect_end()
            if self._waiting:
                self._pending_ping = payload
            else:
                self._pong(payload)
        else:
            raise Refusal("UNEXPECTED_PACKET")

    def _answer(self):
        """The status text, or a Deferred of it; plugins may edit it on the way."""
        connection = self.connection
        proxy = connection.proxy
        handshake = connection.handshake
        text = proxy.status.response_json(handshake.protocol, handshake.host)
        if not proxy.events.wants(StatusPingEvent):
            return text
        if isinstance(text, str):
            return self._edited(text)
        return text.addCallback(self._edited)

    def _edited(self, text: str) -> str:
        connection = self.connection
        handshake = connection.handshake
        event = StatusPingEvent(connection.address, handshake.protocol, handshake.host, json.loads(text))
        connection.proxy.events.fire(event)
        try:
            return json.dumps(event.status, separators=(",", ":"))
        except (TypeError, ValueError):
            connection.proxy.log.warn("a plugin left a status that is not JSON; the unedited one is sent")
            return text

    def _ready(self, text: str) -> None:
        """A status that had to be fetched (pass-through) is here; a ping that came
        while it was on its way is answered after it, as clients expect."""
        if not self.active:
            return
        self._waiting = False
        self.connection.send(0x00, encode_string(text))
        if self._pending_ping is not None:
            self._pong(self._pending_ping)

    def _pong(self, payload: int) -> None:
        self.connection.send(0x01, encode_long(payload))
        self.connection.close()

