"""Admission limits: per-address token buckets and concurrency gates.

Both are bounded in memory whatever the peers do: buckets live in an LRU-ordered dict
capped at ``max_entries``, and a gate is a counter.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime


def address_key(host: str) -> str:
    """The unit a per-address limit applies to: the IPv4 address, or the IPv6 /64.

    One IPv6 subscriber usually holds a whole /64, so limiting single addresses there
    would limit nothing.
    """
    if ":" not in host:
        # Twisted hands IPv4 peers over as dotted quads already: skip the parse, which is
        # a good part of a status ping's cost.
        return host
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class TokenBucketLimiter:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, clock: IReactorTime, rate: float, burst: int, max_entries: int = 65536) -> None:
        self._clock = clock
        self.rate = rate
        self.burst = float(burst)
        self.max_entries = max_entries
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Take a token for ``key``; ``False`` when its bucket is empty.

        The empty key (a peer with no address, as on a ``unix:`` listener) is never
        limited: one bucket for every such client would throttle them all together.
        """
        if self.rate <= 0 or not key:
            return True
        now = self._clock.seconds()
        tokens, stamp = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_entries:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


class ConcurrencyGate:
    """Counts holders of a scarce resource and refuses past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def try_acquire(self) -> bool:
        if self.held >= self.limit:
            return False
        self.held += 1
        return True

    def release(self) -> None:
        if self.held > 0:
            self.held -= 1
