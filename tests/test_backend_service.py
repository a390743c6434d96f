"""``twistd mcbackend``: BackendProcess, the service tree built from backend.toml."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from twisted.application.internet import StreamServerEndpointService
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from mcproxy.backend.server import LimboFactory
from mcproxy.backend.service import BackendProcess
from mcproxy.config import load_backend_config
from mcproxy.control.backend_side import BackendControlLink

SECRET = "mcproxy-test-" + "0123456789abcdef" * 3


def write_config(directory: str, messaging: bool) -> str:
    path = Path(directory) / "backend.toml"
    path.write_text(f"""
[backend]
bind = "tcp:0:interface=127.0.0.1"
server_id = "lobby"
proxy_secret = "{SECRET}"
motd = "Tap test"
max_players = 5
compression_threshold = 64

[messaging]
enabled = {"true" if messaging else "false"}

[admin]
bind = "tcp:0:interface=127.0.0.1"

[logging]
file = "{Path(directory) / 'backend.log'}"
""")
    return str(path)


class BackendProcessTests(SynchronousTestCase):
    def build(self, messaging: bool, admin: bool = True):
        path = write_config(self.mktemp_dir(), messaging)
        if not admin:
            text = Path(path).read_text().replace('bind = "tcp:0:interface=127.0.0.1"\n\n[logging]',
                                                  'bind = ""\n\n[logging]')
            Path(path).write_text(text)
        reactor = MemoryReactorClock()
        return BackendProcess(load_backend_config(path), reactor), reactor

    def mktemp_dir(self) -> str:
        path = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, path, True)
        return path

    def test_listeners_and_link(self) -> None:
        """The tree holds the limbo listener, the admin listener and the control link."""
        top, reactor = self.build(messaging=True)
        services = list(top)
        links = [s for s in services if isinstance(s, BackendControlLink)]
        listeners = [s for s in services if isinstance(s, StreamServerEndpointService)]
        self.assertEqual(len(links), 1)
        self.assertEqual(len(listeners), 2)
        limbo = [s.factory for s in listeners if isinstance(s.factory, LimboFactory)][0]
        self.assertEqual((limbo.settings.motd, limbo.settings.max_players,
                          limbo.settings.compression_threshold), ("Tap test", 5, 64))
        self.assertTrue(limbo.module.enforce_proxy)
        top.startService()
        self.assertEqual(len(reactor.tcpServers), 2)
        top.stopService()

    def test_no_link_when_messaging_disabled(self) -> None:
        """With messaging off there is no link; health is READY once the limbo listens."""
        top, reactor = self.build(messaging=False)
        self.assertFalse([s for s in top if isinstance(s, BackendControlLink)])
        top.startService()
        factories = [s.factory for s in top if isinstance(s, StreamServerEndpointService)]
        limbo = [f for f in factories if isinstance(f, LimboFactory)][0]
        admin = [f for f in factories if not isinstance(f, LimboFactory)][0].resource

        def health() -> str:
            request = DummyRequest([b"health"])
            return json.loads(admin.getChildWithDefault(b"health", request).render(request))

        self.assertEqual(health()["status"], "NOT_READY")
        limbo.doStart()  # what a real port does once it is bound
        self.assertEqual(health()["status"], "READY")
        limbo.doStop()
        top.stopService()

    def test_parts_are_attributes(self) -> None:
        """Like ProxyProcess, the process keeps its parts by name: the limbo factory, its
        module, the link, the admin resource, one registry for all of them."""
        process, _ = self.build(messaging=True)
        self.assertIs(process.factory.module, process.module)
        self.assertIs(process.module.link, process.link)
        self.assertIs(process.admin.registry, process.registry)
        self.assertIs(process.listener.factory, process.factory)
        self.assertEqual(process.factory.settings.server_id, "lobby")

    def test_secrets_redacted(self) -> None:
        """The proxy secret is registered with the redactor the log observer uses."""
        process, _ = self.build(messaging=False)
        self.assertNotIn(SECRET, process.redactor.redact_text(f"the secret is {SECRET}"))

    def test_status_names_the_backend(self) -> None:
        """/status carries the backend section built from the config."""
        process, _ = self.build(messaging=False)
        status = process.status_board.snapshot()["backend"]
        self.assertEqual(status["server_id"], "lobby")
        self.assertEqual(status["players"], [])
        self.assertTrue(status["enforce_proxy"])
        self.assertEqual(status["forwarding"], "modern")

    def test_no_admin_listener_without_bind(self) -> None:
        """An empty [admin] bind runs the limbo alone."""
        process, reactor = self.build(messaging=False, admin=False)
        self.assertIsNone(process.admin)
        self.assertEqual([s for s in process if isinstance(s, StreamServerEndpointService)],
                         [process.listener])
        process.startService()
        self.assertEqual(len(reactor.tcpServers), 1)
        process.stopService()
