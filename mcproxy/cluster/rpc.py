"""Requests from one proxy to another over Redis pub/sub, and their answers.

A command for a player held by another proxy runs there: the request goes to that
proxy's channel, its answer comes back on ours.  Both are small JSON objects sealed by
:class:`mcproxy.cluster.signing.MessageSigner`; anything else on the channel is refused and
counted, and a request nobody answers fails after ``timeout`` seconds.
"""

from __future__ import annotations

from itertools import count
from typing import Callable

from twisted.internet import defer
from twisted.logger import Logger

from mcproxy.cluster.signing import MessageSigner, Refused
from mcproxy.cluster.store import rpc_channel

MAX_MESSAGE_BYTES = 64 * 1024


class RemoteError(Exception):
    """Another proxy could not be asked, or did not answer in time."""


class ProxyRPC:

    def __init__(self, clock, publish: Callable[[str, str], defer.Deferred], proxy_id: str,
                 handlers: dict[str, Callable[[dict], defer.Deferred]], metrics, log: Logger,
                 signer: MessageSigner, timeout: float = 5.0) -> None:
        self._clock = clock
        self._publish = publish
        self._id = proxy_id
        self._handlers = handlers
        self._metrics = metrics
        self._log = log
        self._signer = signer
        self._timeout = timeout
        self._serial = count(1)
        #: serial -> (the proxy asked, the Deferred waiting for its answer)
        self._pending: dict[int, tuple[str, defer.Deferred]] = {}

    @property
    def channel(self) -> str:
        return rpc_channel(self._id)

    def request(self, proxy: str, operation: str, args: dict) -> defer.Deferred:
        """Ask ``proxy`` to run ``operation``; fires with its answer (a dict)."""
        serial = next(self._serial)
        waiter: defer.Deferred = defer.Deferred(lambda d: self._pending.pop(serial, None))
        self._pending[serial] = (proxy, waiter)
        message = self._signer.seal(proxy, {"id": serial, "op": operation, "args": args})
        sent = self._publish(rpc_channel(proxy), message)

        def not_sent(failure):
            if self._pending.pop(serial, None) is not None:
                waiter.errback(RemoteError(f"cannot reach proxy {proxy}: {failure.getErrorMessage()}"))

        def delivered(receivers):
            # PUBLISH answers how many subscribers got it: none means that proxy is gone.
            if int(receivers) == 0 and self._pending.pop(serial, None) is not None:
                waiter.errback(RemoteError(f"proxy {proxy} is not listening"))

        sent.addCallbacks(delivered, not_sent)
        waiter.addTimeout(self._timeout, self._clock)
        waiter.addCallbacks(self._answered_ok, self._failed, callbackArgs=(operation,),
                            errbackArgs=(proxy, operation))
        return waiter

    def _answered_ok(self, result: dict, operation: str) -> dict:
        self._metrics.rpc.labels(operation, "answered").inc()
        return result

    def _failed(self, failure, proxy: str, operation: str):
        if failure.check(defer.TimeoutError, defer.CancelledError):
            self._metrics.rpc.labels(operation, "timeout").inc()
            raise RemoteError(f"proxy {proxy} did not answer within {self._timeout:g} s")
        self._metrics.rpc.labels(operation, "unreachable").inc()
        return failure

    def received(self, text: str) -> None:
        """A message on our channel: a request to run, or the answer to one of ours."""
        if len(text) > MAX_MESSAGE_BYTES:
            self._metrics.bad_messages.labels("too_large").inc()
            return
        try:
            sender, message = self._signer.open(text)
        except Refused as refusal:
            self._metrics.bad_messages.labels(refusal.reason).inc()
            self._signer.refused(refusal.reason)
            return
        if "reply" in message:
            self._answered(sender, message)
        else:
            self._run(sender, message)

    def _answered(self, sender: str, message: dict) -> None:
        serial = message.get("reply")
        pending = self._pending.get(serial) if isinstance(serial, int) else None
        if pending is None or pending[0] != sender:
            # Late (after a timeout), never ours, or from a proxy we did not ask.
            self._metrics.bad_messages.labels("unexpected_reply").inc()
            return
        del self._pending[serial]
        waiter = pending[1]
        result = message.get("result")
        if not isinstance(result, dict):
            self._metrics.bad_messages.labels("bad_reply").inc()
            waiter.errback(RemoteError("malformed answer"))
            return
        waiter.callback(result)

    def _run(self, sender: str, message: dict) -> None:
        serial, operation, args = (message.get(k) for k in ("id", "op", "args"))
        if not (isinstance(serial, int) and isinstance(args, dict)):
            self._metrics.bad_messages.labels("bad_request").inc()
            return
        handler = self._handlers.get(operation) if isinstance(operation, str) else None
        if handler is None:
            self._metrics.bad_messages.labels("unknown_operation").inc()
            return
        self._metrics.rpc.labels(operation, "served").inc()
        d = defer.maybeDeferred(handler, args)

        def failed(failure):
            self._log.failure("cluster request {operation} from {sender} failed", failure,
                              operation=operation, sender=sender)
            return {"ok": False, "text": "the request failed on the player's proxy"}

        d.addErrback(failed)
        d.addCallback(lambda result: self._publish(
            rpc_channel(sender), self._signer.seal(sender, {"reply": serial, "result": result})))
        d.addErrback(lambda failure: self._log.warn("cannot answer {sender}: {error}", sender=sender,
                                                    error=failure.getErrorMessage()))
