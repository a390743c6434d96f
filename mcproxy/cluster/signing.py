"""Signed requests between proxies: whoever can publish on Redis still cannot move players.

Every request and answer on a proxy's channel is wrapped in an envelope (sender, recipient,
timestamp, nonce) and signed with HMAC-SHA256 under a key derived from ``[security]
proxy_secret``, which every proxy and backend of one network already shares.  A key of its
own (derived with a fixed label) keeps a pub/sub signature from ever verifying as a control
plane one.  ``proxy_secret_previous`` also verifies, for a rotation done proxy by proxy.

A message that is not an envelope, does not verify, is addressed to another proxy, is
outside the clock window or repeats a nonce is dropped and counted; what it said and the
keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import OrderedDict

from twisted.logger import Logger

#: Separates the keys: HMAC(proxy_secret, label) signs pub/sub, proxy_secret the control plane.
KEY_LABEL = b"mcproxy cluster pub/sub v1"
#: Nonces remembered at most; past this the oldest go first (they are the nearest to expiring).
MAX_NONCES = 100_000
#: Longest nonce a proxy writes is 32 hex digits; anything longer is not ours.
MAX_NONCE_CHARS = 64
#: How often one refusal reason is logged, at most, so a flood fills the counter, not the log.
LOG_EVERY = 60.0


def derive_key(secret: bytes) -> bytes:
    return hmac.new(secret, KEY_LABEL, hashlib.sha256).digest()


class Refused(Exception):
    """A message that is dropped; ``reason`` is its counter label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageSigner:
    """Seals this proxy's messages and opens those addressed to it."""

    def __init__(self, clock, proxy_id: str, secret: bytes, previous: bytes | None = None,
                 window: float = 30.0, log: Logger | None = None) -> None:
        self._clock = clock
        self._id = proxy_id
        self._key = derive_key(secret)
        self._keys = [self._key] + ([derive_key(previous)] if previous else [])
        self._window = window
        self._log = log or Logger()
        #: nonce -> when it may be forgotten (a message carrying it is outside the window by then).
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._logged: dict[str, float] = {}

    def seal(self, recipient: str, body: dict) -> str:
        envelope = json.dumps({"from": self._id, "to": recipient, "ts": self._clock.seconds(),
                               "nonce": os.urandom(16).hex(), "body": body}, separators=(",", ":"))
        signature = hmac.new(self._key, envelope.encode("utf-8"), hashlib.sha256).hexdigest()
        return json.dumps({"msg": envelope, "sig": signature}, separators=(",", ":"))

    def addressed_to(self, recipient: str) -> "MessageSigner":
        """Opens messages for ``recipient`` (``*``: the directory's events) under the same keys,
        with a nonce memory of its own."""
        opener = MessageSigner.__new__(MessageSigner)
        opener.__dict__.update(self.__dict__, _id=recipient, _seen=OrderedDict(), _logged={})
        return opener

    def open(self, text: str) -> tuple[str, dict]:
        """The sender and body of a message for this proxy; raises :class:`Refused` otherwise."""
        outer = _object(text)
        envelope, signature = outer.get("msg"), outer.get("sig")
        if not (isinstance(envelope, str) and isinstance(signature, str)):
            raise Refused("unsigned")
        signed = envelope.encode("utf-8")
        if not any(hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).hexdigest(), signature)
                   for key in self._keys):
            raise Refused("bad_signature")
        fields = _object(envelope)
        sender, recipient, stamp, nonce, body = (fields.get(k) for k in ("from", "to", "ts", "nonce", "body"))
        if not (isinstance(sender, str) and isinstance(nonce, str) and 0 < len(nonce) <= MAX_NONCE_CHARS
                and isinstance(body, dict)):
            raise Refused("bad_envelope")
        if recipient != self._id:
            raise Refused("wrong_recipient")
        now = self._clock.seconds()
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or abs(now - stamp) > self._window:
            raise Refused("invalid_timestamp")
        self._forget_expired(now)
        if nonce in self._seen:
            raise Refused("replayed_nonce")
        self._seen[nonce] = now + 2 * self._window
        if len(self._seen) > MAX_NONCES:
            self._seen.popitem(last=False)
        return sender, body

    def _forget_expired(self, now: float) -> None:
        while self._seen:
            nonce, until = next(iter(self._seen.items()))
            if until > now:
                return
            del self._seen[nonce]

    def refused(self, reason: str, what: str = "a request on this proxy's cluster channel") -> None:
        """Log a refusal of ``what``, once per reason per minute at most, naming only the reason."""
        now = self._clock.seconds()
        if now - self._logged.get(reason, -LOG_EVERY) >= LOG_EVERY:
            self._logged[reason] = now
            self._log.warn(f"dropped {what}: {{reason}} "
                           "(mcproxy_cluster_bad_messages_total counts them all)", reason=reason)


def _object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise Refused("not_json") from None
    if not isinstance(value, dict):
        raise Refused("not_an_object")
    return value
