"""The server-list answer: MOTD, player counts, favicon and version."""

from __future__ import annotations

import base64
import json
import random
import uuid
from typing import Callable, Iterable, Mapping

from zope.interface import implementer

from mcproxy.interfaces import IStatusSource
from mcproxy.wire.chat import plain_text
from mcproxy.wire.packets import SERVED_PROTOCOLS, unsupported_version_name, version_name

#: Shown to clients we do not serve: their list entry says the version is incompatible.
UNSUPPORTED_PROTOCOL = -1


def motd_component(motd: str) -> object:
    """A MOTD as a chat component: JSON chat passes as is, plain text is wrapped."""
    stripped = motd.strip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return {"text": motd}


@implementer(IStatusSource)
class StatusResponder:
    """Builds status JSON; the parts that never change are encoded once."""

    #: Encoded answers kept; the key holds only values we chose (served protocols, the
    #: configured hosts, an online count), so clients cannot grow it, and it is emptied
    #: when full as the online count moves on.
    CACHE_ENTRIES = 256

    def __init__(
        self,
        motd: str,
        max_players: int,
        online_count: Callable[[], int],
        favicon_png: bytes | None = None,
        motd_by_host: Mapping[str, str] | None = None,
        sample_size: int = 0,
        players: Callable[[], Iterable[tuple[str, uuid.UUID]]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.max_players = max_players
        self.sample_size = sample_size if players is not None else 0
        self._players = players
        self._rng = rng or random.Random()
        self._online_count = online_count
        self._description = motd_component(motd)
        self._by_host = {host: motd_component(text) for host, text in (motd_by_host or {}).items()}
        self._favicon = (
            "data:image/png;base64," + base64.b64encode(favicon_png).decode("ascii")
            if favicon_png else None
        )
        self._unsupported_name = unsupported_version_name()
        self._encoded: dict[tuple[int, str, int], str] = {}

    def response(self, protocol: int, host: str = "") -> dict:
        return self._build(protocol, host, self._online_count())

    def sample(self) -> list[dict[str, str]]:
        """Up to ``sample_size`` online players picked at random, as the list shows them."""
        if not self.sample_size:
            return []
        online = list(self._players())
        picked = self._rng.sample(online, min(self.sample_size, len(online)))
        return [{"name": name, "id": str(player_id)} for name, player_id in picked]

    def _build(self, protocol: int, host: str, online: int, sample: list | None = None) -> dict:
        if protocol in SERVED_PROTOCOLS:
            version = {"name": version_name(protocol), "protocol": protocol}
        else:
            version = {"name": self._unsupported_name, "protocol": UNSUPPORTED_PROTOCOL}
        status = {
            "version": version,
            "players": {"max": self.max_players, "online": online, "sample": sample or []},
            "description": self._by_host.get(host, self._description),
            "enforcesSecureChat": False,
        }
        if self._favicon:
            status["favicon"] = self._favicon
        return status

    def answer_key(self, protocol: int, host: str) -> tuple[int, str, int]:
        """What the answer depends on: the version if served, the host if it has its own
        MOTD, and the online count; only values we chose, so a cache keyed by it is small."""
        if protocol not in SERVED_PROTOCOLS:
            protocol = UNSUPPORTED_PROTOCOL
        if host not in self._by_host:
            host = ""
        return protocol, host, self._online_count()

    def response_json(self, protocol: int, host: str = "") -> str:
        """The status as sent, encoded once per version, forced host and online count:
        encoding the JSON (favicon included) was a good part of each ping's cost."""
        key = self.answer_key(protocol, host)
        if self.sample_size and key[2]:
            # A fresh random sample each time: such answers are not cached.
            return json.dumps(self._build(*key, sample=self.sample()), separators=(",", ":"))
        text = self._encoded.get(key)
        if text is None:
            if len(self._encoded) >= self.CACHE_ENTRIES:
                self._encoded.clear()
            text = self._encoded[key] = json.dumps(self._build(*key), separators=(",", ":"))
        return text

    def legacy_fields(self) -> tuple[str, int, int]:
        """MOTD as plain text, online and max players, for the pre-1.7 ping."""
        return plain_text(self._description), self._online_count(), self.max_players
