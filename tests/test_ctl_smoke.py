"""``mcproxyctl smoke`` on a reactor passed in: its probes, timeouts and report, in memory."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import load_proxy_config
from mcproxy.ctl.smoke import run_smoke

SECRET = "smoke-test-" + "0123456789abcdef" * 3


class FakeAdmin:
    """Admin endpoints that answer READY and count nothing."""

    def __init__(self, config) -> None:
        self.config = config

    def request(self, method: str, path: str):
        return 200, {"status": "READY"}

    def get(self, path: str):
        return "" if path == "/metrics" else {}

    def action(self, name: str, body: dict):
        """The proxy arms the probes' correlation ids (smoke's first action)."""
        armed.append((name, body))
        return {"armed": len(body.get("correlation_ids", []))}


armed: list[tuple[str, dict]] = []


class RunSmokeTests(SynchronousTestCase):
    def config(self, messaging: bool):
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
enabled = {"true" if messaging else "false"}
bind = "tcp:25580:interface=127.0.0.1"

[admin]
bind = "tcp:8765:interface=127.0.0.1"
""")
        return load_proxy_config(path)

    def test_fires_with_the_report_on_the_given_reactor(self) -> None:
        """With nothing to probe over the network the run completes on the reactor it was
        handed, without running any reactor, and reports what it skipped."""
        d = run_smoke(MemoryReactorClock(), self.config(messaging=False), [], FakeAdmin, players=0)
        report = self.successResultOf(d)
        self.assertTrue(report["passed"])
        results = {(c["check"], c["target"]): c["result"] for c in report["checks"]}
        self.assertEqual(results[("health", "proxy")], "PASS")
        self.assertEqual(results[("control-signature", "proxy")], "SKIP")
        self.assertEqual(report["load"]["result"], "SKIP")

    def test_probe_timeouts_are_the_reactors(self) -> None:
        """A messaging port that never answers: each control probe connects through the
        given reactor and fails when that reactor's clock passes the timeout."""
        reactor = MemoryReactorClock()
        del armed[:]
        d = run_smoke(reactor, self.config(messaging=True), [], FakeAdmin, players=0, timeout=5.0)
        self.assertNoResult(d)
        self.assertEqual([name for name, _ in armed], ["arm_probes"])
        self.assertEqual(len(armed[0][1]["correlation_ids"]), 4)
        self.assertEqual([(host, port) for host, port, *_ in reactor.tcpClients], [("127.0.0.1", 25580)])
        for probe in range(1, 4):
            reactor.advance(5.0)
            self.assertEqual(len(reactor.tcpClients), probe + 1)
            self.assertNoResult(d)
        reactor.advance(5.0)
        report = self.successResultOf(d)
        self.assertFalse(report["passed"])
        control = [c for c in report["checks"] if c["check"].startswith("control-")]
        self.assertEqual([c["result"] for c in control], ["FAIL"] * 4)
        self.assertIn("no answer within 5s", control[0]["detail"])
