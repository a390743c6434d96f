"""The slots for connections not yet past login, held so that an attacker cannot keep them.

A plain counter of pre-login connections is filled by anyone who opens enough sockets and
says nothing (`\x10\x00`, then silence): every newcomer, an honest status ping included,
is then turned away until the handshake timeout reaps the squatters, and the attacker just
opens them again. Here a full gate makes room instead: a newcomer evicts the oldest
connection that has not completed its handshake, or failing that the oldest still in its
status exchange. An honest client sends its whole handshake in its first packet and ends a
status exchange in a round trip or two, so the squatters go first. Connections logging in
are never evicted; the login rate and the login timeout bound them. No address may hold
more than ``per_address`` slots at once, so one host cannot churn the gate by itself.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable

from mcproxy.interfaces import IPreloginHolder as Holder

#: Why a newcomer was refused a slot: every slot is held by a connection past its
#: handshake, or its address already holds ``per_address`` slots.
FULL = "HANDSHAKE_CONCURRENCY"
ADDRESS_FULL = "HANDSHAKE_PER_ADDRESS"


class PreloginGate:
    """At most ``limit`` holders, evicting the oldest unsettled one when full."""

    def __init__(self, limit: int, per_address: int = 0) -> None:
        self.limit = limit
        self.per_address = per_address
        self.evictions = 0
        self._keys: dict[Holder, str] = {}
        # Evictable holders in arrival order: before the end of their handshake, then
        # in a status exchange.
        self._handshaking: OrderedDict[Holder, None] = OrderedDict()
        self._status: OrderedDict[Holder, None] = OrderedDict()
        self._per_key: dict[str, int] = {}

    @property
    def held(self) -> int:
        return len(self._keys)

    def admit(self, holder: Holder, key: str) -> str | None:
        """Take a slot for ``holder`` from address ``key`` ("" when not known yet, or
        for a peer with no address); ``None`` when admitted, else the refusal reason."""
        if self._address_full(key):
            return ADDRESS_FULL
        if len(self._keys) >= self.limit:
            queue = self._handshaking or self._status
            if not queue:
                return FULL
            victim, _ = queue.popitem(last=False)
            self.release(victim)
            self.evictions += 1
            victim.evict()
        self._keys[holder] = key
        self._handshaking[holder] = None
        self._count(key, +1)
        return None

    def rekey(self, holder: Holder, key: str) -> bool:
        """Move ``holder`` to the address it turned out to have (from a PROXY header);
        ``False`` when that address already holds its share (the holder keeps its slot
        until it is released)."""
        if holder not in self._keys:
            return True
        if self._address_full(key):
            return False
        self._count(self._keys[holder], -1)
        self._keys[holder] = key
        self._count(key, +1)
        return True

    def handshake_done(self, holder: Hashable, logging_in: bool) -> None:
        """``holder`` sent its whole handshake: into login it may no longer be evicted;
        into a status exchange it is evicted only once no handshake is pending."""
        if holder in self._handshaking:
            del self._handshaking[holder]
            if not logging_in:
                self._status[holder] = None

    def release(self, holder: Hashable) -> None:
        key = self._keys.pop(holder, None)
        if key is None:
            return
        self._handshaking.pop(holder, None)
        self._status.pop(holder, None)
        self._count(key, -1)

    def _address_full(self, key: str) -> bool:
        return bool(key) and self.per_address > 0 and self._per_key.get(key, 0) >= self.per_address

    def _count(self, key: str, delta: int) -> None:
        if not key:
            return
        count = self._per_key.get(key, 0) + delta
        if count > 0:
            self._per_key[key] = count
        else:
            self._per_key.pop(key, None)
