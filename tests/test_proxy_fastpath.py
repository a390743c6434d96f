"""The relay's direct write: sent at once when nothing is queued, queued as Twisted would otherwise.

A real socket pair under a MemoryReactor: the kernel is real, the reactor's writer
registrations are visible, and no turn of a real reactor runs.
"""

import gc
import socket
import weakref

from twisted.internet import tcp
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from mcproxy.proxy.fastpath import fast_path


@implementer(IPushProducer)
class Producer:
    def __init__(self):
        self.paused = 0
        self.resumed = 0

    def pauseProducing(self):
        self.paused += 1

    def resumeProducing(self):
        self.resumed += 1

    def stopProducing(self):
        pass


class FastPathTests(TestCase):
    def setUp(self):
        self.reactor = MemoryReactor()
        ours, self.peer = socket.socketpair()
        ours.setblocking(False)
        self.peer.setblocking(False)
        self.addCleanup(self.peer.close)
        self.transport = tcp.Connection(ours, Protocol(), self.reactor)
        self.transport.connected = True
        self.addCleanup(ours.close)

    def received(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except BlockingIOError:
                return b"".join(chunks)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def drain(self) -> bytes:
        """Let the queued writes go out, as the reactor's writability turns would."""
        got = []
        for _ in range(10000):
            if self.transport not in self.reactor.getWriters():
                break
            self.transport.doWrite()
            got.append(self.received())
        got.append(self.received())
        return b"".join(got)

    def test_plain_write_is_queued_for_a_later_turn(self):
        """Without the fast path Twisted sends nothing until the reactor's next turn."""
        self.transport.write(b"frame")
        self.assertEqual(self.received(), b"")
        self.assertIn(self.transport, self.reactor.getWriters())

    def test_sent_at_once_without_a_writer_registration(self):
        self.assertTrue(fast_path(self.transport))
        self.transport.write(b"frame one")
        self.transport.write(b"frame two")
        self.assertEqual(self.received(), b"frame oneframe two")
        self.assertNotIn(self.transport, self.reactor.getWriters())

    def test_installing_twice_keeps_one_layer(self):
        fast_path(self.transport)
        direct = type(self.transport)
        self.assertTrue(fast_path(self.transport))
        self.assertIs(type(self.transport), direct)
        self.assertIs(direct.__mro__[1], tcp.Connection)

    def test_no_reference_cycle_is_left_behind(self):
        """A closed relay's transport is freed by reference counting, not by the collector."""
        fast_path(self.transport)
        self.transport.write(b"frame")
        ref = weakref.ref(self.transport)
        gc.disable()
        self.addCleanup(gc.enable)
        self.transport.protocol = None
        del self.transport
        self.assertIsNone(ref())

    def test_what_the_kernel_refuses_is_queued_in_order_with_back_pressure(self):
        fast_path(self.transport)
        producer = Producer()
        self.transport.registerProducer(producer, True)
        big = bytes(range(256)) * 4096  # 1 MiB: more than any socket buffer here takes at once
        self.transport.write(big)
        self.assertIn(self.transport, self.reactor.getWriters())
        self.assertEqual(producer.paused, 1)
        # Queued data comes first: a later write must not overtake it.
        self.transport.write(b"after")
        self.assertEqual(self.drain(), big + b"after")
        self.assertNotIn(self.transport, self.reactor.getWriters())
        self.assertEqual(producer.resumed, 1)

    def test_a_closing_transport_queues_instead_of_sending(self):
        fast_path(self.transport)
        self.transport.disconnecting = True
        self.transport.write(b"late")
        self.assertEqual(self.received(), b"")

    def test_a_dead_peer_is_left_to_twisted(self):
        """A send that fails is queued; the reactor's own turn reports the loss."""
        fast_path(self.transport)
        self.peer.close()
        self.transport.write(b"x" * 1024)
        self.transport.write(b"y" * 1024)
        self.assertIn(self.transport, self.reactor.getWriters())
        self.assertIsNotNone(self.transport.doWrite())

    def test_other_transports_are_left_alone(self):
        transport = StringTransport()
        write = transport.write
        self.assertFalse(fast_path(transport))
        self.assertEqual(transport.write, write)

    def test_tls_connections_are_left_alone(self):
        self.transport.TLS = True
        self.assertFalse(fast_path(self.transport))


class FromTheFirstWriteTests(TestCase):
    """Player and backend connections send directly from their first byte, not only once relaying."""

    def recording(self, module):
        installed = []

        def record(transport):
            installed.append((transport, transport.value()))
            return False

        self.patch(module, "fast_path", record)
        return installed

    def test_player_connection(self):
        """A player's transport gets the direct write when it connects, before anything is written."""
        from mcproxy.proxy import client
        from tests.session_rig import Rig

        installed = self.recording(client)
        connection, transport = Rig().connect()
        self.assertEqual(installed, [(transport, b"")])

    def test_backend_connection(self):
        """A backend's transport gets it before the handshake and Login Start go out."""
        from mcproxy.proxy import backend
        from mcproxy.wire.packets import packet_ids
        from tests.test_proxy_routing import _login

        installed = self.recording(backend)
        transport = StringTransport()
        backend.BackendFactory(_login(), packet_ids(767), 2097151).buildProtocol(None).makeConnection(transport)
        self.assertEqual(installed, [(transport, b"")])
        self.assertNotEqual(transport.value(), b"")
