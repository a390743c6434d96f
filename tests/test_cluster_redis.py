"""The Redis link on a memory reactor: AUTH, SUBSCRIBE, bounded calls, and a password never shown."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.cluster.redis import RedisLink, RedisUnavailable

PASSWORD = b"9f2c4e8a1b7d3f60"


class RedisLinkTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.messages: list[tuple[str, str]] = []
        self.log: list[dict] = []
        self.states: list[bool] = []
        self.link = RedisLink(self.reactor, "tcp:host=127.0.0.1:port=6379", PASSWORD, ["mcproxy:events"],
                              lambda channel, message: self.messages.append((channel, message)),
                              Logger(observer=self.log.append), retry_max=1.0, timeout=2.0)
        self.link.observe(self.states.append)
        self.link.startService()
        self.addCleanup(self.link.stopService)

    def connect(self, index: int):
        """Complete the ``index``-th TCP connection the link asked for."""
        factory = self.reactor.tcpClients[index][2]
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 6379))
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def feed(self, protocol, data: bytes) -> None:
        """txredisapi finishes a multi-bulk reply on a later turn of the (our) clock."""
        protocol.dataReceived(data)
        self.reactor.advance(0)

    def linked(self):
        command, command_wire = self.connect(0)
        subscriber, subscriber_wire = self.connect(1)
        for protocol in (command, subscriber):
            protocol.dataReceived(b"+OK\r\n")
            protocol.dataReceived(b"+PONG\r\n")
        self.feed(subscriber, b"*3\r\n$9\r\nsubscribe\r\n$14\r\nmcproxy:events\r\n:1\r\n")
        return (command, command_wire), (subscriber, subscriber_wire)

    def test_auth_then_subscribe(self) -> None:
        """Both connections authenticate first; the subscriber then subscribes; only then is the link up."""
        command, command_wire = self.connect(0)
        subscriber, subscriber_wire = self.connect(1)
        self.assertIn(b"AUTH\r\n$16\r\n" + PASSWORD, command_wire.value())
        self.assertIn(b"AUTH\r\n$16\r\n" + PASSWORD, subscriber_wire.value())
        for protocol in (command, subscriber):
            protocol.dataReceived(b"+OK\r\n")
            protocol.dataReceived(b"+PONG\r\n")
        self.assertIn(b"PING", command_wire.value())
        self.assertIn(b"SUBSCRIBE\r\n$14\r\nmcproxy:events", subscriber_wire.value())
        self.assertFalse(self.link.connected)
        self.feed(subscriber, b"*3\r\n$9\r\nsubscribe\r\n$14\r\nmcproxy:events\r\n:1\r\n")
        self.assertTrue(self.link.connected)
        self.assertEqual(self.states, [True])

    def test_wrong_password_is_refused_without_showing_it(self) -> None:
        """A refused AUTH leaves the link down with Redis's reason, and the password in no log or error."""
        command, command_wire = self.connect(0)
        command.dataReceived(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        self.assertFalse(self.link.connected)
        self.assertEqual(self.link.last_error, "redis refused this proxy: WRONGPASS")
        self.reactor.advance(1.0)
        self.assertTrue(command_wire.disconnecting)
        self.assertNotIn(PASSWORD.decode(), repr(self.log) + self.link.last_error)
        self.assertIsInstance(self.failureResultOf(self.link.call("PING")).value, RedisUnavailable)

    def test_stopping_leaves_no_close_pending(self) -> None:
        """Stopping while a refused connection waits to be closed cancels that timer (and closes it now)."""
        command, command_wire = self.connect(0)
        command.dataReceived(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        self.link.stopService()
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertTrue(command_wire.disconnecting)

    def test_missing_password_is_reported_once(self) -> None:
        """A Redis that wants a password we do not have: down, saying NOAUTH, logged once across retries."""
        link = RedisLink(self.reactor, "tcp:host=127.0.0.1:port=6380", None, ["mcproxy:events"],
                         lambda channel, message: None, Logger(observer=self.log.append), retry_max=1.0)
        link.startService()
        self.addCleanup(link.stopService)
        for attempt in range(2):
            factory = self.reactor.tcpClients[-2][2] if attempt == 0 else self.reactor.tcpClients[-1][2]
            protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 6380))
            wire = StringTransport()
            protocol.makeConnection(wire)
            self.assertIn(b"PING", wire.value())
            protocol.dataReceived(b"-NOAUTH Authentication required.\r\n")
            self.assertFalse(wire.disconnecting)
            self.reactor.advance(1.0)
            self.assertTrue(wire.disconnecting)
            protocol.connectionLost(Failure(ConnectionError("closed")))
            self.reactor.advance(1.0)
        self.assertFalse(link.connected)
        self.assertEqual(link.last_error, "redis refused this proxy: NOAUTH")
        self.assertEqual([e for e in self.log if e.get("error") == link.last_error].__len__(), 1)

    def test_error_answers_count_as_unavailable(self) -> None:
        """An error answer (out of memory, a read-only replica) fails the call as Redis being unavailable."""
        (command, _), _ = self.linked()
        d = self.link.call("HSET", "k", "f", "v")
        command.dataReceived(b"-OOM command not allowed when used memory > 'maxmemory'.\r\n")
        self.assertEqual(str(self.failureResultOf(d, RedisUnavailable).value), "redis error: OOM")

    def test_calls_fail_at_once_while_down(self) -> None:
        """Not connected: a call fails at once with the reason, it does not wait."""
        failure = self.failureResultOf(self.link.call("PING"), RedisUnavailable)
        self.assertEqual(str(failure.value), "not connected yet")

    def test_calls_time_out(self) -> None:
        """A Redis that does not answer fails the call after the timeout."""
        (command, wire), _ = self.linked()
        d = self.link.call("PING")
        self.assertIn(b"PING", wire.value())
        self.assertNoResult(d)
        self.reactor.advance(2.0)
        self.assertIn("no answer within 2 s", str(self.failureResultOf(d, RedisUnavailable).value))

    def test_answer_and_messages(self) -> None:
        """Answers reach the caller; published messages reach the callback with their channel."""
        (command, _), (subscriber, _) = self.linked()
        d = self.link.call("PING")
        command.dataReceived(b"+PONG\r\n")
        self.assertEqual(self.successResultOf(d), "PONG")
        self.feed(subscriber, b"*3\r\n$7\r\nmessage\r\n$14\r\nmcproxy:events\r\n$2\r\nhi\r\n")
        self.assertEqual(self.messages, [("mcproxy:events", "hi")])

    def test_replies_are_parsed_in_one_pass(self) -> None:
        """A read holding several replies is parsed at once: no pausing the socket until a later turn."""
        (command, wire), (subscriber, subscriber_wire) = self.linked()
        answers = [self.link.call("GET", "a"), self.link.call("PING")]
        command.dataReceived(b"$5\r\nhello\r\n+PONG\r\n")
        self.assertEqual([self.successResultOf(d) for d in answers], ["hello", "PONG"])
        subscriber.dataReceived(b"*3\r\n$7\r\nmessage\r\n$14\r\nmcproxy:events\r\n$1\r\na\r\n"
                                b"*3\r\n$7\r\nmessage\r\n$14\r\nmcproxy:events\r\n$1\r\nb\r\n")
        self.assertEqual(self.messages, [("mcproxy:events", "a"), ("mcproxy:events", "b")])
        self.assertEqual((wire.producerState, subscriber_wire.producerState), ("producing", "producing"))

    def test_commands_are_sent_at_once(self) -> None:
        """The command connection gets the direct write once it is ready; the subscriber needs none."""
        from mcproxy.cluster import redis

        installed = []
        self.patch(redis, "fast_path", installed.append)
        (command, wire), (subscriber, _) = self.linked()
        self.assertEqual(installed, [wire])

    def test_lost_connection_goes_down_and_retries(self) -> None:
        """Losing either connection takes the link down, observers are told, and it reconnects."""
        (command, _), _ = self.linked()
        command.connectionLost(Failure(ConnectionError("gone")))
        self.assertFalse(self.link.connected)
        self.assertEqual(self.states, [True, False])
        self.assertIsInstance(self.failureResultOf(self.link.call("PING")).value, RedisUnavailable)
        self.reactor.advance(1.0)
        self.assertEqual(len(self.reactor.tcpClients), 3)

    def test_retries_stay_within_the_heartbeat(self) -> None:
        """However long Redis has been away, the next attempt comes within one retry_max (the heartbeat)."""
        for attempt in range(12):
            before = len(self.reactor.tcpClients)
            for host, port, factory, *_ in self.reactor.tcpClients[-2:]:
                factory.clientConnectionFailed(None, Failure(ConnectionRefusedError("refused")))
            self.reactor.advance(1.0)
            self.assertEqual(len(self.reactor.tcpClients), before + 2, attempt)
