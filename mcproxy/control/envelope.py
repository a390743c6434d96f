"""The signed envelope carried by every control message, and its validator.

Everything here is pure: no sockets, no global clock, no global state. The
validator takes an C{IReactorTime} so tests drive it with a C{task.Clock}.

Canonical encoding (what the HMAC covers), each field as a 4-byte big-endian
length followed by its bytes, in this order::

    b"mcproxy-control"            domain tag
    sender                        UTF-8
    version                       ASCII decimal
    timestamp                     ASCII decimal, milliseconds since the epoch
    nonce                         32 lowercase hex digits (16 random bytes)
    correlation id                UTF-8
    message name                  the AMP command name, plus b"/answer" for answers
    body count                    ASCII decimal
    key, value, key, value, ...   body pairs sorted by key (bytewise), exactly
                                  as they travel in the AMP box

The body is every key of the AMP box except AMP's own (leading C{_}) and the
envelope's (leading C{env_}), so arguments added by a newer peer are signed
too and an older peer still verifies them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import uuid
from collections import OrderedDict
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from twisted.internet.interfaces import IReactorTime

from mcproxy.control.reasons import RejectReason

CONTROL_PROTOCOL_VERSION = 1
DEFAULT_MAX_PAYLOAD = 1048576
DEFAULT_MAX_CLOCK_SKEW = 30.0
DEFAULT_REPLAY_CAPACITY = 65536

DOMAIN_TAG = b"mcproxy-control"
ANSWER_SUFFIX = b"/answer"

ENV_SENDER = b"env_sender"
ENV_VERSION = b"env_version"
ENV_TIMESTAMP = b"env_timestamp"
ENV_NONCE = b"env_nonce"
ENV_CORRELATION = b"env_correlation"
ENV_SIGNATURE = b"env_signature"
ENVELOPE_KEYS = (
    ENV_SENDER,
    ENV_VERSION,
    ENV_TIMESTAMP,
    ENV_NONCE,
    ENV_CORRELATION,
    ENV_SIGNATURE,
)
MAX_CORRELATION_ID = 64

_LENGTH = struct.Struct(">I")


def is_body_key(key: bytes) -> bool:
    """Whether an AMP box key belongs to the signed body."""
    return not key.startswith(b"_") and not key.startswith(b"env_")


def new_correlation_id() -> str:
    """A fresh id tying a request, its answer and their log lines together."""
    return uuid.uuid4().hex


def _field(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


def canonical_encoding(
    sender: bytes,
    version: bytes,
    timestamp: bytes,
    nonce: bytes,
    correlation_id: bytes,
    message_name: bytes,
    body: Iterable[tuple[bytes, bytes]],
) -> bytes:
    """Encode the signed fields unambiguously (see the module docstring)."""
    pairs = sorted(body)
    parts = [
        _field(DOMAIN_TAG),
        _field(sender),
        _field(version),
        _field(timestamp),
        _field(nonce),
        _field(correlation_id),
        _field(message_name),
        _field(str(len(pairs)).encode("ascii")),
    ]
    for key, value in pairs:
        parts.append(_field(key))
        parts.append(_field(value))
    return b"".join(parts)


class SecretSlot(str, Enum):
    """Which configured secret verified a message."""

    CURRENT = "current"
    PREVIOUS = "previous"


class ControlSecrets:
    """The current signing secret and, during a rotation, the previous one.

    Only C{current} signs; both verify. The repr never shows either secret.
    """

    __slots__ = ("_current", "_previous")

    def __init__(self, current: bytes, previous: bytes | None = None) -> None:
        if not isinstance(current, bytes) or not current:
            raise ValueError("the control secret must be non-empty bytes")
        if previous is not None and not isinstance(previous, bytes):
            raise ValueError("the previous control secret must be bytes")
        self._current = current
        self._previous = previous or None

    @property
    def rotating(self) -> bool:
        """Whether a previous secret is still accepted."""
        return self._previous is not None

    def mac(self, data: bytes) -> bytes:
        """HMAC-SHA256 of C{data} under the current secret."""
        return hmac.new(self._current, data, hashlib.sha256).digest()

    def verify(self, data: bytes, signature: bytes) -> SecretSlot | None:
        """Which secret produced C{signature}, or None if neither did."""
        if hmac.compare_digest(self.mac(data), signature):
            return SecretSlot.CURRENT
        if self._previous is not None:
            expected = hmac.new(self._previous, data, hashlib.sha256).digest()
            if hmac.compare_digest(expected, signature):
                return SecretSlot.PREVIOUS
        return None

    def __repr__(self) -> str:
        return f"<ControlSecrets rotating={self.rotating}>"


@dataclass(frozen=True)
class Envelope:
    """An envelope as received: raw wire values plus the body they sign.

    Fields stay as received bytes so the validator reproduces the exact
    canonical encoding; parsed views are offered as properties.
    """

    sender: bytes | None
    version: bytes | None
    timestamp: bytes | None
    nonce: bytes | None
    correlation: bytes | None
    signature: bytes | None
    body: tuple[tuple[bytes, bytes], ...] = ()
    wire_size: int = 0

    @classmethod
    def from_box(cls, box: Mapping[bytes, bytes]) -> Envelope:
        """Split an AMP box into envelope fields and signed body."""
        body = tuple(sorted((k, v) for k, v in box.items() if is_body_key(k)))
        size = sum(len(k) + len(v) for k, v in box.items())
        return cls(
            sender=box.get(ENV_SENDER),
            version=box.get(ENV_VERSION),
            timestamp=box.get(ENV_TIMESTAMP),
            nonce=box.get(ENV_NONCE),
            correlation=box.get(ENV_CORRELATION),
            signature=box.get(ENV_SIGNATURE),
            body=body,
            wire_size=size,
        )

    @property
    def sender_id(self) -> str:
        """The claimed sender, for logs (never trusted before validation)."""
        if self.sender is None:
            return ""
        return self.sender.decode("utf-8", "replace")[:64]

    @property
    def correlation_id(self) -> str:
        """The correlation id, bounded and printable, for logs and answers."""
        if self.correlation is None:
            return ""
        text = self.correlation.decode("utf-8", "replace")[:MAX_CORRELATION_ID]
        return text if text.isprintable() else text.encode("unicode_escape").decode()

    def version_number(self) -> int | None:
        try:
            return int(self.version or b"")
        except ValueError:
            return None

    def timestamp_ms(self) -> int | None:
        try:
            return int(self.timestamp or b"")
        except ValueError:
            return None


class EnvelopeSigner:
    """Stamps outgoing messages with an envelope signed by the current secret."""

    def __init__(
        self,
        sender_id: str,
        secrets: ControlSecrets,
        clock: IReactorTime,
        random_bytes: Callable[[int], bytes] = os.urandom,
        version: int = CONTROL_PROTOCOL_VERSION,
    ) -> None:
        self.sender_id = sender_id
        self._secrets = secrets
        self._clock = clock
        self._random_bytes = random_bytes
        self._version = version

    def sign(
        self,
        message_name: bytes,
        body: Mapping[bytes, bytes],
        correlation_id: str | None = None,
    ) -> dict[bytes, bytes]:
        """The envelope keys to add to a box whose body is C{body}."""
        fields = {
            ENV_SENDER: self.sender_id.encode("utf-8"),
            ENV_VERSION: str(self._version).encode("ascii"),
            ENV_TIMESTAMP: str(int(self._clock.seconds() * 1000)).encode("ascii"),
            ENV_NONCE: self._random_bytes(16).hex().encode("ascii"),
            ENV_CORRELATION: (correlation_id or new_correlation_id()).encode("utf-8"),
        }
        data = canonical_encoding(
            fields[ENV_SENDER],
            fields[ENV_VERSION],
            fields[ENV_TIMESTAMP],
            fields[ENV_NONCE],
            fields[ENV_CORRELATION],
            message_name,
            ((k, v) for k, v in body.items() if is_body_key(k)),
        )
        fields[ENV_SIGNATURE] = self._secrets.mac(data).hex().encode("ascii")
        return fields

    def __repr__(self) -> str:
        return f"<EnvelopeSigner sender={self.sender_id!r}>"


class ReplayCache:
    """Nonces seen recently, bounded in time and count.

    A nonce is kept for C{window} seconds (twice the clock skew: the longest a
    message with that nonce can still pass the timestamp check). When full,
    the oldest entry goes first.
    """

    def __init__(self, clock: IReactorTime, window: float, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("replay cache capacity must be at least 1")
        self._clock = clock
        self._window = window
        self._capacity = capacity
        self._entries: OrderedDict[tuple[bytes, bytes], float] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: float) -> None:
        while self._entries:
            key, expiry = next(iter(self._entries.items()))
            if expiry > now:
                break
            del self._entries[key]

    def seen(self, sender: bytes, nonce: bytes) -> bool:
        self._expire(self._clock.seconds())
        return (sender, nonce) in self._entries

    def remember(self, sender: bytes, nonce: bytes) -> None:
        now = self._clock.seconds()
        self._expire(now)
        self._entries[(sender, nonce)] = now + self._window
        self._entries.move_to_end((sender, nonce))
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
            self.evicted += 1


@dataclass(frozen=True)
class Verdict:
    """The outcome of validating one envelope: a slot or one reason."""

    reason: RejectReason | None = None
    slot: SecretSlot | None = None
    sender: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass
class SecretUsage:
    """Messages verified per sender and secret, to see when a rotation may end."""

    counts: dict[tuple[str, SecretSlot], int] = field(default_factory=dict)
    last_seen: dict[tuple[str, SecretSlot], float] = field(default_factory=dict)

    def record(self, sender: str, slot: SecretSlot, when: float | None = None) -> None:
        """Count one verified message; C{when} tells a peer that switched from one still signing old."""
        key = (sender, slot)
        self.counts[key] = self.counts.get(key, 0) + 1
        if when is not None:
            self.last_seen[key] = when

    def previous_in_use(self) -> dict[str, int]:
        """Senders still signing with the previous secret, and how often."""
        return {
            sender: n
            for (sender, slot), n in self.counts.items()
            if slot is SecretSlot.PREVIOUS
        }

    def as_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (sender, slot), n in sorted(self.counts.items()):
            out.setdefault(sender, {})[slot.value] = n
        return out

    def last_seen_dict(self) -> dict[str, dict[str, float]]:
        """Per sender and secret, when a message last verified (clock seconds)."""
        out: dict[str, dict[str, float]] = {}
        for (sender, slot), when in sorted(self.last_seen.items()):
            out.setdefault(sender, {})[slot.value] = when
        return out


class EnvelopeValidator:
    """Decides, deterministically, whether an envelope is acceptable.

    Checks run in a fixed order and the first failure is the one reason:
    PAYLOAD_TOO_LARGE, VERSION_MISMATCH, UNEXPECTED_SENDER, INVALID_TIMESTAMP,
    BAD_SIGNATURE, REPLAYED_NONCE. A nonce is remembered only once its
    signature verified, so forged traffic cannot fill the replay cache.
    """

    def __init__(
        self,
        secrets: ControlSecrets,
        clock: IReactorTime,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
        replay_capacity: int = DEFAULT_REPLAY_CAPACITY,
        version: int = CONTROL_PROTOCOL_VERSION,
    ) -> None:
        self._secrets = secrets
        self._clock = clock
        self.max_payload = max_payload
        self.max_clock_skew = max_clock_skew
        self._version = version
        self.replay_cache = ReplayCache(clock, 2 * max_clock_skew, replay_capacity)
        self.secret_usage = SecretUsage()

    def validate(
        self,
        envelope: Envelope,
        message_name: bytes,
        senders: Container[str],
    ) -> Verdict:
        """Check C{envelope} for C{message_name} from one of C{senders}."""
        if envelope.wire_size > self.max_payload:
            return Verdict(RejectReason.PAYLOAD_TOO_LARGE)
        if envelope.version_number() != self._version:
            return Verdict(RejectReason.VERSION_MISMATCH)
        if envelope.sender is None:
            return Verdict(RejectReason.UNEXPECTED_SENDER)
        try:
            sender = envelope.sender.decode("utf-8")
        except UnicodeDecodeError:
            return Verdict(RejectReason.UNEXPECTED_SENDER)
        if sender not in senders:
            return Verdict(RejectReason.UNEXPECTED_SENDER)
        timestamp = envelope.timestamp_ms()
        if timestamp is None:
            return Verdict(RejectReason.INVALID_TIMESTAMP)
        if abs(self._clock.seconds() - timestamp / 1000.0) > self.max_clock_skew:
            return Verdict(RejectReason.INVALID_TIMESTAMP)
        slot = self._verify_signature(envelope, message_name)
        if slot is None:
            return Verdict(RejectReason.BAD_SIGNATURE)
        assert envelope.nonce is not None
        if self.replay_cache.seen(envelope.sender, envelope.nonce):
            return Verdict(RejectReason.REPLAYED_NONCE)
        self.replay_cache.remember(envelope.sender, envelope.nonce)
        self.secret_usage.record(sender, slot, self._clock.seconds())
        return Verdict(slot=slot, sender=sender)

    def _verify_signature(
        self, envelope: Envelope, message_name: bytes
    ) -> SecretSlot | None:
        if envelope.nonce is None or envelope.correlation is None:
            return None
        if len(envelope.nonce) != 32 or len(envelope.correlation) > MAX_CORRELATION_ID:
            return None
        try:
            signature = bytes.fromhex((envelope.signature or b"").decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
        assert envelope.sender is not None
        assert envelope.version is not None and envelope.timestamp is not None
        data = canonical_encoding(
            envelope.sender,
            envelope.version,
            envelope.timestamp,
            envelope.nonce,
            envelope.correlation,
            message_name,
            envelope.body,
        )
        return self._secrets.verify(data, signature)

    def __repr__(self) -> str:
        return (
            f"<EnvelopeValidator max_payload={self.max_payload}"
            f" max_clock_skew={self.max_clock_skew}>"
        )
