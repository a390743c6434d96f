"""The signed envelope and its validator, without any network."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.control.envelope import (
    CONTROL_PROTOCOL_VERSION,
    ENV_SENDER,
    ENV_TIMESTAMP,
    ENV_VERSION,
    ControlSecrets,
    Envelope,
    EnvelopeSigner,
    EnvelopeValidator,
    ReplayCache,
    SecretSlot,
    canonical_encoding,
)
from mcproxy.control.reasons import RejectReason, rejection

SECRET = b"current-secret-for-tests-0123456789"
OLD_SECRET = b"previous-secret-for-tests-9876543210"
NAME = b"mcproxy.control.Heartbeat"
BODY = {b"serial": b"7", b"digest": b"ab" * 32}


def counting_nonces() -> Callable[[int], bytes]:
    counter = itertools.count()
    return lambda n: next(counter).to_bytes(n, "big")


def sign(
    clock: Clock,
    secret: bytes = SECRET,
    sender: str = "lobby",
    body: dict[bytes, bytes] | None = None,
    name: bytes = NAME,
    random_bytes=None,
) -> dict[bytes, bytes]:
    signer = EnvelopeSigner(
        sender, ControlSecrets(secret), clock, random_bytes or counting_nonces()
    )
    box = dict(BODY if body is None else body)
    box.update(signer.sign(name, box, "cid-1"))
    return box


def validator(
    clock: Clock, current: bytes = SECRET, previous: bytes | None = None, **kw
) -> EnvelopeValidator:
    return EnvelopeValidator(ControlSecrets(current, previous), clock, **kw)


class CanonicalEncodingTests(SynchronousTestCase):
    def test_field_boundaries_are_unambiguous(self) -> None:
        """Moving bytes between adjacent fields changes the encoding."""
        a = canonical_encoding(b"ab", b"1", b"2", b"n", b"c", b"X", [(b"k", b"v")])
        b = canonical_encoding(b"a", b"b1", b"2", b"n", b"c", b"X", [(b"k", b"v")])
        c = canonical_encoding(b"ab", b"1", b"2", b"n", b"c", b"X", [(b"kv", b"")])
        self.assertEqual(len({a, b, c}), 3)

    def test_body_order_does_not_matter(self) -> None:
        """Body pairs are sorted, so box ordering on the wire is irrelevant."""
        one = canonical_encoding(b"s", b"1", b"2", b"n", b"c", b"X", [(b"a", b"1"), (b"b", b"2")])
        two = canonical_encoding(b"s", b"1", b"2", b"n", b"c", b"X", [(b"b", b"2"), (b"a", b"1")])
        self.assertEqual(one, two)

    def test_known_vector(self) -> None:
        """The layout is length-prefixed fields in the documented order."""
        encoded = canonical_encoding(b"p", b"1", b"5", b"n", b"c", b"X", [(b"k", b"v")])
        expected = b"".join(
            len(f).to_bytes(4, "big") + f
            for f in (b"mcproxy-control", b"p", b"1", b"5", b"n", b"c", b"X", b"1", b"k", b"v")
        )
        self.assertEqual(encoded, expected)


class EnvelopeValidatorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def check(self, box: dict[bytes, bytes], v: EnvelopeValidator | None = None, senders=("lobby",)):
        v = v or validator(self.clock)
        return v.validate(Envelope.from_box(box), NAME, senders)

    def test_accepts_a_fresh_signed_message(self) -> None:
        """A message signed with the current secret by an expected sender passes."""
        verdict = self.check(sign(self.clock))
        self.assertTrue(verdict.accepted)
        self.assertIs(verdict.slot, SecretSlot.CURRENT)

    def test_long_sender_id_kept_whole(self) -> None:
        """The verified sender is the full id, not the shortened form used in logs."""
        sender = "backend-" + "x" * 80
        verdict = self.check(sign(self.clock, sender=sender), senders=(sender,))
        self.assertEqual(verdict.sender, sender)

    def test_payload_too_large(self) -> None:
        """A box larger than max_payload is refused before anything else is looked at."""
        box = sign(self.clock, body={b"data": b"x" * 2000})
        box[ENV_VERSION] = b"99"
        verdict = self.check(box, validator(self.clock, max_payload=1000))
        self.assertEqual(verdict.reason, RejectReason.PAYLOAD_TOO_LARGE)

    def test_version_mismatch(self) -> None:
        """Another control protocol version is refused as VERSION_MISMATCH."""
        signer = EnvelopeSigner(
            "lobby", ControlSecrets(SECRET), self.clock, version=CONTROL_PROTOCOL_VERSION + 1
        )
        box = dict(BODY)
        box.update(signer.sign(NAME, box))
        self.assertEqual(self.check(box).reason, RejectReason.VERSION_MISMATCH)

    def test_malformed_version(self) -> None:
        """A version that is not a number is a VERSION_MISMATCH, not a crash."""
        box = sign(self.clock)
        box[ENV_VERSION] = b"one"
        self.assertEqual(self.check(box).reason, RejectReason.VERSION_MISMATCH)

    def test_unexpected_sender(self) -> None:
        """A sender outside the expected set is refused even if correctly signed."""
        box = sign(self.clock, sender="intruder")
        self.assertEqual(self.check(box).reason, RejectReason.UNEXPECTED_SENDER)

    def test_missing_sender(self) -> None:
        """A box without a sender is an UNEXPECTED_SENDER."""
        box = sign(self.clock)
        del box[ENV_SENDER]
        self.assertEqual(self.check(box).reason, RejectReason.UNEXPECTED_SENDER)

    def test_invalid_timestamp_past_and_future(self) -> None:
        """More than the allowed skew either way is INVALID_TIMESTAMP; the edge passes."""
        box = sign(self.clock)
        self.clock.advance(30.001)
        self.assertEqual(self.check(box).reason, RejectReason.INVALID_TIMESTAMP)
        ahead = Clock()
        ahead.advance(self.clock.seconds() + 31)
        self.assertEqual(self.check(sign(ahead)).reason, RejectReason.INVALID_TIMESTAMP)
        edge = sign(self.clock)
        self.clock.advance(30)
        self.assertTrue(self.check(edge).accepted)

    def test_custom_clock_skew(self) -> None:
        """control_max_clock_skew is honoured."""
        box = sign(self.clock)
        self.clock.advance(6)
        v = validator(self.clock, max_clock_skew=5)
        self.assertEqual(self.check(box, v).reason, RejectReason.INVALID_TIMESTAMP)

    def test_bad_signature_tampered_body(self) -> None:
        """Changing any body value after signing is a BAD_SIGNATURE."""
        box = sign(self.clock)
        box[b"serial"] = b"8"
        self.assertEqual(self.check(box).reason, RejectReason.BAD_SIGNATURE)

    def test_bad_signature_added_argument(self) -> None:
        """An argument added after signing is covered by the signature too."""
        box = sign(self.clock)
        box[b"extra"] = b"1"
        self.assertEqual(self.check(box).reason, RejectReason.BAD_SIGNATURE)

    def test_bad_signature_other_command(self) -> None:
        """A signature for one command does not verify as another."""
        box = sign(self.clock, name=b"mcproxy.control.Hello")
        self.assertEqual(self.check(box).reason, RejectReason.BAD_SIGNATURE)

    def test_bad_signature_wrong_secret(self) -> None:
        """A message keyed by an unknown secret is a BAD_SIGNATURE."""
        box = sign(self.clock, secret=b"not-the-secret")
        self.assertEqual(self.check(box).reason, RejectReason.BAD_SIGNATURE)

    def test_replayed_nonce(self) -> None:
        """The same verified message twice is refused the second time."""
        v = validator(self.clock)
        box = sign(self.clock)
        self.assertTrue(self.check(box, v).accepted)
        self.assertEqual(self.check(box, v).reason, RejectReason.REPLAYED_NONCE)

    def test_nonce_remembered_only_after_signature(self) -> None:
        """A forged message cannot burn the nonce of a genuine one."""
        v = validator(self.clock)
        genuine = sign(self.clock)
        forged = dict(genuine)
        forged[b"serial"] = b"999"
        self.assertEqual(self.check(forged, v).reason, RejectReason.BAD_SIGNATURE)
        self.assertEqual(len(v.replay_cache), 0)
        self.assertTrue(self.check(genuine, v).accepted)

    def test_reasons_in_fixed_order(self) -> None:
        """With several faults, the first in the documented order is the one reason."""
        box = sign(self.clock, sender="intruder", secret=b"wrong")
        box[ENV_VERSION] = b"2"
        self.assertEqual(self.check(box).reason, RejectReason.VERSION_MISMATCH)
        box[ENV_VERSION] = b"1"
        self.assertEqual(self.check(box).reason, RejectReason.UNEXPECTED_SENDER)
        box[ENV_SENDER] = b"lobby"
        box[ENV_TIMESTAMP] = b"0"
        self.assertEqual(self.check(box).reason, RejectReason.INVALID_TIMESTAMP)

    def test_validation_is_deterministic(self) -> None:
        """Two validators fed the same messages and clock reach the same verdicts."""
        boxes = [sign(self.clock), sign(self.clock, secret=b"x"), sign(self.clock)]
        boxes.append(boxes[0])
        one, two = validator(self.clock), validator(self.clock)
        self.assertEqual(
            [self.check(b, one).reason for b in boxes],
            [self.check(b, two).reason for b in boxes],
        )

    @given(st.data())
    def test_any_single_field_change_is_refused(self, data: st.DataObject) -> None:
        """Changing any one key of a signed box, envelope or body, never yields acceptance."""
        box = sign(self.clock)
        key = data.draw(st.sampled_from(sorted(box)))
        value = data.draw(st.binary(max_size=80).filter(lambda v: v != box[key]))
        box[key] = value
        self.assertFalse(self.check(box).accepted)

    @given(st.binary(min_size=1, max_size=64))
    def test_any_body_change_is_caught(self, value: bytes) -> None:
        """Whatever the new value, a changed body never verifies."""
        box = sign(self.clock, body={b"data": b"original"})
        if value == b"original":
            value = value + b"!"
        box[b"data"] = value
        self.assertEqual(self.check(box).reason, RejectReason.BAD_SIGNATURE)


class SecretRotationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def test_previous_secret_verifies_during_overlap(self) -> None:
        """A peer still on the old secret is accepted while it is configured as previous."""
        v = validator(self.clock, current=SECRET, previous=OLD_SECRET)
        verdict = v.validate(Envelope.from_box(sign(self.clock, OLD_SECRET)), NAME, {"lobby"})
        self.assertIs(verdict.slot, SecretSlot.PREVIOUS)

    def test_previous_secret_refused_after_overlap(self) -> None:
        """Once the previous secret is removed, the old secret is a BAD_SIGNATURE."""
        v = validator(self.clock, current=SECRET)
        verdict = v.validate(Envelope.from_box(sign(self.clock, OLD_SECRET)), NAME, {"lobby"})
        self.assertEqual(verdict.reason, RejectReason.BAD_SIGNATURE)

    def test_signing_always_uses_current(self) -> None:
        """A signer configured with both secrets signs with the current one only."""
        signer = EnvelopeSigner(
            "lobby", ControlSecrets(SECRET, OLD_SECRET), self.clock, counting_nonces()
        )
        box = dict(BODY)
        box.update(signer.sign(NAME, box))
        only_old = validator(self.clock, current=OLD_SECRET)
        only_new = validator(self.clock, current=SECRET)
        self.assertEqual(
            only_old.validate(Envelope.from_box(box), NAME, {"lobby"}).reason,
            RejectReason.BAD_SIGNATURE,
        )
        self.assertIs(
            only_new.validate(Envelope.from_box(box), NAME, {"lobby"}).slot, SecretSlot.CURRENT
        )

    def test_secret_usage_counted_per_sender(self) -> None:
        """Operators can see who still uses the previous secret before ending the overlap."""
        v = validator(self.clock, current=SECRET, previous=OLD_SECRET)
        nonces = counting_nonces()
        for sender, secret in [("lobby", OLD_SECRET), ("lobby", SECRET), ("games", SECRET)]:
            box = sign(self.clock, secret, sender=sender, random_bytes=nonces)
            self.assertTrue(v.validate(Envelope.from_box(box), NAME, {"lobby", "games"}).accepted)
        self.assertEqual(
            v.secret_usage.as_dict(),
            {"games": {"current": 1}, "lobby": {"current": 1, "previous": 1}},
        )
        self.assertEqual(v.secret_usage.previous_in_use(), {"lobby": 1})

    def test_secrets_never_in_reprs(self) -> None:
        """Neither secret appears in the repr of anything that holds it."""
        secrets = ControlSecrets(SECRET, OLD_SECRET)
        texts = [
            repr(secrets),
            str(secrets),
            repr(EnvelopeSigner("lobby", secrets, self.clock)),
            repr(EnvelopeValidator(secrets, self.clock)),
            repr(rejection(RejectReason.BAD_SIGNATURE, "cid")),
        ]
        for text in texts:
            self.assertNotIn("secret-for-tests", text)

    def test_empty_secret_refused(self) -> None:
        """An empty secret is a configuration error, not a key that verifies anything."""
        self.assertRaises(ValueError, ControlSecrets, b"")


class ReplayCacheTests(SynchronousTestCase):
    def test_expires_after_window(self) -> None:
        """A nonce is forgotten once no message carrying it could pass the timestamp check."""
        clock = Clock()
        cache = ReplayCache(clock, window=60, capacity=10)
        cache.remember(b"s", b"n")
        clock.advance(59)
        self.assertTrue(cache.seen(b"s", b"n"))
        clock.advance(1)
        self.assertFalse(cache.seen(b"s", b"n"))
        self.assertEqual(len(cache), 0)

    def test_bounded_evicting_oldest(self) -> None:
        """A full cache drops its oldest nonce first and never grows past capacity."""
        clock = Clock()
        cache = ReplayCache(clock, window=60, capacity=3)
        for n in (b"1", b"2", b"3", b"4"):
            clock.advance(1)
            cache.remember(b"s", n)
        self.assertEqual(len(cache), 3)
        self.assertFalse(cache.seen(b"s", b"1"))
        self.assertTrue(cache.seen(b"s", b"4"))
        self.assertEqual(cache.evicted, 1)

    def test_nonce_is_per_sender(self) -> None:
        """Two senders may (improbably) pick the same nonce without refusing each other."""
        cache = ReplayCache(Clock(), window=60, capacity=3)
        cache.remember(b"a", b"n")
        self.assertFalse(cache.seen(b"b", b"n"))


class BaseProtocolTests(SynchronousTestCase):
    def test_base_protocol_trusts_no_sender(self) -> None:
        """A control protocol that does not name its senders accepts none (fails closed)."""
        from mcproxy.control.peer import ControlProtocol

        senders = ControlProtocol().expected_senders()
        self.assertNotIn("proxy", senders)
        self.assertNotIn("lobby", senders)
