"""The first state: a pre-1.7 ping, or a handshake saying what the client wants."""

from __future__ import annotations

from mcproxy.proxy.handshake import Intent, parse_handshake
from mcproxy.proxy.packet_ids import packet_ids
from mcproxy.proxy.session.base import Phase, Refusal, SessionHandler
from mcproxy.proxy.session.login import LoginHandler
from mcproxy.proxy.session.status import StatusHandler
from mcproxy.proxy.status import supported_range
from mcproxy.wire import legacy
from mcproxy.wire.types import Incomplete, WireError

#: A 1.6 legacy ping with its host name fits easily in this.
LEGACY_PING_MAX = 1024


class HandshakeHandler(SessionHandler):
    """Reads the handshake; answers a legacy ping; admits a PROXY-protocol client's address."""

    phase = Phase.HANDSHAKE
    timeout_reason = "HANDSHAKE_TIMEOUT"

    def __init__(self, connection, address_pending: bool = False) -> None:
        super().__init__(connection)
        self._address_pending = address_pending
        self._legacy_buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        connection = self.connection
        if self._address_pending:
            self._address_pending = False
            connection.admit_address()
        if self._legacy_buffer or (not connection.codec.decoder.buffer and data[:1] == b"\xfe"):
            data = self._legacy_ping(data)
            if not data:
                return
        connection.feed(data)

    def _legacy_ping(self, data: bytes) -> bytes:
        """Answer a pre-1.7 server-list ping, which starts with 0xFE instead of a frame.

        Returns the bytes to read as modern frames when they turn out not to be a ping:
        a frame of 254, 382, ... bytes also starts with 0xFE (a handshake with a long host).
        """
        self._legacy_buffer += data
        buffered = bytes(self._legacy_buffer)
        try:
            ping = legacy.parse_legacy_ping(buffered, final=buffered in (b"\xfe", b"\xfe\x01"))
        except Incomplete:
            if buffered.startswith(b"\xfe\x01\xfa"):
                # No frame starts so (a handshake's packet id is 0): this is a 1.6 ping whose
                # MC|PingHost tail is late or, as from mcstatus, never sent. The tail only
                # names the host, and the reply is the same without it.
                ping = legacy.LegacyPing(legacy.LegacyPingKind.V1_6, len(buffered))
            elif len(buffered) > LEGACY_PING_MAX:
                raise WireError("BAD_LEGACY_PING", "too long") from None
            else:
                return b""
        if ping is None:
            self._legacy_buffer.clear()
            return buffered
        connection = self.connection
        proxy = connection.proxy
        motd, online, max_players = proxy.status.legacy_fields()
        proxy.count_handshake("legacy")
        status = legacy.LegacyStatus(motd, online, max_players, protocol=127,
                                     version=f"mcproxy {supported_range()}")
        connection.transport.write(legacy.encode_legacy_reply(ping, status))
        connection.close()
        return b""

    def packet(self, packet_id: int, reader) -> None:
        connection = self.connection
        proxy = connection.proxy
        reader.offset = 0
        handshake = parse_handshake(reader.rest())
        connection.handshake = handshake
        proxy.count_handshake(handshake.intent.name.lower())
        if handshake.intent is Intent.STATUS:
            connection.set_handler(StatusHandler(connection))
            return
        try:
            connection.ids = packet_ids(handshake.protocol)
        except KeyError:
            connection.set_handler(LoginHandler(connection))
            raise Refusal("UNSUPPORTED_VERSION", f"This server supports Minecraft {supported_range()}.") from None
        connection.set_handler(LoginHandler(connection))
        if handshake.intent is Intent.TRANSFER and not proxy.settings.accept_transfers:
            raise Refusal("TRANSFER_REFUSED", "This network does not accept transfers.")
        proxy.deadlines.set(connection, proxy.settings.login_timeout, connection._timed_out)
