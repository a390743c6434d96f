"""What this proxy knows of the other proxies' players: a snapshot plus the events since."""

from __future__ import annotations

import json
from typing import Callable

from twisted.internet import defer
from twisted.python.failure import Failure

from mcproxy.cluster.entry import BadEntry, PlayerEntry
from mcproxy.cluster.store import batch_header


class OthersView:
    """Other proxies' players, replaced from Redis on each heartbeat and updated by events.

    A proxy's own players are never taken from here: its sessions are the truth for them.
    """

    def __init__(self, store, proxy_id: str, metrics, connected: Callable[[], bool]) -> None:
        self._store = store
        self._proxy_id = proxy_id
        self._own = batch_header(proxy_id)
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

    def event(self, text: str) -> None:
        """One message of the events channel; malformed ones are counted and dropped.

        This proxy's own batches, most of the channel on a busy proxy, are recognised by
        their first bytes and never parsed.
        """
        if text.startswith(self._own):
            return
        try:
            event = json.loads(text)
            op, proxy = event["op"], event["proxy"]
            if op == "batch":
                changes = [_change(change) for change in event["changes"]]
            elif op in ("put", "del"):
                # One change per message, as proxies from before batched writes publish them.
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
    """One put or del of an event, as ``_apply`` takes it; a bad one raises ValueError."""
    op = change["op"]
    if op == "put":
        entry = change["entry"]
        # A batch embeds the entry as an object; a single event carries it as text.
        return (PlayerEntry.from_data(entry) if isinstance(entry, dict) else PlayerEntry.decode(entry)), None
    if op == "del":
        return None, (str(change["uuid"]), str(change["session"]))
    raise ValueError(op)
