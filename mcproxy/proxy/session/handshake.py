"""The first state: a pre-1.7 ping, or a handshake saying what the client wants."""

from __future__ import annotations

from mcproxy.proxy.session.base import Phase, Refusal, SessionHandler
from mcproxy.proxy.session.login import LoginHandler
from mcproxy.proxy.session.status import StatusHandler
from mcproxy.wire import legacy
from mcproxy.wire.handshake import Intent, parse_handshake
from mcproxy.wire.login import LoginLayout
from mcproxy.wire.packets import SERVED_PROTOCOLS, packet_ids, supported_range


class HandshakeHandler(SessionHandler):
    """Reads the handshake; answers a legacy ping; admits a PROXY-protocol client's address."""

    phase = Phase.HANDSHAKE
    timeout_reason = "HANDSHAKE_TIMEOUT"

    def __init__(self, connection, address_pending: bool = False) -> None:
        super().__init__(connection)
        self._address_pending = address_pending

    def data_received(self, data: bytes) -> None:
        connection = self.connection
        if self._address_pending:
            self._address_pending = False
            connection.admit_address()
        if not connection.codec.decoder.buffer and data[:1] == b"\xfe":
            data = self._legacy_ping(data)
            if not data:
                return
        connection.feed(data)

    def _legacy_ping(self, data: bytes) -> bytes:
        """Answer a pre-1.7 server-list ping, which starts with 0xFE instead of a frame.

        The first read decides (:func:`mcproxy.wire.legacy.sniff_legacy_ping`); returns
        the bytes to read as modern frames when they are not a ping (a frame of 254, 382,
        ... bytes also starts with 0xFE: a handshake with a long host).
        """
        ping = legacy.sniff_legacy_ping(data)
        if ping is None:
            return data
        connection = self.connection
        proxy = connection.proxy
        motd, online, max_players = proxy.status.legacy_fields()
        proxy.count_handshake("legacy")
        connection.transport.write(legacy.encode_legacy_reply(ping, legacy.legacy_status(motd, online, max_players)))
        connection.close()
        return b""

    def packet(self, packet_id: int, reader) -> None:
        connection = self.connection
        proxy = connection.proxy
        reader.offset = 0
        handshake = parse_handshake(reader.rest())
        connection.handshake = handshake
        proxy.count_handshake(handshake.intent.name.lower())
        proxy.prelogin_gate.handshake_done(connection, logging_in=handshake.intent is not Intent.STATUS)
        if handshake.intent is Intent.STATUS:
            connection.set_handler(StatusHandler(connection))
            return
        if handshake.protocol not in SERVED_PROTOCOLS:
            connection.set_handler(LoginHandler(connection))
            raise Refusal("UNSUPPORTED_VERSION", f"This server supports Minecraft {supported_range()}.")
        connection.ids = packet_ids(handshake.protocol)
        connection.login_layout = LoginLayout.of(handshake.protocol)
        connection.set_handler(LoginHandler(connection))
        if handshake.intent is Intent.TRANSFER and not proxy.settings.accept_transfers:
            raise Refusal("TRANSFER_REFUSED", "This network does not accept transfers.")
        proxy.deadlines.set(connection, proxy.settings.login_timeout, connection._timed_out)
