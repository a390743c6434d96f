"""The session server client's body read: bounded in size and in time, cancellable."""

from __future__ import annotations

import json
import uuid

from twisted.internet import defer, task
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss

from mcproxy.proxy.auth import AuthenticationError, SessionServerClient, read_body


class FakeBodyTransport:
    """What ``Response.deliverBody`` hands the protocol: only ``stopProducing`` matters."""

    def __init__(self) -> None:
        self.stopped = False

    def stopProducing(self) -> None:
        self.stopped = True


class FakeResponse:
    def __init__(self, code: int = 200, length: int | None = None) -> None:
        self.code = code
        self.length = length
        self.transport = FakeBodyTransport()
        self.protocol = None

    def deliverBody(self, protocol) -> None:
        self.protocol = protocol
        protocol.makeConnection(self.transport)


class FakeAgent:
    def __init__(self, response: FakeResponse) -> None:
        self.response = response

    def request(self, method, url, headers=None, body=None):
        return defer.succeed(self.response)


class ReadBodyTests(SynchronousTestCase):
    def test_whole_body(self):
        """Chunks are joined when the body ends (cleanly, or without a length)."""
        for end in (ResponseDone(), PotentialDataLoss()):
            response = FakeResponse()
            d = read_body(response, 100)
            response.protocol.dataReceived(b"ab")
            response.protocol.dataReceived(b"cd")
            response.protocol.connectionLost(Failure(end))
            self.assertEqual(self.successResultOf(d), b"abcd")

    def test_over_limit_stops_the_transfer(self):
        """Past the limit the transfer is stopped at once and the read fails by reason."""
        response = FakeResponse()
        d = read_body(response, 3)
        response.protocol.dataReceived(b"abcd")
        self.assertTrue(response.transport.stopped)
        self.assertEqual(self.failureResultOf(d, AuthenticationError).value.reason, "BAD_SESSION_RESPONSE")
        response.protocol.connectionLost(Failure(ResponseDone()))

    def test_cancel_aborts(self):
        """Cancelling the read (what a timeout does) stops the transfer."""
        response = FakeResponse()
        d = read_body(response, 100)
        d.cancel()
        self.assertTrue(response.transport.stopped)
        self.failureResultOf(d, defer.CancelledError)
        response.protocol.connectionLost(Failure(ResponseDone()))


class HasJoinedTests(SynchronousTestCase):
    def client(self, response: FakeResponse, clock: task.Clock) -> SessionServerClient:
        client = SessionServerClient(clock, "https://session.example", timeout=5.0)
        client._agent = FakeAgent(response)
        return client

    def test_timeout_covers_the_body(self):
        """Headers on time and then a body that never ends: at the deadline the check
        fails SESSION_SERVER_TIMEOUT and the transfer is aborted."""
        clock = task.Clock()
        response = FakeResponse()
        d = self.client(response, clock).has_joined("Steve", "abc")
        response.protocol.dataReceived(b'{"id": ')
        clock.advance(4.9)
        self.assertNoResult(d)
        clock.advance(0.2)
        self.assertEqual(self.failureResultOf(d, AuthenticationError).value.reason, "SESSION_SERVER_TIMEOUT")
        self.assertTrue(response.transport.stopped)

    def test_profile(self):
        """A complete answer gives the authenticated profile."""
        clock = task.Clock()
        response = FakeResponse()
        d = self.client(response, clock).has_joined("Steve", "abc")
        player = uuid.uuid4()
        response.protocol.dataReceived(json.dumps({"id": player.hex, "name": "Steve", "properties": []}).encode())
        response.protocol.connectionLost(Failure(ResponseDone()))
        profile = self.successResultOf(d)
        self.assertEqual((profile.id, profile.authenticated), (player, True))

    def test_refusal_abandons_the_body(self):
        """A 204 (unknown session) is refused without reading its body."""
        clock = task.Clock()
        response = FakeResponse(code=204)
        d = self.client(response, clock).has_joined("Steve", "abc")
        self.assertEqual(self.failureResultOf(d, AuthenticationError).value.reason, "NOT_AUTHENTICATED")
        self.assertTrue(response.transport.stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
