"""The fixed set of control-plane refusal reasons and their exceptions.

Operators' runbooks and dashboards key on these names, so each refusal carries
exactly one of them and the names never change.
"""

from __future__ import annotations

from enum import Enum


class RejectReason(str, Enum):
    """Why a control message or bridged request was refused."""

    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    VERSION_MISMATCH = "VERSION_MISMATCH"
    UNEXPECTED_SENDER = "UNEXPECTED_SENDER"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    REPLAYED_NONCE = "REPLAYED_NONCE"
    REPLAYED_SNAPSHOT = "REPLAYED_SNAPSHOT"
    UNSYNCHRONIZED_REGISTRY = "UNSYNCHRONIZED_REGISTRY"
    UNKNOWN_PLAYER = "UNKNOWN_PLAYER"
    UNKNOWN_SERVER = "UNKNOWN_SERVER"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"

    @property
    def code(self) -> bytes:
        """The AMP error code that carries this reason on the wire."""
        return self.value.encode("ascii")


class ControlRejected(Exception):
    """A refusal with exactly one reason; AMP maps each subclass to its code.

    The message is the reason name only, so nothing the peer sent (and no
    secret) can leak into an error box or a log line through it.
    """

    reason: RejectReason

    def __init__(self, description: str = "", correlation_id: str = "") -> None:
        super().__init__(self.reason.value)
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        return self.reason.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason.value!r})"


class PayloadTooLarge(ControlRejected):
    reason = RejectReason.PAYLOAD_TOO_LARGE


class VersionMismatch(ControlRejected):
    reason = RejectReason.VERSION_MISMATCH


class UnexpectedSender(ControlRejected):
    reason = RejectReason.UNEXPECTED_SENDER


class InvalidTimestamp(ControlRejected):
    reason = RejectReason.INVALID_TIMESTAMP


class BadSignature(ControlRejected):
    reason = RejectReason.BAD_SIGNATURE


class ReplayedNonce(ControlRejected):
    reason = RejectReason.REPLAYED_NONCE


class ReplayedSnapshot(ControlRejected):
    reason = RejectReason.REPLAYED_SNAPSHOT


class UnsynchronizedRegistry(ControlRejected):
    reason = RejectReason.UNSYNCHRONIZED_REGISTRY


class UnknownPlayer(ControlRejected):
    reason = RejectReason.UNKNOWN_PLAYER


class UnknownServer(ControlRejected):
    reason = RejectReason.UNKNOWN_SERVER


class UnknownCommand(ControlRejected):
    reason = RejectReason.UNKNOWN_COMMAND


EXCEPTIONS: dict[RejectReason, type[ControlRejected]] = {
    cls.reason: cls
    for cls in (
        PayloadTooLarge,
        VersionMismatch,
        UnexpectedSender,
        InvalidTimestamp,
        BadSignature,
        ReplayedNonce,
        ReplayedSnapshot,
        UnsynchronizedRegistry,
        UnknownPlayer,
        UnknownServer,
        UnknownCommand,
    )
}


def rejection(reason: RejectReason, correlation_id: str = "") -> ControlRejected:
    """Build the exception that carries C{reason}."""
    return EXCEPTIONS[reason](correlation_id=correlation_id)
