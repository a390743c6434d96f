"""A backend connection the player has let go of, with bytes still arriving."""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import offline_profile
from mcproxy.proxy.backend import BackendConnection, BackendLogin, LoginPhase
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.packets import TIER1_PROTOCOLS


class ReleasedBackendTests(SynchronousTestCase):
    def test_bytes_after_release_are_dropped(self) -> None:
        """Regression: under load a switch or a leaving player released a relaying backend
        (sink None) while a read for it was already polled in the same reactor pass; the
        read raised TypeError out of dataReceived. Now it is dropped quietly."""
        protocol = max(TIER1_PROTOCOLS)
        login = BackendLogin(profile=offline_profile("Steve"), protocol=protocol, host="lobby", port=25565,
                             address="127.0.0.1", mode="none", secret=b"")
        backend = BackendConnection(login, packet_ids(protocol), 2097151)
        backend.makeConnection(StringTransport())
        backend.phase = LoginPhase.RELAYING
        received: list[bytes] = []
        backend.sink = received.append
        backend.dataReceived(b"\x01\x00")
        backend.sink = None
        backend.dataReceived(b"\x01\x00")
        self.assertEqual(received, [b"\x01\x00"])
