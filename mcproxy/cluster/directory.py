"""The network's player directory in Redis, behind the same interface as the in-process one.

Each proxy keeps three things: its own sessions (authoritative for its players), a view
of every other proxy's players (refreshed every heartbeat, updated between heartbeats by
the events other proxies publish), and a heartbeat that keeps it alive in Redis, reaps
dead proxies and republishes its players whenever Redis may have lost them.  While Redis
is down the proxy answers from its own sessions alone, admits logins on a local duplicate
check (counted) and reports DEGRADED; nothing waits on Redis for longer than its timeout.
"""

from __future__ import annotations

import uuid

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger
from zope.interface import implementer

from mcproxy.cluster.entry import PlayerEntry
from mcproxy.cluster.events import EventInbox, sealer
from mcproxy.cluster.redis import RedisUnavailable
from mcproxy.cluster.actions import RemoteActions
from mcproxy.cluster.routed import RoutedActions
from mcproxy.cluster.store import EVENTS, DirectoryStore, split_applied
from mcproxy.cluster.view import OthersView
from mcproxy.cluster.writes import DirectoryWrites
from mcproxy.interfaces import IPlayerDirectory
from mcproxy.ops.health import CheckResult, CheckState
from mcproxy.proxy.directory import KICKED

#: A proxy silent for this many heartbeats is dead.
DEAD_AFTER = 3


@implementer(IPlayerDirectory)
class ClusterDirectory(RoutedActions, Service):
    """``[cluster] enabled = true``: players of every proxy sharing one Redis."""

    def __init__(self, clock, local, link, proxy_id: str, interval: float, metrics, log: Logger,
                 signer, kick_existing: bool = False, rpc_timeout: float = 5.0, store=None) -> None:
        self._clock = clock
        self._local = local
        self._link = link
        self.proxy_id = proxy_id
        self._interval = interval
        self._metrics = metrics
        self._log = log
        self._kick_existing = kick_existing
        self._store = store if store is not None else DirectoryStore(link, proxy_id, sealer(signer))
        self._events = EventInbox(proxy_id, signer, metrics)
        #: Claims, updates and releases go to Redis together, one script per reactor turn.
        self.writes = DirectoryWrites(clock, self._store)
        self._token = uuid.uuid4().hex
        #: This proxy's sessions: connection -> its entry, and UUID -> connection.
        self._sessions: dict[object, PlayerEntry] = {}
        self._by_uuid: dict[str, object] = {}
        self._sessions_version = 0
        self._cached_view: tuple | None = None
        #: Claims Redis has not answered yet, and those whose connection left meanwhile.
        self._claiming: set = set()
        self._left_early: dict[object, PlayerEntry] = {}
        self.others = OthersView(self._store, proxy_id, metrics, lambda: self._link.connected)
        #: Redis may not hold our players as we know them: rewrite them on the next beat.
        self._dirty = True
        self._beating: defer.Deferred | None = None
        self._loop = task.LoopingCall(self.beat)
        self._loop.clock = clock
        self.actions = RemoteActions(clock, self._store.publish, proxy_id, local, self._serve_kick, metrics, log,
                                     signer, timeout=rpc_timeout)
        self.rpc = self.actions.rpc
        link.observe(self._link_changed)

    # Service ---------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._link.startService()
        self._loop.start(self._interval, now=False)

    @defer.inlineCallbacks
    def stopService(self):
        """Leave the directory before closing the link, so others need not wait three heartbeats."""
        super().stopService()
        if self._loop.running:
            self._loop.stop()
        # Sent before the withdrawal, which Redis therefore runs after them.
        self.writes.flush()
        self._sessions.clear()
        self._sessions_version += 1
        self._by_uuid.clear()
        if self._link.connected:
            try:
                yield self._store.withdraw()
            except Exception as error:
                self._log.warn("could not leave the cluster directory: {error}", error=str(error))
        yield self._link.stopService()

    # Heartbeat --------------------------------------------------------------------

    def _link_changed(self, connected: bool) -> None:
        self._metrics.redis_up.set(1 if connected else 0)
        if connected:
            self.beat()
        else:
            self._dirty = True
            self.others.clear()

    def beat(self) -> defer.Deferred:
        """Stay alive in Redis, reap the dead, republish if needed, refresh the view."""
        if not self._link.connected:
            return defer.succeed(None)
        if self._beating is not None:
            return self._beating
        self._beating = d = defer.Deferred()
        beat = self._store.heartbeat(self._token, self._interval * DEAD_AFTER)
        beat.addCallback(self._beaten)
        beat.addCallback(lambda _: self.others.refresh())
        beat.addCallback(lambda _: self._metrics.network_players.set(self.online_count()))
        beat.addErrback(self._beat_failed)
        beat.addBoth(self._beat_done)
        beat.chainDeferred(d)
        return d

    def _beaten(self, result) -> defer.Deferred | None:
        kept, reaped = result
        for proxy in reaped:
            self._metrics.reaped.inc()
            self._log.warn("proxy {proxy} missed {n} heartbeats; its players left the directory",
                           proxy=proxy, n=DEAD_AFTER)
        if kept and not self._dirty:
            return None
        entries = list(self._sessions.values())
        self._dirty = False
        d = self._store.republish(entries)
        d.addCallback(lambda _: self._republished(len(entries)))
        return d

    def _republished(self, count: int) -> None:
        self._metrics.republished.inc()
        self._log.info("published this proxy's {count} player(s) to the cluster directory", count=count)

    def _beat_failed(self, failure) -> None:
        self._dirty = True
        if failure.check(RedisUnavailable):
            self._log.warn("cluster heartbeat failed: {error}", error=failure.getErrorMessage())
        else:
            self._log.failure("cluster heartbeat failed", failure)

    def _beat_done(self, result):
        self._beating = None
        return None

    # Pub/sub ----------------------------------------------------------------------

    def message(self, channel: str, text: str) -> None:
        """Everything the subscriber connection receives."""
        if channel == self.rpc.channel:
            self.rpc.received(text)
        elif channel == EVENTS:
            sealed, applied = split_applied(text)
            opened = self._events.open(sealed)
            if opened is not None:
                self.others.event(*opened, applied)

    # Sessions -----------------------------------------------------------------------

    def claim(self, connection) -> defer.Deferred:
        """Fires True when ``connection``'s UUID may log in (here or anywhere), else False."""
        player = str(connection.profile.id)
        existing = self._by_uuid.get(player)
        if existing is not None and existing is not connection:
            if not self._kick_existing:
                self._metrics.duplicates.labels("refused").inc()
                return defer.succeed(False)
            self._metrics.duplicates.labels("ended_old_session").inc()
            self._local.take_over(existing)
            self._forget(existing)
        entry = PlayerEntry.of(connection, self.proxy_id, uuid.uuid4().hex, self._clock.seconds())
        self._sessions[connection] = entry
        self._sessions_version += 1
        self._by_uuid[player] = connection
        if not self._link.connected or self._dirty:
            return defer.succeed(self._claimed_locally("claim"))
        self._claiming.add(connection)
        d = self.writes.claim(entry, self._kick_existing)
        d.addCallbacks(self._claim_answered, self._claim_failed, callbackArgs=(connection,),
                       errbackArgs=(connection,))
        return d

    def _claimed_locally(self, operation: str) -> bool:
        self._metrics.local_fallbacks.labels(operation).inc()
        self._dirty = True
        return True

    def _claim_answered(self, claim, connection) -> bool:
        self._claiming.discard(connection)
        gone = self._left_early.pop(connection, None)
        if gone is not None:
            if claim.claimed:
                self._release(gone)
            return False
        entry = self._sessions.get(connection)
        if entry is None:
            return False
        if not claim.claimed:
            self._forget(connection)
            self._metrics.duplicates.labels("refused").inc()
            self._log.info("{player} is already online on proxy {proxy}", player=entry.name,
                           proxy=claim.other.proxy if claim.other else "?")
            return False
        other = claim.other
        # Ours now: the view must not show the old holder after this session ends.
        self.others.forget(entry.uuid)
        if other is not None and other.proxy != self.proxy_id and other.session != entry.session:
            self._metrics.duplicates.labels("ended_old_session").inc()
            self.actions.kick(other).addErrback(
                lambda f: self._log.warn("could not end {player}'s old session: {error}", player=entry.name,
                                         error=f.getErrorMessage()))
        return True

    def _claim_failed(self, failure, connection) -> bool:
        self._claiming.discard(connection)
        if not failure.check(RedisUnavailable):
            self._log.failure("cluster claim failed; checked locally only", failure)
        if self._left_early.pop(connection, None) is not None:
            return False
        return self._claimed_locally("claim")

    def _forget(self, connection) -> PlayerEntry | None:
        entry = self._sessions.pop(connection, None)
        self._sessions_version += 1
        if entry is not None and self._by_uuid.get(entry.uuid) is connection:
            del self._by_uuid[entry.uuid]
        return entry

    def joined(self, connection) -> None:
        self._update(connection)

    def moved(self, connection) -> None:
        self._update(connection)

    def _update(self, connection) -> None:
        entry = self._sessions.get(connection)
        # An armed smoke bot keeps its claim (one session per UUID) but never shows a server,
        # so no proxy's lists or counts include it.
        if entry is None or connection.probe:
            return
        entry = entry.replace(server=connection.server or "")
        self._sessions[connection] = entry
        self._sessions_version += 1
        if not self._link.connected:
            self._claimed_locally("update")
            return
        self.writes.update(entry).addErrback(self._write_failed, "update")

    def left(self, connection) -> None:
        entry = self._forget(connection)
        if entry is None:
            return
        if connection in self._claiming:
            # Redis has not answered the claim yet; the answer releases it.
            self._left_early[connection] = entry
            return
        self._release(entry)

    def _release(self, entry: PlayerEntry) -> None:
        if not self._link.connected:
            self._claimed_locally("release")
            return
        self.writes.release(entry).addErrback(self._write_failed, "release")

    def _write_failed(self, failure, operation: str) -> None:
        if not failure.check(RedisUnavailable):
            self._log.failure("cluster {operation} failed", failure, operation=operation)
        self._claimed_locally(operation)

    # Queries --------------------------------------------------------------------------

    def _view(self) -> dict[str, PlayerEntry]:
        """Everyone in play; rebuilt only after a change, as status pings ask for it constantly."""
        key = (self.others.version, self._sessions_version, self._link.connected)
        if self._cached_view is not None and self._cached_view[0] == key:
            return self._cached_view[1]
        view = self.others.entries() if self._link.connected else {}
        for entry in self._sessions.values():
            if entry.server:
                view[entry.uuid] = entry
        view = {u: e for u, e in view.items() if e.server}
        self._cached_view = (key, view)
        return view

    def online_count(self) -> int:
        return len(self._view())

    def entries(self) -> list[PlayerEntry]:
        return sorted(self._view().values(), key=lambda e: e.name.lower())

    def locate(self, player: str) -> PlayerEntry | None:
        view = self._view()
        try:
            return view.get(str(uuid.UUID(player)))
        except ValueError:
            wanted = player.lower()
            return next((e for e in view.values() if e.name.lower() == wanted), None)

    def has_player(self, player: str) -> bool:
        return self.locate(player) is not None

    def has_server(self, server: str) -> bool:
        return self._local.has_server(server)

    # Served for the other proxies ------------------------------------------------------

    def _serve_kick(self, args: dict) -> dict:
        connection = self._by_uuid.get(str(args.get("player")))
        entry = self._sessions.get(connection) if connection is not None else None
        if entry is None or entry.session != args.get("session"):
            return {"ok": False, "text": "no such session here"}
        self._forget(connection)
        connection.disconnect(KICKED)
        return {"ok": True, "text": ""}

    # Operations ----------------------------------------------------------------------

    def check(self) -> CheckResult:
        """``/health``'s ``cluster`` check: degraded, never critical, while Redis is away."""
        if self._link.connected:
            return CheckResult(CheckState.OK, f"proxy {self.proxy_id}: {self.online_count()} player(s) "
                                              "in the network")
        return CheckResult(CheckState.DEGRADED, f"redis unreachable ({self._link.last_error}); serving "
                                                "this proxy's players only")

    def status(self) -> dict:
        view = self._view()
        proxies: dict[str, int] = {}
        for entry in view.values():
            proxies[entry.proxy] = proxies.get(entry.proxy, 0) + 1
        return {"enabled": True, "proxy_id": self.proxy_id, "redis_connected": self._link.connected,
                "network_online": len(view), "by_proxy": dict(sorted(proxies.items()))}
