"""What a plugin holds for a player another proxy of the network holds (``[cluster]``)."""

from __future__ import annotations

import uuid

from twisted.internet import defer
from zope.interface import implementer

from mcproxy.interfaces import IPlayer
from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.session.switch import SwitchRefused


@implementer(IPlayer)
class RemotePlayer:
    """A player on another proxy, as the directory last saw them.

    There is no session here to act on, so every action is asked of the player's own proxy
    through the directory and returns a Deferred that fires once that proxy answered, or
    with a refusal when it did not within the cluster's request timeout.
    """

    __slots__ = ("_entry", "_network")

    def __init__(self, entry, network) -> None:
        self._entry = entry
        self._network = network

    @property
    def name(self) -> str:
        return self._entry.name

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self._entry.uuid)

    @property
    def profile(self) -> GameProfile:
        """Name and id only: the profile's properties (skin) stay on the player's proxy."""
        return GameProfile(self.uuid, self._entry.name)

    @property
    def server(self) -> str | None:
        return self._entry.server or None

    @property
    def address(self) -> str:
        return self._entry.address

    @property
    def protocol(self) -> int | None:
        return self._entry.protocol or None

    @property
    def proxy(self) -> str:
        return self._entry.proxy

    def send_message(self, text: str) -> defer.Deferred:
        """Deferred[bool]: whether the player's proxy showed it (False if they left meanwhile)."""
        return self._network.send_message(self._entry.uuid, text)

    send_system_message = send_message

    def disconnect(self, message: str) -> defer.Deferred:
        """Deferred[bool]: whether the player's proxy found and disconnected them."""
        return self._network.kick(self._entry.uuid, message)

    def move_to(self, server: str) -> defer.Deferred:
        """Deferred[str], the player's message, or failing with SwitchRefused, as for a local player."""
        d = self._network.transfer(self._entry.uuid, server)
        d.addCallback(_moved)
        return d

    def transfer(self, host: str, port: int = 25565, server: str | None = None) -> defer.Deferred:
        """Deferred[None]; fails with ValueError when the player's proxy cannot transfer them now."""
        d = self._network.transfer_out(self._entry.uuid, host, port, server)
        d.addCallback(_transferred)
        return d

    def __eq__(self, other) -> bool:
        return (isinstance(other, RemotePlayer) and other._entry.uuid == self._entry.uuid
                and other._entry.session == self._entry.session)

    def __hash__(self) -> int:
        return hash((self._entry.uuid, self._entry.session))

    def __repr__(self) -> str:
        return f"<RemotePlayer {self._entry.name} on {self._entry.proxy}>"


def _moved(result) -> str:
    if not result.done:
        raise SwitchRefused(result.reason)
    return result.reason


def _transferred(result) -> None:
    if not result.done:
        raise ValueError(result.reason)
