"""ProxyProcess's readiness around its listeners, in memory: before start, after a failed
bind, and once bound."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import load_proxy_config
from mcproxy.ops.health import CheckState, Readiness
from mcproxy.proxy.core import ProxySettings
from mcproxy.proxy.service import ListenerService, ProxyProcess

SECRET = "service-test-" + "0123456789abcdef" * 3


class RefusingEndpoint:
    """A server endpoint whose port is taken."""

    def listen(self, factory: Factory) -> defer.Deferred:
        return defer.fail(CannotListenError("127.0.0.1", 25565, OSError(98, "Address already in use")))


class ListenerServiceTests(SynchronousTestCase):
    def test_bind_failure_is_the_check_detail(self) -> None:
        """A port already taken shows in the listener check as the bind error, logged once without a
        traceback, instead of an unhandled error and "not listening yet"."""
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        listener = ListenerService(RefusingEndpoint(), Factory(), "game")
        waiting = listener.when_bound()
        listener.startService()
        result = listener.check()
        self.assertEqual(result.state, CheckState.FAILED)
        self.assertIn("Address already in use", result.detail)
        self.failureResultOf(waiting, CannotListenError)
        errors = [e for e in events if e.get("log_level") in (LogLevel.error, LogLevel.critical)]
        self.assertEqual([e.get("listener") for e in errors], ["game"])
        self.assertFalse([e for e in errors if "log_failure" in e])
        self.assertEqual(self.flushLoggedErrors(), [])
        listener.stopService()


class ProxyReadinessTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        path = directory / "proxy.toml"
        path.write_text(f"""
[proxy]
bind = "tcp:25565:interface=127.0.0.1"
online_mode = false

[security]
proxy_secret = "{SECRET}"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]

[messaging]
enabled = false

[admin]
bind = "tcp:8765:interface=127.0.0.1"
probe_interval = 2.5
""")
        self.reactor = MemoryReactorClock()
        self.process = ProxyProcess(load_proxy_config(path), self.reactor)

    def test_not_ready_before_start(self) -> None:
        """Until the game listener is bound the proxy is NOT_READY (HTTP 503), whatever else is up."""
        report = self.process.health.evaluate()
        self.assertEqual(report.status, Readiness.NOT_READY)
        self.assertEqual(report.checks["listener"].state, CheckState.FAILED)

    def test_bound_listener_leaves_not_ready(self) -> None:
        """Once bound, the listener check is OK and only the unprobed backend keeps it DEGRADED."""
        self.process.startService()
        self.addCleanup(self.process.stopService)
        report = self.process.health.evaluate()
        self.assertEqual(report.checks["listener"].state, CheckState.OK)
        self.assertEqual(report.status, Readiness.DEGRADED)
        self.assertEqual(report.checks["backend:lobby"].state, CheckState.DEGRADED)

    def test_probe_interval_from_config(self) -> None:
        """[admin] probe_interval reaches the prober."""
        self.assertEqual(self.process.prober.interval, 2.5)

    def test_listening_logged_only_once_bound(self) -> None:
        """"mcproxy listening" is logged when the game port is bound, never after a failed bind."""
        events: list[dict] = []
        self.process.log = Logger(namespace="mcproxy.proxy", observer=events.append)
        self.process.game.endpoint = RefusingEndpoint()
        self.process.startService()
        self.addCleanup(self.process.stopService)
        self.assertFalse([e for e in events if e.get("log_format", "").startswith("mcproxy listening")])

    def test_listening_logged_when_bound(self) -> None:
        """A bound game listener is announced once, with its bind string."""
        events: list[dict] = []
        self.process.log = Logger(namespace="mcproxy.proxy", observer=events.append)
        self.process.startService()
        self.addCleanup(self.process.stopService)
        announced = [e for e in events if e.get("log_format", "").startswith("mcproxy listening")]
        self.assertEqual([e["bind"] for e in announced], ["tcp:25565:interface=127.0.0.1"])


class ProxySettingsTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        self.path = directory / "proxy.toml"
        self.path.write_text(f"""
[proxy]
bind = "tcp:25565:interface=127.0.0.1"
online_mode = false
compression_threshold = 512
forwarding = "legacy"
max_players = 42
handshake_timeout = 4.0
login_timeout = 12.0
read_timeout = 45.0
accept_transfers = true
kick_existing_players = true
max_frame_size_prelogin = 4096

[security]
proxy_secret = "{SECRET}"
proxy_secret_previous = "{SECRET[::-1]}"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]

[messaging]
enabled = false

[rate_limits]
handshake_concurrent_max = 7
connections_per_address_rate = 2.5
connections_per_address_burst = 3
logins_per_address_rate = 0.5
logins_per_address_burst = 2

[admin]
bind = ""
""")

    def test_from_config(self) -> None:
        """Every setting a connection consults comes from its key in the file."""
        settings = ProxySettings.from_config(load_proxy_config(self.path))
        self.assertEqual(settings, ProxySettings(
            online_mode=False, compression_threshold=512, forwarding="legacy",
            secret=SECRET.encode(), secret_previous=SECRET[::-1].encode(), max_players=42,
            handshake_timeout=4.0, login_timeout=12.0, read_timeout=45.0, accept_transfers=True,
            kick_existing_players=True, max_prelogin_frame=4096))

    def test_secrets_stay_out_of_repr(self) -> None:
        """The settings print without either secret."""
        text = repr(ProxySettings.from_config(load_proxy_config(self.path)))
        self.assertNotIn(SECRET, text)
        self.assertNotIn(SECRET[::-1], text)

    def test_process_uses_config_limits(self) -> None:
        """The process's limiters and gate take [rate_limits] as typed fields."""
        process = ProxyProcess(load_proxy_config(self.path), MemoryReactorClock())
        core = process.core
        self.assertEqual(core.prelogin_gate.limit, 7)
        self.assertEqual((core.connection_limiter.rate, core.connection_limiter.burst), (2.5, 3.0))
        self.assertEqual((core.login_limiter.rate, core.login_limiter.burst), (0.5, 2.0))
        self.assertIs(process.settings, core.settings)


class ProxyProtocolListenerTests(SynchronousTestCase):
    def test_only_haproxy_listeners_expect_a_header(self) -> None:
        """Each listener's factory is told by the service whether its endpoint reads a PROXY
        header, instead of the connection guessing from a private Twisted class."""
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        path = directory / "proxy.toml"
        path.write_text(f"""
[proxy]
bind = ["tcp:25565:interface=127.0.0.1", "haproxy:tcp:25567:interface=127.0.0.1"]
online_mode = false

[security]
proxy_secret = "{SECRET}"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]

[messaging]
enabled = false
""")
        process = ProxyProcess(load_proxy_config(path), MemoryReactorClock())
        self.assertEqual([listener.factory.behind_proxy_protocol for listener in process.listeners],
                         [False, True])
        plain = process.listeners[0].factory.buildProtocol(None)
        self.assertFalse(plain.behind_proxy_protocol)
