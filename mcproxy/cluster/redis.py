"""The proxy's connections to Redis: one for commands, one subscribed, both reconnecting.

``txredisapi`` speaks the protocol; Twisted's ``ClientService`` owns the connections, so
the endpoint is any client endpoint string (``tcp:``, ``ssl:``, ``unix:``), the clock is
the one passed in and the retry delay is capped at the heartbeat interval, which is what
lets a proxy republish its players within one heartbeat of Redis coming back.
"""

from __future__ import annotations

import random
from typing import Callable

import txredisapi
from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from mcproxy.proxy.fastpath import fast_path


class RedisUnavailable(Exception):
    """Redis cannot be asked right now: not connected, refused, or too slow to answer."""


class _Protocol(txredisapi.RedisProtocol):
    """Reports its loss; the delayed calls it makes run on our clock, not the global one."""

    def connectionLost(self, why) -> None:
        super().connectionLost(why)
        self.factory.lost(self)


class _Subscriber(txredisapi.SubscriberProtocol):

    def messageReceived(self, pattern, channel, message) -> None:
        self.factory.message(channel, message)

    def connectionLost(self, why) -> None:
        super().connectionLost(why)
        self.factory.lost(self)


class _Factory(Factory):

    def __init__(self, protocol_class, clock, lost: Callable, message: Callable | None = None) -> None:
        self.protocol = protocol_class
        self._clock = clock
        self.lost = lost
        self.message = message

    def buildProtocol(self, addr):
        protocol = self.protocol(charset="utf-8", convertNumbers=False)
        protocol.callLater = self._clock.callLater
        protocol.factory = self
        return protocol


class RedisLink(MultiService):
    """Connected when both connections are up, authenticated and subscribed.

    ``call`` fails at once with :class:`RedisUnavailable` while not connected, and after
    ``timeout`` seconds when Redis does not answer, so a caller can fall back instead of
    waiting; the password is sent with AUTH and is never part of a message or log line.
    """

    def __init__(self, reactor, endpoint: str, password: bytes | None, channels: list[str],
                 on_message: Callable[[str, str], None], log: Logger, retry_max: float = 5.0,
                 timeout: float = 2.0) -> None:
        super().__init__()
        self._reactor = reactor
        self._password = password
        self._channels = channels
        self._on_message = on_message
        self._log = log
        self._timeout = timeout
        self._retry_max = retry_max
        #: Refused connections waiting to be closed; stopping closes them at once instead.
        self._closing: list = []
        self._command: _Protocol | None = None
        self._subscriber: _Subscriber | None = None
        self._observers: list[Callable[[bool], None]] = []
        self.last_error = "not connected yet"
        # Delay plus jitter stays within retry_max (the heartbeat interval): a proxy is back in
        # the directory within one heartbeat of Redis coming back.
        policy = backoffPolicy(initialDelay=min(0.1, retry_max * 0.9), maxDelay=retry_max * 0.9, factor=2.0,
                               jitter=lambda: random.random() * retry_max * 0.1)
        for role, protocol_class, prepare, message in (
                ("command", _Protocol, self._prepare_command, None),
                ("subscriber", _Subscriber, self._prepare_subscriber, self._message)):
            # Each service holds one connection at a time, so a loss is always its current one.
            factory = _Factory(protocol_class, reactor, lambda protocol, role=role: self._lost(role), message)
            ClientService(clientFromString(reactor, endpoint), factory, retryPolicy=policy, clock=reactor,
                          prepareConnection=prepare).setServiceParent(self)

    def stopService(self):
        for call in self._closing:
            if call.active():
                call.cancel()
        self._closing = []
        return super().stopService()

    @property
    def connected(self) -> bool:
        return self._command is not None and self._subscriber is not None

    def observe(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(connected)`` whenever the link comes up or goes down."""
        self._observers.append(callback)

    def call(self, *args) -> defer.Deferred:
        """Run one Redis command; fails with :class:`RedisUnavailable` rather than hang."""
        return self._guard(lambda command: command.execute_command(*args))

    def eval(self, script: str, keys: list[str], args: list) -> defer.Deferred:
        return self._guard(lambda command: command.eval(script, keys, args))

    def _guard(self, send) -> defer.Deferred:
        command = self._command
        if command is None or not command.connected:
            # Between the socket closing and our being told, txredisapi raises instead.
            return defer.fail(RedisUnavailable(self.last_error or "connection lost"))
        d = defer.maybeDeferred(send, command)
        d.addTimeout(self._timeout, self._reactor)
        d.addErrback(self._unavailable)
        return d

    def _unavailable(self, failure):
        if failure.check(defer.TimeoutError, defer.CancelledError):
            raise RedisUnavailable(f"no answer within {self._timeout:g} s")
        if failure.check(txredisapi.ConnectionError):
            raise RedisUnavailable(str(failure.value))
        if failure.check(txredisapi.ResponseError):
            # Redis answered with an error (out of memory, read-only replica, ...): as good as down.
            raise RedisUnavailable(f"redis error: {str(failure.value).split(' ', 1)[0]}")
        return failure

    @defer.inlineCallbacks
    def _greet(self, protocol):
        """AUTH when a password is set, then PING: a Redis wanting a password we lack says so here.

        A refused connection is closed ``retry_max`` later rather than at once: ClientService
        counts it as made, so closing it at once would retry a wrong password in a tight loop
        (and failing ``prepareConnection`` would leave the socket open).
        """
        try:
            if self._password is not None:
                yield protocol.execute_command("AUTH", self._password)
            yield protocol.execute_command("PING")
        except txredisapi.ResponseError as error:
            # Redis's first word names the problem (WRONGPASS, NOAUTH, ...), never the password.
            reason = f"redis refused this proxy: {str(error).split(' ', 1)[0]}"
            if reason != self.last_error:
                self._log.error("{error}", error=reason)
            self.last_error = reason
            self._closing = [c for c in self._closing if c.active()]
            self._closing.append(self._reactor.callLater(self._retry_max, protocol.transport.loseConnection))
            return False
        return True

    @defer.inlineCallbacks
    def _prepare_command(self, protocol):
        if (yield self._greet(protocol)):
            # A turn's directory writes are one command: sent at once, not on the next turn.
            fast_path(protocol.transport)
            self._command = protocol
            self._changed()

    @defer.inlineCallbacks
    def _prepare_subscriber(self, protocol):
        if (yield self._greet(protocol)):
            yield protocol.subscribe(self._channels)
            self._subscriber = protocol
            self._changed()

    def _lost(self, role: str) -> None:
        was = self.connected
        if role == "command":
            self._command = None
        else:
            self._subscriber = None
        if was:
            self.last_error = "connection lost"
            self._log.warn("redis connection lost")
            self._notify(False)

    def _changed(self) -> None:
        if self.connected:
            self.last_error = ""
            self._log.info("redis connected")
            self._notify(True)

    def _notify(self, connected: bool) -> None:
        for observer in list(self._observers):
            observer(connected)

    def _message(self, channel, message) -> None:
        self._on_message(channel, message)
