"""Requests between proxies are signed: forged, stale, replayed or misaddressed ones are dropped."""

from __future__ import annotations

import json

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.cluster.signing import MAX_NONCES, MessageSigner, Refused
from mcproxy.cluster.store import rpc_channel
from mcproxy.testing import InMemoryRedis
from tests.test_cluster_directory import INTERVAL, SECRET, Proxy, result_of

OTHER_SECRET = b"9e1d7b3f5a2c8e4d6b0f1a3c5e7d9b2f"


class MessageSignerTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.sender = MessageSigner(self.clock, "p2", SECRET)
        self.receiver = MessageSigner(self.clock, "p1", SECRET, window=30)

    def assertRefused(self, text: str, reason: str) -> None:
        error = self.assertRaises(Refused, self.receiver.open, text)
        self.assertEqual(error.reason, reason)

    def test_round_trip(self) -> None:
        """A sealed message opens to its sender and body at the proxy it was sealed for."""
        self.assertEqual(self.receiver.open(self.sender.seal("p1", {"op": "x"})), ("p2", {"op": "x"}))

    def test_secret_not_in_message(self) -> None:
        """The sealed text carries neither the secret nor the key derived from it."""
        from mcproxy.cluster.signing import derive_key
        text = self.sender.seal("p1", {"op": "x"})
        self.assertNotIn(SECRET.decode(), text)
        self.assertNotIn(derive_key(SECRET).hex(), text)

    def test_other_secret_or_altered_body(self) -> None:
        """A message signed with another secret, or changed after signing, is a bad signature."""
        forged = MessageSigner(self.clock, "p2", OTHER_SECRET).seal("p1", {"op": "x"})
        self.assertRefused(forged, "bad_signature")
        outer = json.loads(self.sender.seal("p1", {"op": "kick"}))
        outer["msg"] = outer["msg"].replace("kick", "kill")
        self.assertRefused(json.dumps(outer), "bad_signature")

    def test_control_plane_key_does_not_verify(self) -> None:
        """An HMAC keyed by proxy_secret itself (the control plane's key) does not verify here."""
        import hashlib
        import hmac
        envelope = json.dumps({"from": "p2", "to": "p1", "ts": 1000, "nonce": "ab", "body": {}})
        signature = hmac.new(SECRET, envelope.encode(), hashlib.sha256).hexdigest()
        self.assertRefused(json.dumps({"msg": envelope, "sig": signature}), "bad_signature")

    def test_unsigned_and_garbage(self) -> None:
        """What is not an envelope is refused with its own reason."""
        self.assertRefused('{"id": 1, "from": "p2", "op": "kick", "args": {}}', "unsigned")
        self.assertRefused("not json", "not_json")
        self.assertRefused("[1]", "not_an_object")

    def test_replayed(self) -> None:
        """The same message twice: the second is a replay."""
        text = self.sender.seal("p1", {"op": "x"})
        self.receiver.open(text)
        self.assertRefused(text, "replayed_nonce")

    def test_stale_and_future(self) -> None:
        """Outside the window either way: an invalid timestamp, the nonce not remembered."""
        text = self.sender.seal("p1", {"op": "x"})
        self.clock.advance(31)
        self.assertRefused(text, "invalid_timestamp")
        ahead = Clock()
        ahead.advance(self.clock.seconds() + 31)
        early = MessageSigner(ahead, "p2", SECRET)
        self.assertRefused(early.seal("p1", {}), "invalid_timestamp")
        self.assertEqual(len(self.receiver._seen), 0)

    def test_wrong_recipient(self) -> None:
        """A request for p3 republished on p1's channel is not run by p1."""
        self.assertRefused(self.sender.seal("p3", {"op": "x"}), "wrong_recipient")

    def test_previous_secret_verifies(self) -> None:
        """During a rotation a proxy still on the previous secret is heard."""
        rotated = MessageSigner(self.clock, "p1", OTHER_SECRET, previous=SECRET)
        self.assertEqual(rotated.open(self.sender.seal("p1", {}))[0], "p2")

    def test_nonces_forgotten_after_the_window_and_bounded(self) -> None:
        """The replay cache keeps a nonce only as long as its message could be accepted, and at most MAX_NONCES."""
        self.receiver.open(self.sender.seal("p1", {}))
        self.clock.advance(61)
        self.receiver.open(self.sender.seal("p1", {}))
        self.assertEqual(len(self.receiver._seen), 1)
        self.receiver._seen.clear()
        for nonce in range(MAX_NONCES):
            self.receiver._seen[f"n{nonce}"] = self.clock.seconds() + 60
        self.receiver.open(self.sender.seal("p1", {}))
        self.assertEqual(len(self.receiver._seen), MAX_NONCES)
        self.assertNotIn("n0", self.receiver._seen)
        self.assertIn("n1", self.receiver._seen)

    def test_refusals_logged_by_reason_without_content(self) -> None:
        """A flood logs each reason once a minute, naming the reason and nothing it carried."""
        events = []
        from twisted.logger import Logger
        signer = MessageSigner(self.clock, "p1", SECRET, log=Logger(observer=events.append))
        for _ in range(5):
            signer.refused("bad_signature")
        self.assertEqual(len(events), 1)
        self.clock.advance(60)
        signer.refused("bad_signature")
        self.assertEqual(len(events), 2)
        self.assertEqual(events[0]["reason"], "bad_signature")


class SignedRequestsTests(SynchronousTestCase):
    """The directory's requests between proxies, signed end to end."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.redis = InMemoryRedis(self.clock)

    def test_forged_kick_is_dropped_and_counted(self) -> None:
        """A kick published by someone without the secret is not run, and is counted."""
        one = Proxy(self.redis, "p1")
        alice = one.join("Alice")
        forger = MessageSigner(self.clock, "p2", OTHER_SECRET)
        request = {"id": 1, "op": "kick_player", "args": {"player": "Alice", "reason": "forged"}}
        self.redis.publish(rpc_channel("p1"), forger.seal("p1", request))
        self.redis.publish(rpc_channel("p1"), json.dumps({"from": "p2", **request}))
        self.assertEqual(alice.disconnected, [])
        self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason="bad_signature"), 1)
        self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason="unsigned"), 1)
        self.assertEqual(one.metric("mcproxy_cluster_rpc_total", operation="kick_player", outcome="served"), 0)
        self.assertNotIn(SECRET.decode(), repr(one.log))

    def test_replayed_request_runs_once(self) -> None:
        """A genuine request captured and published again is run the first time only."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        bob = two.join("Bob")
        captured = []
        self.redis.subscribe(rpc_channel("p2"), lambda channel, text: captured.append(text))
        self.assertTrue(result_of(one.directory.transfer("Bob", "games")).done)
        bob.server = "lobby"
        self.redis.publish(rpc_channel("p2"), captured[0])
        self.assertEqual(bob.switches, ["games"])
        self.assertEqual(two.metric("mcproxy_cluster_bad_messages_total", reason="replayed_nonce"), 1)

    def test_forged_answer_is_not_taken(self) -> None:
        """An answer from a proxy that was not asked does not settle the request."""
        one, two = Proxy(self.redis, "p1"), Proxy(self.redis, "p2")
        two.join("Bob")
        # p2 answers nothing while its channel is cut; p3 (sharing the secret) answers instead.
        self.redis.subscribers[rpc_channel("p2")] = [lambda channel, text: None]
        d = one.directory.transfer("Bob", "games")
        sealed = MessageSigner(self.clock, "p3", SECRET).seal("p1", {"reply": 1, "result": {"ok": True}})
        self.redis.publish(rpc_channel("p1"), sealed)
        self.assertNoResult(d)
        self.assertEqual(one.metric("mcproxy_cluster_bad_messages_total", reason="unexpected_reply"), 1)
        self.clock.advance(5)
        self.assertFalse(result_of(d).done)

    def test_proxies_with_different_secrets_cannot_act_for_each_other(self) -> None:
        """A proxy with another secret is not obeyed: its /send times out, the player stays."""
        one, two = Proxy(self.redis, "p1", secret=OTHER_SECRET), Proxy(self.redis, "p2")
        bob = two.join("Bob")
        # p2's events do not verify on p1 either: p1 learns of Bob from the directory itself.
        self.assertEqual(one.names(), [])
        self.clock.advance(INTERVAL)
        self.assertEqual(one.names(), ["Bob"])
        refused = two.metric("mcproxy_cluster_bad_messages_total", reason="bad_signature")
        d = one.directory.transfer("Bob", "games")
        self.clock.pump([INTERVAL] * 5)
        self.assertFalse(result_of(d).done)
        self.assertEqual(bob.switches, [])
        self.assertEqual(two.metric("mcproxy_cluster_bad_messages_total", reason="bad_signature"), refused + 1)
