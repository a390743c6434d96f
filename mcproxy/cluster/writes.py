"""The directory's writes of one reactor turn, sent to Redis as one script."""

from __future__ import annotations

from twisted.internet import defer

from mcproxy.cluster.entry import PlayerEntry
from mcproxy.cluster.store import claim_op, release_op, update_op


#: Operations per script at most: its event must stay well under what receivers take
#: (``mcproxy.cluster.events.MAX_EVENT_BYTES``, 16 KiB; a change is at most ~450 bytes sealed).
MAX_BATCH = 24


class DirectoryWrites:
    """Claims, updates and releases gathered until the end of the reactor turn.

    Every join writes three times (the duplicate check's claim, the server on reaching play,
    the release on leaving).  One script and one event each made the directory cost a join
    more CPU than the proxy's own work, on this proxy, in Redis and on every other member;
    gathered, a turn's writes cost one script and one event however many players came or
    went in it.  A claim waits for the end of the turn it was asked in, not for other writes:
    every batch is sent as soon as its turn ends, and Redis answers them in order.
    """

    def __init__(self, clock, store) -> None:
        self._clock = clock
        self._store = store
        self._operations: list[tuple] = []
        self._waiting: list[defer.Deferred] = []
        self._call = None
        #: Batches sent and operations in them, for the figures and the tests.
        self.batches = 0
        self.operations = 0

    def claim(self, entry: PlayerEntry, replace: bool) -> defer.Deferred:
        """Fires with a :class:`mcproxy.cluster.store.Claim`."""
        return self._add(claim_op(entry, entry.encode(), replace))

    def update(self, entry: PlayerEntry) -> defer.Deferred:
        return self._add(update_op(entry, entry.encode()))

    def release(self, entry: PlayerEntry) -> defer.Deferred:
        return self._add(release_op(entry))

    def _add(self, operation: tuple) -> defer.Deferred:
        d = defer.Deferred()
        self._operations.append(operation)
        self._waiting.append(d)
        if self._call is None:
            self._call = self._clock.callLater(0, self.flush)
        return d

    def flush(self) -> None:
        """Send what this turn gathered (the reactor calls it; tests and stopping may too)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        operations, waiting = self._operations, self._waiting
        if not operations:
            return
        self._operations, self._waiting = [], []
        for start in range(0, len(operations), MAX_BATCH):
            self._send(operations[start:start + MAX_BATCH], waiting[start:start + MAX_BATCH])

    def _send(self, operations: list[tuple], waiting: list[defer.Deferred]) -> None:
        self.batches += 1
        self.operations += len(operations)
        try:
            d = self._store.apply(operations)
        except Exception:
            d = defer.fail()
        d.addCallbacks(_answer, _fail, callbackArgs=(waiting,), errbackArgs=(waiting,))


def _answer(results: list, waiting: list[defer.Deferred]) -> None:
    for d, result in zip(waiting, results):
        d.callback(result)


def _fail(failure, waiting: list[defer.Deferred]) -> None:
    for d in waiting:
        d.errback(failure)
