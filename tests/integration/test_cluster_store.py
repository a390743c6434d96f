"""The directory's batched script against a real redis-server: what Lua does, not what a fake says."""

from __future__ import annotations

import json
import uuid

from twisted.internet import defer, reactor
from twisted.logger import Logger
from twisted.trial.unittest import SkipTest, TestCase

from mcproxy.cluster.entry import PlayerEntry
from mcproxy.cluster.events import own_prefix, sealer
from mcproxy.cluster.redis import RedisLink
from mcproxy.cluster.signing import MessageSigner
from mcproxy.cluster.store import EVENTS, DirectoryStore, claim_op, release_op, split_applied, update_op
from mcproxy.cluster.view import OthersView
from tests.integration.cluster_harness import redis_missing, running_redis
from tests.integration.deployment import wait_until


SECRET = b"5b1e0c7d9a2f4e6b8c3d1a0f7e9b2c4d"


def store(link, proxy_id: str) -> DirectoryStore:
    return DirectoryStore(link, proxy_id, sealer(MessageSigner(reactor, proxy_id, SECRET)))


def body(event: str) -> tuple[dict, str | None]:
    """A batch event's body (its envelope's signature is the events module's business) and flags."""
    sealed, applied = split_applied(event)
    return json.loads(json.loads(sealed)["msg"])["body"], applied


def entry(name: str, proxy: str, server: str = "", player: str | None = None, session: str | None = None):
    return PlayerEntry(player or str(uuid.uuid4()), name, proxy, server, "203.0.113.7", 769, 1.5,
                       session or uuid.uuid4().hex)


class BatchedScriptTests(TestCase):
    """``store.APPLY`` on Redis 7: each operation as it would be alone, one event per batch."""

    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        reason = redis_missing()
        if reason:
            raise SkipTest(reason)
        self.redis = yield running_redis(self)
        self.events: list[str] = []
        self.link = RedisLink(reactor, self.redis.endpoint, None, [EVENTS],
                              lambda channel, message: self.events.append(message),
                              Logger(observer=lambda event: None), retry_max=1.0, timeout=5.0)
        self.link.startService()
        self.addCleanup(self.link.stopService)
        yield wait_until(lambda: self.link.connected, 15, what="redis link up")
        self.p1 = store(self.link, "eu-1/w1")
        self.p2 = store(self.link, "eu-1/w2")
        yield self.p1.heartbeat("t1", 30)
        yield self.p2.heartbeat("t2", 30)

    @defer.inlineCallbacks
    def test_claims_updates_releases_in_one_batch(self):
        """A batch claims, refuses a UUID another live proxy holds, updates and releases by session."""
        alice, bob = entry("Alice", "eu-1/w1"), entry("Bob", "eu-1/w2")
        (claimed,) = yield self.p2.apply([claim_op(bob, bob.encode(), False)])
        self.assertTrue(claimed.claimed)
        rival = entry("Bob", "eu-1/w1", player=bob.uuid)
        in_lobby = alice.replace(server="lobby")
        stale = alice.replace(session="0" * 32)
        results = yield self.p1.apply([
            claim_op(alice, alice.encode(), False),
            claim_op(rival, rival.encode(), False),
            update_op(in_lobby, in_lobby.encode()),
            release_op(stale),
        ])
        self.assertEqual([results[0].claimed, results[1].claimed, results[2], results[3]], [True, False, True, False])
        self.assertEqual(results[1].other, bob)
        pairs = dict((yield self.p1.entries()))
        self.assertEqual(PlayerEntry.decode(pairs[alice.uuid]), in_lobby)
        (released,) = yield self.p1.apply([release_op(in_lobby)])
        self.assertTrue(released)
        self.assertNotIn(alice.uuid, dict((yield self.p1.entries())))

    @defer.inlineCallbacks
    def test_one_event_per_batch(self):
        """One sealed event carries the batch's changes and which took effect; a fresh claim publishes nothing."""
        alice = entry("Alice", "eu-1/w1")
        in_lobby = alice.replace(server="lobby")
        yield self.p1.apply([claim_op(alice, alice.encode(), False)])
        yield self.p1.apply([update_op(in_lobby, in_lobby.encode()), release_op(in_lobby)])
        yield wait_until(lambda: self.events, 10, what="the batch's event")
        yield self.p1.entries()  # a round trip after the publish: nothing else is on its way
        self.assertEqual(len(self.events), 1)
        event = self.events[0]
        self.assertTrue(event.startswith(own_prefix("eu-1/w1")))
        batch, applied = body(event)
        self.assertEqual(([c["op"] for c in batch["changes"]], applied), (["put", "del"], "11"))
        metrics = _Metrics()
        theirs = OthersView(self.p2, "eu-1/w2", metrics, lambda: True)
        theirs.event("eu-1/w1", {"op": "batch", "changes": batch["changes"][:1]}, "1")
        self.assertEqual(theirs.entries(), {alice.uuid: in_lobby})
        theirs.event("eu-1/w1", batch, applied)
        self.assertEqual(theirs.entries(), {})
        self.assertEqual(metrics.bad, [])

    @defer.inlineCallbacks
    def test_claim_over_own_ghost_or_dead_proxy(self):
        """A claim takes an entry held by this proxy id or by a dead proxy, and tells the others."""
        ghost = entry("Alice", "eu-1/w1", server="lobby")
        yield self.p1.apply([claim_op(ghost, ghost.encode(), False)])
        again = entry("Alice", "eu-1/w1", player=ghost.uuid)
        (claimed,) = yield self.p1.apply([claim_op(again, again.encode(), False)])
        self.assertEqual((claimed.claimed, claimed.other), (True, ghost))
        dead = entry("Bob", "gone", server="lobby")
        yield store(self.link, "gone").apply([claim_op(dead, dead.encode(), False)])
        taker = entry("Bob", "eu-1/w2", player=dead.uuid)
        (claimed,) = yield self.p2.apply([claim_op(taker, taker.encode(), False)])
        self.assertTrue(claimed.claimed)
        yield wait_until(lambda: len(self.events) >= 2, 10, what="the takeovers' events")
        # Fresh claims published nothing; each takeover one event, its change flagged as made.
        self.assertEqual([(json.loads(body(e)[0]["changes"][0]["entry"])["proxy"], body(e)[1]) for e in self.events],
                         [("eu-1/w1", "1"), ("eu-1/w2", "1")])


class _Metrics:
    """The one counter a view touches, recording reasons."""

    def __init__(self) -> None:
        self.bad: list[str] = []
        self.bad_messages = self

    def labels(self, reason: str):
        self.bad.append(reason)
        return self

    def inc(self) -> None:
        pass
