"""One side's signing, validation, counting and logging, shared by its links."""

from __future__ import annotations

import os
from collections.abc import Callable, Container
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.protocols import amp

from mcproxy.control.commands import answer_name
from mcproxy.control.envelope import (
    CONTROL_PROTOCOL_VERSION,
    DEFAULT_MAX_CLOCK_SKEW,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_REPLAY_CAPACITY,
    ControlSecrets,
    Envelope,
    EnvelopeSigner,
    EnvelopeValidator,
)
from mcproxy.control.metrics import ControlMetrics
from mcproxy.control.reasons import ControlRejected, RejectReason, rejection


#: Probe ids armed at once, at most.
MAX_ARMED_PROBES = 64


class ControlPeer:
    """Signs what this side sends and vets what it receives.

    Every refusal goes through L{refuse}: one counter increment and one log
    line carrying the reason and correlation id, never a secret.
    """

    def __init__(
        self,
        sender_id: str,
        proxy_secret: bytes,
        proxy_secret_previous: bytes | None,
        clock: IReactorTime,
        registry: CollectorRegistry,
        log: Logger,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
        replay_capacity: int = DEFAULT_REPLAY_CAPACITY,
        random_bytes: Callable[[int], bytes] = os.urandom,
        version: int = CONTROL_PROTOCOL_VERSION,
    ) -> None:
        secrets = ControlSecrets(proxy_secret, proxy_secret_previous)
        self.sender_id = sender_id
        self.clock = clock
        self.log = log
        self.metrics = ControlMetrics(registry)
        self.signer = EnvelopeSigner(sender_id, secrets, clock, random_bytes, version)
        self.validator = EnvelopeValidator(
            secrets, clock, max_payload, max_clock_skew, replay_capacity, version
        )
        #: Correlation ids an operator armed for deliberate bad messages, with their expiry.
        self._probes: dict[str, float] = {}

    @property
    def max_payload(self) -> int:
        return self.validator.max_payload

    def refuse(
        self,
        reason: RejectReason,
        message: str,
        correlation_id: str = "",
        sender: str = "",
    ) -> ControlRejected:
        """Count and log a refusal once; return the exception that carries it.

        A refusal of an armed probe's message is what the operator asked for: it is
        counted apart, so the series alerts watch stay those of real traffic.
        """
        if self.take_probe(correlation_id):
            self.metrics.probe_reject(reason)
            self.log.info(
                "control refused {message} from {sender}: {reason}, as the armed probe expected"
                " (correlation_id={correlation_id})",
                message=message,
                sender=sender,
                reason=reason.value,
                correlation_id=correlation_id,
            )
            return rejection(reason, correlation_id)
        self.metrics.reject(reason)
        self.log.warn(
            "control refused {message} from {sender}: {reason}"
            " (correlation_id={correlation_id})",
            message=message,
            sender=sender,
            reason=reason.value,
            correlation_id=correlation_id,
        )
        return rejection(reason, correlation_id)

    def arm_probes(self, correlation_ids: list[str], ttl: float) -> None:
        """Expect deliberately bad messages carrying these ids for C{ttl} seconds.

        Only the admin surface (token or loopback) arms ids, each is good for one
        refusal, and at most L{MAX_ARMED_PROBES} wait at once, so traffic cannot
        hide its refusals behind a probe label.
        """
        now = self.clock.seconds()
        self._probes = {cid: until for cid, until in self._probes.items() if until > now}
        for cid in correlation_ids[: MAX_ARMED_PROBES - len(self._probes)]:
            self._probes[cid] = now + ttl

    def is_probe(self, correlation_id: str) -> bool:
        until = self._probes.get(correlation_id) if correlation_id else None
        return until is not None and until > self.clock.seconds()

    def take_probe(self, correlation_id: str) -> bool:
        """Whether C{correlation_id} is an armed probe; it is disarmed by the answer."""
        if not self.is_probe(correlation_id):
            return False
        del self._probes[correlation_id]
        return True

    def refuse_outgoing(
        self,
        reason: RejectReason,
        message: str,
        correlation_id: str,
        recipient: str,
        detail: str,
    ) -> ControlRejected:
        """Count and log our refusal to send one of our own messages (say an oversized snapshot).

        Logged as what it is, so nobody reads it as the peer's fault.
        """
        self.metrics.reject(reason)
        self.log.warn(
            "control refused to send {message} to {recipient}: {reason} ({detail})"
            " (correlation_id={correlation_id})",
            message=message,
            recipient=recipient,
            reason=reason.value,
            detail=detail,
            correlation_id=correlation_id,
        )
        return rejection(reason, correlation_id)

    def check(
        self, envelope: Envelope, message_name: bytes, senders: Container[str]
    ) -> str:
        """Validate C{envelope}; return the verified sender or raise the refusal."""
        verdict = self.validator.validate(envelope, message_name, senders)
        if verdict.reason is not None:
            raise self.refuse(
                verdict.reason,
                message_name.decode("ascii", "replace"),
                envelope.correlation_id,
                envelope.sender_id,
            )
        assert verdict.slot is not None
        self.metrics.verified_with(verdict.sender, verdict.slot)
        return verdict.sender

    def secret_usage(self) -> dict[str, dict[str, int]]:
        """Per sender, how many messages each secret verified (for rotations)."""
        return self.validator.secret_usage.as_dict()

    def secret_last_seen(self) -> dict[str, dict[str, float]]:
        """Per sender, when each secret last verified one of its messages."""
        return self.validator.secret_usage.last_seen_dict()


class ControlProtocol(amp.AMP):
    """AMP with our envelope: signs outgoing boxes, checks incoming ones."""

    peer: ControlPeer

    def expected_senders(self) -> Container[str]:
        """Who may send on this connection right now; each side's protocol says.

        The base trusts nobody, so a side that forgot to say refuses every message
        (UNEXPECTED_SENDER) rather than accepting any.
        """
        return frozenset()

    def sign_box(
        self, message_name: bytes, box: dict[bytes, bytes], correlation_id: str | None
    ) -> dict[bytes, bytes]:
        return self.peer.signer.sign(message_name, box, correlation_id)

    def check_request(self, command: type[amp.Command], envelope: Envelope) -> str:
        return self.peer.check(envelope, command.commandName, self.expected_senders())

    def check_answer(self, command: type[amp.Command], envelope: Envelope) -> None:
        try:
            self.peer.check(envelope, answer_name(command), self.expected_senders())
        except ControlRejected as refusal:
            if type(refusal) in command.fatalErrors:
                self.transport.loseConnection()
            raise

    def call(
        self, command: type[amp.Command], correlation_id: str | None = None, **kw: Any
    ) -> defer.Deferred[dict[str, Any]]:
        """callRemote with our envelope; C{correlation_id} is made up if absent.

        The returned Deferred is detached from AMP's own: AMP drops the
        connection when an answer's failure is still unhandled on arrival, and
        a refusal (say UNKNOWN_PLAYER) is an answer, not a broken link.
        """
        answer: defer.Deferred[dict[str, Any]] = defer.Deferred()
        sent = defer.maybeDeferred(self.callRemote, command, envelope=correlation_id, **kw)
        sent.addCallbacks(answer.callback, answer.errback)
        return answer

    def ampBoxReceived(self, box: amp.AmpBox) -> None:
        """A box that is neither a command, an answer nor an error is refused and the link
        closed: AMP would raise NoEmptyBoxes out of dataReceived, a traceback."""
        if amp.COMMAND in box or amp.ANSWER in box or amp.ERROR in box:
            super().ampBoxReceived(box)
            return
        self.peer.refuse(RejectReason.UNKNOWN_COMMAND, "a box without a command")
        self.transport.loseConnection()

    def locateResponder(self, name: bytes) -> Callable[[amp.AmpBox], Any] | None:
        responder = super().locateResponder(name)
        if responder is not None:
            command, _ = self._commandDispatch[name]
            return self._refusing_malformed(command, responder)

        def unknown(box: amp.AmpBox) -> defer.Deferred[Any]:
            envelope = Envelope.from_box(box)
            refusal = self.peer.refuse(
                RejectReason.UNKNOWN_COMMAND,
                name.decode("ascii", "replace")[:64],
                envelope.correlation_id,
                envelope.sender_id,
            )
            return defer.fail(
                amp.RemoteAmpError(refusal.reason.code, str(refusal), fatal=False)
            )

        return unknown

    def _refusing_malformed(
        self, command: type[amp.Command], responder: Callable[[amp.AmpBox], Any]
    ) -> Callable[[amp.AmpBox], Any]:
        """Refuse a box whose arguments do not parse, by reason, instead of AMP's traceback.

        AMP parses arguments before our responder can check the envelope, and logs
        any parse error as an unhandled failure. The envelope still decides: a box
        that fails it is refused for that reason (fatal as usual); a trusted sender's
        malformed arguments are UNKNOWN_COMMAND, a form this side does not know.
        """

        def guarded(box: amp.AmpBox) -> Any:
            try:
                command.parseArguments(box, self)
            except Exception:
                envelope = Envelope.from_box(box)
                verdict = self.peer.validator.validate(
                    envelope, command.commandName, self.expected_senders()
                )
                reason = verdict.reason or RejectReason.UNKNOWN_COMMAND
                refusal = self.peer.refuse(
                    reason,
                    command.commandName.decode("ascii", "replace"),
                    envelope.correlation_id,
                    envelope.sender_id,
                )
                fatal = type(refusal) in command.fatalErrors
                return defer.fail(
                    amp.RemoteAmpError(refusal.reason.code, str(refusal), fatal=fatal)
                )
            return responder(box)

        return guarded
