"""What this proxy knows of the other proxies' players: a snapshot plus the events since."""

from __future__ import annotations

from typing import Callable

from twisted.internet import defer
from twisted.python.failure import Failure

from mcproxy.cluster.entry import BadEntry, PlayerEntry


class OthersView:
    """Other proxies' players, replaced from Redis on each heartbeat and updated by events.

    A proxy's own players are never taken from here: its sessions are the truth for them.
    """

    def __init__(self, store, proxy_id: str, metrics, connected: Callable[[], bool]) -> None:
        self._store = store
        self._proxy_id = proxy_id
        self._metrics = metrics
        self._connected = connected
        self._entries: dict[str, PlayerEntry] = {}
        #: Grows on every change, so a reader can cache what it derives from the entries.
        self.version = 0
        #: While a snapshot is on its way: the events received meanwhile, to apply again.
        self._since_refresh: list | None = None
        self._refresh_again = False

    def entries(self) -> dict[str, PlayerEntry]:
        return dict(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.version += 1

    def forget(self, player: str) -> None:
        """``player`` is this proxy's now (a login that ended another proxy's session)."""
        self._entries.pop(player, None)
        self.version += 1

    def refresh(self) -> defer.Deferred:
        """Replace the view of other proxies' players with what Redis holds now.

        Events that arrive while the snapshot is on its way are applied again on top of it,
        so a snapshot taken just before a change cannot undo it.
        """
        if self._since_refresh is not None:
            self._refresh_again = True
            return defer.succeed(None)
        self._since_refresh = []
        d = self._store.entries()
        d.addBoth(self._refreshed)
        return d

    def _refreshed(self, pairs):
        replay, self._since_refresh = self._since_refresh, None
        if isinstance(pairs, Failure):
            self._refresh_again = False
            return pairs
        others = {}
        for key, text in pairs:
            try:
                entry = PlayerEntry.decode(text)
            except BadEntry:
                self._metrics.bad_messages.labels("bad_entry").inc()
                continue
            if entry.proxy != self._proxy_id and entry.uuid == key:
                others[entry.uuid] = entry
        self._entries = others
        self.version += 1
        for event in replay:
            self._apply(*event)
        if self._refresh_again:
            self._refresh_again = False
            self.refresh().addErrback(lambda f: None)
        return None

    def event(self, proxy: str, event: dict, applied: str | None = None) -> None:
        """One verified event of ``proxy`` (mcproxy.cluster.events); a malformed one is counted and dropped.

        A batch (one script's worth of changes, mcproxy.cluster.writes) lists a change per
        operation its proxy asked for; ``applied`` says which took effect, a '1' or '0' each.
        """
        try:
            op = event["op"]
            if op == "batch":
                asked = event["changes"]
                if not isinstance(asked, list) or applied is None or len(applied) != len(asked):
                    raise ValueError("a batch without one flag per change")
                changes = [_change(change) for change, took in zip(asked, applied) if took == "1"]
            elif op in ("put", "del"):
                # One change per event, as proxies from before batched writes publish them.
                changes = [_change(event)]
            elif op not in ("reaped", "republished"):
                raise ValueError(op)
        except (ValueError, KeyError, TypeError):
            self._metrics.bad_messages.labels("bad_event").inc()
            return
        if proxy == self._proxy_id:
            return
        if op in ("reaped", "republished"):
            if self._connected():
                self.refresh().addErrback(lambda f: None)
            return
        for change in changes:
            self._apply(*change)
        if self._since_refresh is not None:
            self._since_refresh.extend(changes)

    def _apply(self, put: PlayerEntry | None, removed: tuple[str, str] | None) -> None:
        self.version += 1
        if put is not None:
            self._entries[put.uuid] = put
            return
        player, session = removed
        current = self._entries.get(player)
        if current is not None and current.session == session:
            del self._entries[player]


def _change(change: dict) -> tuple[PlayerEntry | None, tuple[str, str] | None]:
    """One put or del, as ``_apply`` takes it; a bad one raises ValueError."""
    op = change["op"]
    if op == "put":
        return PlayerEntry.decode(change["entry"]), None
    if op == "del":
        return None, (str(change["uuid"]), str(change["session"]))
    raise ValueError(op)
