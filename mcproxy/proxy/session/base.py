"""What every session handler is, and the names of the phases they stand for."""

from __future__ import annotations

import enum

from zope.interface import implementer

from mcproxy.interfaces import ISessionHandler


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


class Refusal(Exception):
    """Why a connection was closed: a counter name and, for players, a message."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


@implementer(ISessionHandler)
class SessionHandler:
    """One protocol state of one connection; its fields die with it.

    The shell calls :meth:`activated` when the handler takes over and
    :meth:`deactivated` when another replaces it; ``active`` is what a late Deferred
    checks before touching the connection.
    """

    phase = Phase.CLOSED
    #: Packet handlers get whole packets through :meth:`packet`; the relay takes raw bytes.
    reads_packets = True
    #: Whether a refusal can still be told to the player as a Login Disconnect.
    in_login = False
    #: The refusal reason when the connection's deadline passes in this state.
    timeout_reason = "LOGIN_TIMEOUT"

    def __init__(self, connection) -> None:
        self.connection = connection
        self.active = False

    def activated(self) -> None:
        """This handler now owns the connection."""

    def deactivated(self) -> None:
        """Another handler took over, or the connection closed."""

    def data_received(self, data: bytes) -> None:
        self.connection.feed(data)

    def packet(self, packet_id: int, reader) -> None:
        """A whole packet in this state; raise Refusal for one that does not belong."""
        raise Refusal("UNEXPECTED_PACKET")


class Closed(SessionHandler):
    """After the end: input is ignored."""

    phase = Phase.CLOSED
    reads_packets = False

    def data_received(self, data: bytes) -> None:
        return None
