"""Hostile control-plane traffic: random AMP boxes at the proxy's messaging listener, and
replayed and re-ordered signed messages at the envelope validator."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, globalLogPublisher
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.control.commands import Heartbeat, Hello
from mcproxy.control.envelope import (
    ENVELOPE_KEYS,
    ControlSecrets,
    Envelope,
    EnvelopeSigner,
    EnvelopeValidator,
)
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.reasons import RejectReason
from mcproxy.control.registry import CommandRegistry, CommandSpec
from mcproxy.testing import InMemoryPlayerDirectory
from tests.fuzzing import fuzz

SECRET = b"fuzz-control-secret-0123456789abcdef"
START = 1_700_000_000.0
COMMANDS = [b"mcproxy.control.Hello", b"mcproxy.control.RequestRegistrySnapshot", b"mcproxy.control.Heartbeat",
            b"mcproxy.control.ExecuteProxyCommand", b"mcproxy.control.TransferPlayer", b"nonsense"]

keys = st.one_of(st.sampled_from(list(ENVELOPE_KEYS) + [b"server_id", b"serial", b"digest", b"player"]),
                 st.binary(min_size=1, max_size=16).filter(lambda k: not k.startswith(b"_")))
values = st.one_of(st.binary(max_size=64), st.integers(-2**40, 2**40).map(lambda n: str(n).encode()))
boxes = st.builds(lambda command, body, ask: {b"_command": command, b"_ask": ask, **body},
                  st.sampled_from(COMMANDS), st.dictionaries(keys, values, max_size=8),
                  st.integers(1, 10**6).map(lambda n: str(n).encode()))


class Failures:
    """Every failure logged anywhere while one example runs."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def __enter__(self) -> list[dict]:
        globalLogPublisher.addObserver(self.observe)
        return self.events

    def __exit__(self, *exc_info) -> None:
        globalLogPublisher.removeObserver(self.observe)

    def observe(self, event: dict) -> None:
        if "log_failure" in event:
            self.events.append(event)


def rejects_total(registry: CollectorRegistry) -> float:
    return sum(registry.get_sample_value("mcproxy_control_rejects_total", {"reason": r.value}) or 0.0
               for r in RejectReason)


class ListenerCase(SynchronousTestCase):
    """A proxy-side control listener on a StringTransport, nobody linked yet."""

    def listener(self):
        clock = Clock()
        clock.advance(START)
        registry = CollectorRegistry()
        events: list[dict] = []
        factory = ControlServerFactory(
            "proxy", SECRET, ["lobby", "games"], CommandRegistry([CommandSpec("hub")], 1),
            InMemoryPlayerDirectory({"alice": "lobby"}, servers=["lobby", "games"]), clock, registry,
            Logger(observer=events.append))
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport, registry, events

    def close(self, protocol) -> None:
        """What the reactor does when the connection ends, done once per example."""
        protocol.connectionLost(Failure(ConnectionDone()))


class ControlListenerFuzzTests(ListenerCase):

    @fuzz()
    @given(data=st.binary(max_size=512))
    def test_random_bytes_never_raise(self, data: bytes) -> None:
        """Random bytes on the messaging port close the link or are answered; nothing is
        logged as an unhandled failure."""
        with Failures() as failures:
            protocol, _, _, events = self.listener()
            protocol.dataReceived(data)
            self.close(protocol)
        self.assertEqual(failures + [e for e in events if "log_failure" in e], [])

    def test_box_without_a_command_refused(self) -> None:
        """A box with neither a command nor an answer (two zero bytes: an empty box) is
        refused as UNKNOWN_COMMAND, counted, and the link closed; nothing raises."""
        with Failures() as failures:
            protocol, transport, registry, events = self.listener()
            protocol.dataReceived(b"\x00\x00")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(registry.get_sample_value("mcproxy_control_rejects_total",
                                                   {"reason": RejectReason.UNKNOWN_COMMAND.value}), 1.0)
        self.assertEqual(failures + [e for e in events if "log_failure" in e], [])
        self.close(protocol)

    @fuzz()
    @given(sequence=st.lists(boxes, min_size=1, max_size=5))
    def test_random_boxes_are_refused_by_reason(self, sequence: list[dict]) -> None:
        """Unsigned or badly signed commands with random arguments each get an error answer,
        at most one counted refusal apiece, and no unhandled failure."""
        with Failures() as failures:
            protocol, transport, registry, events = self.listener()
            for box in sequence:
                if transport.disconnecting:
                    break
                protocol.dataReceived(amp.AmpBox(box).serialize())
            self.close(protocol)
        self.assertEqual(failures + [e for e in events if "log_failure" in e], [])
        self.assertLessEqual(rejects_total(registry), len(sequence))
        self.assertNotIn(b"_answer", transport.value())


def signed_heartbeats(clock: Clock, count: int) -> list[dict[bytes, bytes]]:
    counter = itertools.count()
    signer = EnvelopeSigner("lobby", ControlSecrets(SECRET), clock, lambda n: next(counter).to_bytes(n, "big"))
    out = []
    for serial in range(count):
        body = {b"serial": str(serial).encode(), b"digest": b"ab" * 32}
        out.append({**body, **signer.sign(Heartbeat.commandName, body, f"cid-{serial}")})
    return out


class ReplayFuzzTests(SynchronousTestCase):
    @fuzz()
    @given(data=st.data(), count=st.integers(1, 12))
    def test_replayed_and_reordered_messages(self, data: st.DataObject, count: int) -> None:
        """Signed messages delivered in any order, some several times, are each accepted
        exactly once; every repeat is refused REPLAYED_NONCE, whatever came between."""
        clock = Clock()
        clock.advance(START)
        messages = signed_heartbeats(clock, count)
        repeats = data.draw(st.lists(st.integers(0, count - 1), max_size=2 * count))
        order = data.draw(st.permutations(list(range(count)) + repeats))
        gaps = data.draw(st.lists(st.floats(0, 1), min_size=len(order), max_size=len(order)))
        validator = EnvelopeValidator(ControlSecrets(SECRET), clock)
        seen: set[int] = set()
        for index, gap in zip(order, gaps):
            clock.advance(gap)
            verdict = validator.validate(Envelope.from_box(messages[index]), Heartbeat.commandName, {"lobby"})
            if index in seen:
                self.assertEqual(verdict.reason, RejectReason.REPLAYED_NONCE)
            else:
                self.assertTrue(verdict.accepted, verdict)
                seen.add(index)
        self.assertEqual(seen, set(range(count)))

    @fuzz(100)
    @given(delay=st.floats(30.001, 10_000))
    def test_replay_after_the_window_is_stale(self, delay: float) -> None:
        """A message replayed after its nonce could be forgotten is refused by its timestamp."""
        clock = Clock()
        clock.advance(START)
        message, = signed_heartbeats(clock, 1)
        validator = EnvelopeValidator(ControlSecrets(SECRET), clock)
        self.assertTrue(validator.validate(Envelope.from_box(message), Heartbeat.commandName, {"lobby"}).accepted)
        clock.advance(delay)
        verdict = validator.validate(Envelope.from_box(message), Heartbeat.commandName, {"lobby"})
        self.assertEqual(verdict.reason, RejectReason.INVALID_TIMESTAMP)


class MalformedArgumentsTests(ListenerCase):
    """Regression: a box whose arguments do not parse used to reach AMP's unhandled-error
    path, logging a traceback and counting nothing."""

    def hello_box(self, signer_secret: bytes, body: dict[bytes, bytes] | None = None) -> bytes:
        body = body or {}
        clock = Clock()
        clock.advance(START)
        signer = EnvelopeSigner("lobby", ControlSecrets(signer_secret), clock)
        box = {b"_command": Hello.commandName, b"_ask": b"1", **body}
        box.update(signer.sign(Hello.commandName, body, "cid-malformed"))
        return amp.AmpBox(box).serialize()

    def test_unsigned_malformed_box_refused_by_its_envelope(self) -> None:
        """An unsigned Hello without arguments is refused BAD_SIGNATURE, counted, closed."""
        with Failures() as failures:
            protocol, transport, registry, _ = self.listener()
            protocol.dataReceived(self.hello_box(b"not-the-secret-0123456789abcdef"))
            self.close(protocol)
        self.assertEqual(failures, [])
        self.assertEqual(registry.get_sample_value("mcproxy_control_rejects_total", {"reason": "BAD_SIGNATURE"}), 1.0)
        self.assertTrue(transport.disconnecting)

    def test_signed_malformed_box_is_unknown_command(self) -> None:
        """A trusted sender's Hello with a non-integer version is UNKNOWN_COMMAND, counted once,
        and the link stays up."""
        with Failures() as failures:
            protocol, transport, registry, _ = self.listener()
            protocol.dataReceived(self.hello_box(SECRET, {b"server_id": b"lobby", b"artifact_version": b"0.4.0",
                                                          b"control_version": b"one"}))
            self.assertFalse(transport.disconnecting)
            self.close(protocol)
        self.assertEqual(failures, [])
        self.assertEqual(rejects_total(registry), 1.0)
        self.assertEqual(registry.get_sample_value("mcproxy_control_rejects_total", {"reason": "UNKNOWN_COMMAND"}), 1.0)
        self.assertIn(b"UNKNOWN_COMMAND", transport.value())
