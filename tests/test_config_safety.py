"""Settings that depart from the safe defaults, and configs that cannot work together."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import load_backend_config, load_proxy_config
from mcproxy.config.crosscheck import client_endpoint, cross_check, dials_bound, server_endpoint
from mcproxy.config.unsafe import unsafe_settings
from mcproxy.ctl import cli as ctl
from mcproxy.ops.status import StatusBoard
from mcproxy.ops.unsafe import publish_unsafe_settings

SECRET = "5f0c2b7a9d4e61f83a27c5d90b1e4f6a8c3d2e7b9f0a1c4d6e8b2a5f7c9d0e13"
OTHER = "9e4d1c7b3a5f08e2d6c4b1a3f5e7d9c0b2a4f6e8d0c1b3a5f7e9d2c4b6a8f0e1"


class Files:
    def __init__(self, case: SynchronousTestCase) -> None:
        self.folder = Path(case.mktemp())
        self.folder.mkdir()

    def write(self, name: str, text: str) -> str:
        path = self.folder / name
        path.write_text(text)
        return str(path)

    def proxy(self, messaging: str = "", extra: str = "", secrets: str = f'proxy_secret = "{SECRET}"') -> str:
        return self.write("proxy.toml", f"""
[proxy]
bind = "tcp:25565"
{extra}
[security]
{secrets}
[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]
[messaging]
bind = "tcp:25580:interface=127.0.0.1"
{messaging}
""")

    def backend(self, backend: str = "", messaging: str = 'proxy = "tcp:host=127.0.0.1:port=25580"',
                secrets: str = f'proxy_secret = "{SECRET}"', name: str = "backend.toml") -> str:
        return self.write(name, f"""
[backend]
server_id = "lobby"
{secrets}
{backend}
[messaging]
{messaging}
""")


class UnsafeSettingsTests(SynchronousTestCase):
    def test_safe_defaults_report_nothing(self) -> None:
        """The shipped defaults are the safe ones: nothing is listed."""
        files = Files(self)
        self.assertEqual(unsafe_settings(load_proxy_config(files.proxy())), [])
        self.assertEqual(unsafe_settings(load_backend_config(files.backend())), [])

    def test_each_departure_named(self) -> None:
        """enforce_proxy off, authenticated mode off, a large skew, a huge payload, messaging off,
        huge concurrency limits: each listed under its key."""
        files = Files(self)
        backend = load_backend_config(files.backend(
            "enforce_proxy = false\nrequire_authenticated_mode = false\n",
            'control_max_clock_skew = 3600\ncontrol_max_payload = 33554432\n'))
        self.assertEqual([s.key for s in unsafe_settings(backend)], [
            "backend.enforce_proxy", "backend.require_authenticated_mode",
            "messaging.control_max_clock_skew", "messaging.control_max_payload"])
        proxy = load_proxy_config(files.proxy("enabled = false", ""))
        self.assertEqual([s.line() for s in unsafe_settings(proxy)][0],
                         "messaging.enabled = false: no control plane: backends cannot sync commands or"
                         " request transfers")
        proxy = load_proxy_config(files.write("limits.toml", Path(files.proxy()).read_text()
                                              + "[rate_limits]\nhandshake_concurrent_max = 65536\n"))
        self.assertEqual([s.key for s in unsafe_settings(proxy)], ["rate_limits.handshake_concurrent_max"])

    def test_legacy_forwarding_named(self) -> None:
        """An enforcing backend reading legacy forwarding (no secret in it) is listed;
        BungeeGuard, whose token is the secret, is not."""
        files = Files(self)
        backend = load_backend_config(files.backend('forwarding = "legacy"\n'))
        self.assertEqual([s.key for s in unsafe_settings(backend)], ["backend.forwarding"])
        backend = load_backend_config(files.backend('forwarding = "bungeeguard"\n'))
        self.assertEqual(unsafe_settings(backend), [])

    def test_published_as_metric_status_and_warning(self) -> None:
        """Each one becomes mcproxy_unsafe_setting{key} 1, a /status entry and a warning."""
        files = Files(self)
        settings = unsafe_settings(load_backend_config(files.backend("enforce_proxy = false\n")))
        registry, events = CollectorRegistry(), []
        status = StatusBoard(Clock(), registry, Logger(observer=events.append))
        publish_unsafe_settings(settings, registry, Logger(observer=events.append), status)
        self.assertEqual(registry.get_sample_value("mcproxy_unsafe_setting", {"key": "backend.enforce_proxy"}), 1)
        self.assertEqual(status.snapshot()["unsafe_settings"]["settings"][0]["key"], "backend.enforce_proxy")
        self.assertEqual([e["key"] for e in events if e["log_level"].name == "warn"], ["backend.enforce_proxy"])


class CrossCheckTests(SynchronousTestCase):
    def test_consistent_pair(self) -> None:
        """The same secret, address, sender and a known server id: nothing to say."""
        files = Files(self)
        self.assertEqual(cross_check(load_proxy_config(files.proxy()), load_backend_config(files.backend())), [])

    def test_every_mismatch_named_without_secrets(self) -> None:
        """Wrong port, wrong sender, unknown server id, disjoint secrets, a smaller payload limit:
        one line each, and no secret value in any."""
        files = Files(self)
        proxy = load_proxy_config(files.proxy())
        text = Path(files.backend('control_expected_sender_id = "proxx"\n',
                                  'proxy = "tcp:host=127.0.0.1:port=25581"\ncontrol_max_payload = 65536\n',
                                  secrets=f'proxy_secret = "{OTHER}"')).read_text()
        backend = load_backend_config(files.write("arena.toml", text.replace('"lobby"', '"arena"')))
        problems = cross_check(proxy, backend)
        keys = [line.split(":")[0] for line in problems]
        self.assertEqual(keys, ["backend.server_id", "messaging.proxy", "backend.control_expected_sender_id",
                                "backend.proxy_secret", "backend.proxy_secret", "messaging.control_max_payload"])
        self.assertFalse([line for line in problems if SECRET in line or OTHER in line])

    def test_rotation_overlap_is_consistent(self) -> None:
        """Mid-rotation (new secret current on the proxy, previous on the backend) still overlaps."""
        files = Files(self)
        proxy = load_proxy_config(files.proxy(secrets=f'proxy_secret = "{OTHER}"\nproxy_secret_previous = "{SECRET}"'))
        backend = load_backend_config(files.backend(secrets=f'proxy_secret = "{SECRET}"\nproxy_secret_previous = "{OTHER}"'))
        self.assertEqual(cross_check(proxy, backend), [])

    def test_endpoints_compared_by_kind_port_and_interface(self) -> None:
        """tcp vs ssl, another port, an IP the proxy does not bind: each refused; any-interface binds match."""
        bound = server_endpoint("tcp:25580:interface=127.0.0.1")
        self.assertEqual(dials_bound(client_endpoint("tcp:host=127.0.0.1:port=25580"), bound), "")
        self.assertIn("ssl:", dials_bound(client_endpoint("ssl:host=127.0.0.1:port=25580"), bound))
        self.assertIn("interface 127.0.0.1 only", dials_bound(client_endpoint("tcp:host=10.0.0.2:port=25580"), bound))
        self.assertEqual(dials_bound(client_endpoint("tcp:host=10.0.0.2:port=25580"), server_endpoint("tcp:25580")), "")
        self.assertEqual(dials_bound(client_endpoint("tcp:host=proxy.example:port=25580"), bound), "")


class CheckConfigCommandTests(SynchronousTestCase):
    def run_ctl(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ctl.main(list(argv))
        return code, out.getvalue()

    def test_cross_check_fails_the_command(self) -> None:
        """Two files valid alone but not together: exit 1, the reason under the backend's name."""
        files = Files(self)
        code, out = self.run_ctl("check-config", files.proxy(),
                                 files.backend(messaging='proxy = "tcp:host=127.0.0.1:port=25581"'))
        self.assertEqual(code, 1, out)
        self.assertIn("backend.toml with ", out)
        self.assertIn("INCONSISTENT", out)
        self.assertIn("messaging.proxy: dials port 25581, the proxy binds messaging on port 25580", out)

    def test_unsafe_listed_and_strict_fails(self) -> None:
        """Unsafe settings are listed under the file; --strict makes them fail the check."""
        files = Files(self)
        backend = files.backend("enforce_proxy = false\n")
        code, out = self.run_ctl("check-config", backend)
        self.assertEqual(code, 0, out)
        self.assertIn("  UNSAFE backend.enforce_proxy = false:", out)
        code, out = self.run_ctl("check-config", "--strict", backend)
        self.assertEqual(code, 1, out)
        self.assertNotIn(json.dumps(SECRET), out)


class DoctorTests(SynchronousTestCase):
    def test_findings_from_configs_connects_and_health(self) -> None:
        """The cross-check, a failed connect with its address and error, an unanswered process and
        each non-OK health check are findings; any one fails the doctor."""
        from mcproxy.ctl.doctor import diagnose, doctor_text

        files = Files(self)
        proxy = load_proxy_config(files.proxy())
        backend = load_backend_config(files.backend(messaging='proxy = "tcp:host=127.0.0.1:port=25581"'))

        class Client:
            def __init__(self, config) -> None:
                self.config = config

            def request(self, method: str, path: str):
                if self.config is backend:
                    raise ctl.CtlError("no answer from the process at http://127.0.0.1:8766 within 10 s")
                return 200, {"status": "DEGRADED", "checks": {
                    "listener": {"state": "OK", "detail": ""},
                    "messaging": {"state": "FAILED", "detail": "lobby refuses us: UNEXPECTED_SENDER"}}}

        report = diagnose([("proxy.toml", proxy), ("backend.toml", backend)], Client,
                          connect=lambda endpoint, timeout: "Connection refused")
        text = doctor_text(report)
        self.assertFalse(report["ok"])
        self.assertIn("FAIL  proxy  /health: DEGRADED", text)
        self.assertIn("FAIL  proxy    messaging: FAILED lobby refuses us: UNEXPECTED_SENDER", text)
        self.assertIn("FAIL  lobby  config: messaging.proxy: dials port 25581", text)
        self.assertIn("FAIL  lobby  connect to tcp:host=127.0.0.1:port=25581 from here failed: Connection refused",
                      text)
        self.assertIn("FAIL  lobby  /health: no answer from the process", text)
        self.assertEqual(text.splitlines()[-1], "doctor: PROBLEMS FOUND")

    def test_real_connect_error_names_the_cause(self) -> None:
        """try_connect reports the OS error for a port nothing listens on."""
        import socket

        from mcproxy.ctl.doctor import try_connect

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.assertEqual(try_connect(f"tcp:host=127.0.0.1:port={port}", 2.0), "Connection refused")
