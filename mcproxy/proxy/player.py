"""What a plugin holds for a player: a facade over the session, never the protocol object."""

from __future__ import annotations

import uuid

from twisted.internet import defer
from zope.interface import implementer

from mcproxy.interfaces import IPlayer
from mcproxy.proxy.events import SwitchCause


@implementer(IPlayer)
class Player:
    """One player as plugins see them; two facades of one session are equal."""

    __slots__ = ("_session",)

    def __init__(self, session) -> None:
        self._session = session

    @property
    def name(self) -> str:
        return self._session.profile.name

    @property
    def uuid(self) -> uuid.UUID:
        return self._session.profile.id

    @property
    def profile(self):
        return self._session.profile

    @property
    def server(self) -> str | None:
        return self._session.server

    @property
    def address(self) -> str:
        return getattr(self._session, "address", "")

    @property
    def protocol(self) -> int | None:
        handshake = getattr(self._session, "handshake", None)
        return handshake.protocol if handshake is not None else None

    @property
    def proxy(self) -> str:
        """This proxy's id with ``[cluster]``, else ``""``."""
        core = getattr(self._session, "proxy", None)
        return getattr(getattr(core, "network", None), "proxy_id", "")

    def send_message(self, text: str) -> None:
        self._session.send_system_message(text)

    # The name 0.4's command handlers used; kept so they run unchanged.
    send_system_message = send_message

    def disconnect(self, message: str) -> None:
        self._session.disconnect(message)

    def move_to(self, server: str) -> defer.Deferred:
        return self._session.switch_to(server, SwitchCause.PLUGIN)

    def transfer(self, host: str, port: int = 25565, server: str | None = None) -> None:
        self._session.transfer_out(host, port, server)

    def __eq__(self, other) -> bool:
        return isinstance(other, Player) and other._session is self._session

    def __hash__(self) -> int:
        return id(self._session)

    def __repr__(self) -> str:
        profile = getattr(self._session, "profile", None)
        return f"<Player {profile.name if profile is not None else '?'}>"


def as_player(player):
    """The facade of ``player``, whether it is one already (here or remote) or a session."""
    return player if IPlayer.providedBy(player) else Player(player)
