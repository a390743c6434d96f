"""Signed directory events: a change on one proxy reaches the others' views, and nothing else does.

Every change to the directory is published on ``mcproxy:events`` by the script that makes it,
in the same step.  The proxy seals the event before it calls the script (the envelope and key
of its requests, addressed to every proxy: ``*``) and the script publishes it as given, so a
Redis client without ``proxy_secret`` can no longer put a player in, or take one out of,
every proxy's view until the next heartbeat.  A receiver opens an event like a request: not
an envelope, a bad signature, another recipient, a stale timestamp or a nonce seen before is
dropped and counted in ``mcproxy_cluster_bad_messages_total{reason}``.  A proxy's own events
come back to it too; they are recognised by their first bytes and skipped unopened.
"""

from __future__ import annotations

import json
from typing import Callable

from mcproxy.cluster.signing import MessageSigner, Refused

#: The recipient of an event: every proxy.
BROADCAST = "*"
#: An event is an envelope around one entry; anything much larger was not sealed by a proxy.
MAX_EVENT_BYTES = 16 * 1024


def sealer(signer: MessageSigner) -> Callable[[dict], str]:
    """What the store seals each event with before the script publishes it."""
    return lambda body: signer.seal(BROADCAST, body)


def own_prefix(proxy_id: str) -> str:
    """How every event ``proxy_id`` seals begins (its envelope's sender and recipient, first)."""
    return '{"msg":' + json.dumps('{"from":' + json.dumps(proxy_id) + f',"to":"{BROADCAST}",')[:-1]


class EventInbox:
    """Opens what arrives on the events channel: the sender and body of each genuine event."""

    def __init__(self, proxy_id: str, signer: MessageSigner, metrics) -> None:
        #: The signer's keys and log, with a nonce memory and log pacing of its own.
        self._opener = signer.addressed_to(BROADCAST)
        self._own = own_prefix(proxy_id)
        self._metrics = metrics

    def open(self, text: str) -> tuple[str, dict] | None:
        """``(sender, body)``, or None for this proxy's own event and for a refused one."""
        if text.startswith(self._own):
            return None
        if len(text) > MAX_EVENT_BYTES:
            return self._refused("too_large")
        try:
            return self._opener.open(text)
        except Refused as refusal:
            return self._refused(refusal.reason)

    def _refused(self, reason: str) -> None:
        self._metrics.bad_messages.labels(reason).inc()
        self._opener.refused(reason, "an event on the cluster's events channel")
        return None
