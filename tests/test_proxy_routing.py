"""How the router reaches a backend."""

from __future__ import annotations

import uuid

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.auth import GameProfile
from mcproxy.proxy.backend import BackendLogin
from mcproxy.proxy.routing import Router, ServerAddress


def _router(reactor, host: str) -> Router:
    return Router(reactor, {"lobby": ServerAddress(host, 25566)}, ["lobby"], {}, concurrent_max=8,
                  connect_timeout=5, login_timeout=5, max_frame_size=2097151)


def _login() -> BackendLogin:
    profile = GameProfile(uuid.uuid4(), "Steve", ())
    return BackendLogin(profile=profile, protocol=767, host="play.example.com", port=25565,
                        address="127.0.0.1", mode="none", secret=b"")


class RouterConnectTests(SynchronousTestCase):
    def test_ip_literal_connects_without_resolving(self) -> None:
        """A backend given as an IP address is dialled at once: no resolver round trip."""
        reactor = MemoryReactorClock()
        _router(reactor, "127.0.0.1").connect(_login(), ["lobby"])
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients], [("127.0.0.1", 25566)])

    def test_ipv6_literal_connects_without_resolving(self) -> None:
        """The same holds for an IPv6 literal."""
        reactor = MemoryReactorClock()
        _router(reactor, "::1").connect(_login(), ["lobby"])
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients], [("::1", 25566)])
