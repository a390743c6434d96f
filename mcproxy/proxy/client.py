"""A player's connection to the proxy: the shell that the session handlers drive.

The shell owns what lasts the whole connection: the codec, the connect-time limits, the
pre-login accounting, the deadline and output.  What a packet means is up to the handler
of the current state (:mod:`mcproxy.proxy.session`), swapped with :meth:`set_handler`.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from mcproxy.interfaces import IPreloginHolder
from mcproxy.ops.logging import new_correlation_id
from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.backend import BackendLogin, from_player
from mcproxy.proxy.events import DisconnectEvent, SwitchCause
from mcproxy.proxy.fastpath import fast_path
from mcproxy.proxy.player import Player
from mcproxy.proxy.session.base import Closed, Phase, Refusal, SessionHandler
from mcproxy.proxy.session.handshake import HandshakeHandler
from mcproxy.proxy.session.switch import SwitchRefused
from mcproxy.proxy.throttle import address_key
from mcproxy.wire import chat
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.login import LoginLayout
from mcproxy.wire.packets import LOGIN_DISCONNECT_ANY_VERSION, PacketIds
from mcproxy.wire.types import WireError, encode_string

__all__ = ["Phase", "PlayerConnection", "PlayerFactory", "Refusal", "SwitchRefused"]

#: Seconds a client timed out on reads has to take its kick before it is cut off.
KICK_GRACE = 5.0


def peer_host(transport) -> str:
    """The client's address as limits and logs use it ("" for a UNIX socket)."""
    return getattr(transport.getPeer(), "host", "") or ""


@implementer(IPreloginHolder)
class PlayerConnection(Protocol):
    """One client, from its first byte to its last."""

    def __init__(self, proxy, behind_proxy_protocol: bool = False) -> None:
        self.proxy = proxy
        self.codec = PacketCodec(proxy.settings.max_prelogin_frame)
        self.correlation_id = new_correlation_id()
        #: Set by the listener: the peer is a load balancer and the client's address
        #: arrives in a PROXY protocol header before the first byte.
        self.behind_proxy_protocol = behind_proxy_protocol
        self.address = ""
        self.handshake = None
        self.ids: PacketIds | None = None
        #: How this client's version lays out its login packets (set with ``ids``).
        self.login_layout: LoginLayout | None = None
        self.profile: GameProfile | None = None
        #: An armed smoke bot: kept out of every player-facing list and count.
        self.probe = False
        self.player = Player(self)
        self.login_started = 0.0
        #: Why the player left, for the one DisconnectEvent a logged-in player gets.
        self.leave_reason = "left"
        self.announced = False
        self.handler: SessionHandler = Closed(self)
        self._counted = False
        self._prelogin = False
        self._in_play = False
        #: Reads so far, for the read timeout's sweep (mcproxy/proxy/silence.py).
        self.reads = 0

    @property
    def phase(self) -> Phase:
        return self.handler.phase

    @property
    def server(self) -> str | None:
        return getattr(self.handler, "server", None)

    @property
    def backend(self):
        return getattr(self.handler, "backend", None)

    # Connection lifetime -------------------------------------------------------------

    def connectionMade(self) -> None:
        self.address = peer_host(self.transport)
        proxy = self.proxy
        refusal = proxy.prelogin_gate.admit(self, "" if self.behind_proxy_protocol else address_key(self.address))
        if refusal is not None:
            proxy.refused(refusal, self)
            self.transport.abortConnection()
            return
        self._prelogin = True
        if not self.behind_proxy_protocol and not proxy.connection_limiter.allow(address_key(self.address)):
            self.leave_prelogin()
            proxy.refused("CONNECTION_RATE", self)
            self.transport.abortConnection()
            return
        self._counted = True
        # Login's few writes each leave in one send, not in an epoll registration, a reactor
        # turn and an unregistration each.
        fast_path(self.transport)
        proxy.connection_opened(self)
        proxy.deadlines.set(self, proxy.settings.handshake_timeout, self._timed_out)
        self.set_handler(HandshakeHandler(self, address_pending=self.behind_proxy_protocol))

    def connectionLost(self, reason: Failure = None) -> None:
        previous = self.phase
        self.set_handler(Closed(self))
        self.proxy.deadlines.cancel(self)
        self.proxy.read_watch.forget(self)
        self.leave_prelogin()
        if self._counted:
            self._counted = False
            self.proxy.connection_closed(self, Phase.RELAY if self._in_play else previous)
        if self.announced:
            self.announced = False
            self.proxy.events.fire(DisconnectEvent(self.player, self.leave_reason))

    def set_handler(self, handler: SessionHandler) -> None:
        """Hand the connection to ``handler``; the previous one is told first."""
        previous, self.handler = self.handler, handler
        previous.active = False
        previous.deactivated()
        handler.active = True
        if handler.phase is Phase.RELAY:
            self._in_play = True
        handler.activated()

    def leave_prelogin(self) -> None:
        """Give back the pre-login slot (once): the player is in play or gone."""
        if self._prelogin:
            self._prelogin = False
            self.proxy.prelogin_gate.release(self)

    def evict(self) -> None:
        """The pre-login gate gave this connection's slot, still mid-handshake, to a newcomer."""
        self.refuse(Refusal("HANDSHAKE_EVICTED"))

    def admit_address(self) -> None:
        """Behind PROXY protocol the client's address is known only once the header is
        read: limits apply to it, not to the load balancer's address."""
        self.address = peer_host(self.transport)
        if not self.proxy.prelogin_gate.rekey(self, address_key(self.address)):
            raise Refusal("HANDSHAKE_PER_ADDRESS")
        if not self.proxy.connection_limiter.allow(address_key(self.address)):
            raise Refusal("CONNECTION_RATE")

    def _timed_out(self) -> None:
        self.refuse(Refusal(self.handler.timeout_reason, "Timed out"))

    # Input --------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.reads += 1
        try:
            self.handler.data_received(data)
        except WireError as error:
            self.refuse(Refusal(error.reason))
        except Refusal as refusal:
            self.refuse(refusal)

    def feed(self, data: bytes) -> None:
        """Decode ``data`` into packets for whichever handler is active at each one."""
        codec = self.codec
        codec.feed(data)
        while self.handler.reads_packets:
            packet = codec.next_packet()
            if packet is None:
                break
            self.handler.packet(*packet)

    # Output and endings ---------------------------------------------------------------

    def send(self, packet_id: int, fields: bytes) -> None:
        self.transport.write(self.codec.encode(packet_id, fields))

    def refuse(self, refusal: Refusal) -> None:
        """Close with a counted reason, telling a player in login why."""
        if self.phase is Phase.CLOSED:
            return
        self.proxy.refused(refusal.reason, self)
        if refusal.message and self.handler.in_login:
            packet_id = self.ids.login_disconnect if self.ids is not None else LOGIN_DISCONNECT_ANY_VERSION
            self.send(packet_id, encode_string(chat.text_to_json(refusal.message)))
        if self.announced:
            self.leave_reason = "refused"
        self.close()

    def close(self) -> None:
        """End the connection without a refusal (a ping answered, a player sent off)."""
        self.set_handler(Closed(self))
        self.proxy.deadlines.cancel(self)
        self.proxy.read_watch.forget(self)
        self.leave_prelogin()
        self.transport.loseConnection()

    def read_timed_out(self) -> None:
        """Nothing from the client for ``read_timeout`` since login: it is told and let go.

        A client that reads no more either would keep a closing connection open for as
        long as its kick sat unsent, so the connection is aborted if it is still there
        ``KICK_GRACE`` seconds later.
        """
        if self.phase is Phase.CLOSED:
            return
        self.proxy.refused("READ_TIMEOUT", self)
        self.disconnect("Timed out", why="timed out")
        self.proxy.deadlines.set(self, KICK_GRACE, self.transport.abortConnection)

    def disconnect(self, message: str, why: str = "disconnected") -> None:
        """Disconnect the player with ``message``, whatever state it is in; ``why`` is what
        their DisconnectEvent will say."""
        handler = self.handler
        if handler.phase is Phase.RELAY:
            self.leave_reason = why
            handler.disconnect_player(message)
        else:
            self.refuse(Refusal("DISCONNECTED", message))

    def send_system_message(self, text: str) -> None:
        """Show ``text`` in the player's chat; held back while they are between servers."""
        if self.handler.phase is Phase.RELAY:
            self.handler.send_system_message(text)

    def switch_to(self, name: str, cause: SwitchCause = SwitchCause.COMMAND) -> defer.Deferred:
        """Move the player to server ``name`` in place; fires with a message for them.

        The old backend is closed only once the new one has accepted the login; if it
        does not, the player stays where they were.
        """
        if self.handler.phase is not Phase.RELAY:
            return defer.fail(SwitchRefused("You are not connected to a server."))
        return self.handler.switch_to(name, cause)

    def transfer_out(self, host: str, port: int = 25565, server: str | None = None) -> None:
        """Send the player to ``host:port`` with the Transfer packet (see PlayHandler)."""
        if not host or len(host) > 255 or not 0 < port < 65536:
            raise ValueError(f"not an address: {host}:{port}")
        if self.handler.phase is not Phase.RELAY:
            raise ValueError("the player cannot be transferred right now")
        self.handler.transfer_out(host, port, server)

    def backend_login(self) -> BackendLogin:
        """What a backend is told about this player."""
        settings = self.proxy.settings
        handshake = self.handshake
        return BackendLogin(profile=self.profile, protocol=handshake.protocol, host=handshake.host,
                            port=handshake.port, address=self.address,
                            mode=settings.forwarding, secret=settings.secret,
                            **from_player(self.transport, handshake))


class PlayerFactory(Factory):
    """Builds a :class:`PlayerConnection` per accepted socket, all sharing ``proxy``.

    ``behind_proxy_protocol`` is true for a listener whose endpoint reads a PROXY
    protocol header (``haproxy:``) first.
    """

    def __init__(self, proxy, behind_proxy_protocol: bool = False) -> None:
        self.proxy = proxy
        self.behind_proxy_protocol = behind_proxy_protocol

    def buildProtocol(self, addr) -> PlayerConnection:
        protocol = PlayerConnection(self.proxy, self.behind_proxy_protocol)
        protocol.factory = self
        return protocol
