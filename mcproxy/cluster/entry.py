"""One player as the network's directory records it, and its bounded JSON form."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass

#: An entry is a few hundred bytes; anything much larger was not written by a proxy.
MAX_ENTRY_BYTES = 4096


class BadEntry(ValueError):
    """A directory value that is not an entry a proxy wrote."""


@dataclass(frozen=True)
class PlayerEntry:
    """Who is online where: what ``/glist``, ``/find`` and the duplicate check read."""

    uuid: str
    name: str
    proxy: str
    server: str
    address: str
    protocol: int
    login_time: float
    #: Tells this session's entry from a later login's with the same UUID, so a late
    #: release of the old session cannot remove the new one.
    session: str

    @classmethod
    def of(cls, connection, proxy_id: str, session: str, now: float) -> "PlayerEntry":
        handshake = getattr(connection, "handshake", None)
        return cls(uuid=str(connection.profile.id), name=connection.profile.name, proxy=proxy_id,
                   server=connection.server or "", address=getattr(connection, "address", "") or "",
                   protocol=handshake.protocol if handshake is not None else 0,
                   login_time=now, session=session)

    def encode(self) -> str:
        return json.dumps({"address": self.address, "login_time": self.login_time, "name": self.name,
                           "protocol": self.protocol, "proxy": self.proxy, "server": self.server,
                           "session": self.session, "uuid": self.uuid}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | bytes) -> "PlayerEntry":
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if len(text) > MAX_ENTRY_BYTES:
            raise BadEntry("entry too large")
        try:
            data = json.loads(text)
        except ValueError as error:
            raise BadEntry(f"not a player entry: {error}") from None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data) -> "PlayerEntry":
        """An entry from its decoded JSON (an event embeds entries as objects)."""
        try:
            return cls(uuid=str(uuid.UUID(data["uuid"])), name=str(data["name"]), proxy=str(data["proxy"]),
                       server=str(data["server"]), address=str(data["address"]),
                       protocol=int(data["protocol"]), login_time=float(data["login_time"]),
                       session=str(data["session"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BadEntry(f"not a player entry: {error}") from None

    def replace(self, **changes) -> "PlayerEntry":
        return dataclasses.replace(self, **changes)
