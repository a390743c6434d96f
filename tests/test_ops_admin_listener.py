"""The admin listener's service: listening, or stopping the process at start with why."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ops.admin_listener import AdminListenerService


class _Endpoint:
    def __init__(self, result) -> None:
        self.result = result
        self.factories: list = []

    def listen(self, factory):
        self.factories.append(factory)
        return self.result


class AdminListenerServiceTests(SynchronousTestCase):
    def test_port_taken_stops_the_start_with_the_key_named(self) -> None:
        """A port another program holds stops the process at start, naming the file and key
        and why, instead of running without an admin listener."""
        error = CannotListenError("127.0.0.1", 8766, OSError(98, "Address already in use"))
        service = AdminListenerService(_Endpoint(defer.fail(error)), object(), "backend.toml: admin.bind")
        with self.assertRaises(SystemExit) as raised:
            service.privilegedStartService()
        self.assertEqual(str(raised.exception.code),
                         "backend.toml: admin.bind: cannot listen: Couldn't listen on 127.0.0.1:8766: "
                         "[Errno 98] Address already in use.")

    def test_listens(self) -> None:
        """A free port: the site is listening once the service has started."""
        port = object()
        endpoint = _Endpoint(defer.succeed(port))
        factory = object()
        service = AdminListenerService(endpoint, factory, "proxy.toml: admin.bind")
        waiting = service.when_bound()
        service.privilegedStartService()
        self.assertEqual(endpoint.factories, [factory])
        self.assertIs(self.successResultOf(waiting), port)
        self.assertIs(self.successResultOf(service.when_bound()), port)
        self.assertIs(service.port, port)
        self.assertEqual(service.name, "admin")
