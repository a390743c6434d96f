"""The play session id 26.2+ clients receive at the end of Login Success."""

from __future__ import annotations

import os
import uuid
from typing import Callable, Sized


class PlaySessionId:
    """One id for everyone on the proxy at once, as Gate hands it out: a player joining
    others shares theirs, and once the proxy has emptied the next player gets a new one,
    so sessions days apart are not linked by it."""

    def __init__(self, players: Sized, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._players = players
        self._random_bytes = random_bytes
        self._id: uuid.UUID | None = None

    def current(self) -> uuid.UUID:
        if self._id is None or not len(self._players):
            self._id = uuid.UUID(bytes=self._random_bytes(16), version=4)
        return self._id
