"""The pieces behind the runbook commands, deterministically: component restarts, announced
versions, secret last-seen times, and the reports mcproxyctl prints."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ctl import cli as ctl
from mcproxy.config import load_backend_config, load_proxy_config
from mcproxy.control.commands import Hello
from mcproxy.control.envelope import SecretSlot, SecretUsage
from mcproxy.control.reasons import RejectReason, VersionMismatch
from mcproxy.ctl.incident import lines_in_window
from mcproxy.ops.admin import ActionError
from mcproxy.ops.settle import action_timeout, settle
from mcproxy.ctl.smoke import join_delay, percentiles
from tests.test_control_link import LinkTestCase, rejects

SECRET = "5f0c2b7a9d4e61f83a27c5d90b1e4f6a8c3d2e7b9f0a1c4d6e8b2a5f7c9d0e13"


class SecretUsageTests(SynchronousTestCase):
    def test_last_seen_per_sender_and_secret(self) -> None:
        """Each verification records when, so a switched peer is told from one still on the old secret."""
        usage = SecretUsage()
        usage.record("lobby", SecretSlot.PREVIOUS, 10.0)
        usage.record("lobby", SecretSlot.CURRENT, 12.5)
        usage.record("game", SecretSlot.CURRENT)
        self.assertEqual(usage.as_dict(), {"game": {"current": 1}, "lobby": {"current": 1, "previous": 1}})
        self.assertEqual(usage.last_seen_dict(), {"lobby": {"current": 12.5, "previous": 10.0}})


class ComponentRestartTests(LinkTestCase):
    def test_bridge_restart_reconnects_and_resyncs(self) -> None:
        """restart() drops the link, connects again at once and installs a fresh snapshot."""
        net = self.network()
        net.start()
        self.assertTrue(net.link.synchronized)
        first = net.factory.live.copy()
        d = net.link.restart()
        net.endpoint.flush()
        net.advance(0)
        self.successResultOf(d)
        net.advance(0)
        self.assertTrue(net.link.link_up and net.link.synchronized)
        self.assertTrue(net.factory.live and net.factory.live.isdisjoint(first))

    def test_proxy_drops_every_link(self) -> None:
        """drop_links() closes every control connection; the backend sees its link go down."""
        net = self.network()
        net.start()
        self.assertEqual(net.factory.drop_links(), 1)
        net.endpoint.flush()
        self.assertFalse(net.link.link_up)
        self.assertFalse(net.factory.links["lobby"].link_up)
        self.assertEqual(net.factory.live, set())

    def test_announced_version_refused_and_recorded(self) -> None:
        """A backend announcing another release is refused VERSION_MISMATCH; the proxy keeps what it said."""
        net = self.network(link_kw={"artifact_version": "0.3.9"})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.VERSION_MISMATCH), 1)
        state = net.factory.links["lobby"].as_dict()
        self.assertEqual((state["artifact_version"], state["control_version"], state["refused"]),
                         ("0.3.9", 1, "VERSION_MISMATCH"))

    def test_control_protocol_refused_at_the_envelope(self) -> None:
        """A backend signing another control protocol version is refused before its Hello is read."""
        net = self.network(link_kw={"control_version": 2})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.VERSION_MISMATCH), 1)
        self.assertIsNone(net.factory.links["lobby"].artifact_version)

    def test_raw_hello_version_mismatch_is_fatal(self) -> None:
        """The refusal travels as VERSION_MISMATCH to the sender."""
        net = self.network()
        client, pump = self.raw(net)
        d = client.call(Hello, server_id="lobby", artifact_version="9.9.9", control_version=1)
        pump.flush()
        self.failureResultOf(d, VersionMismatch)


class SettleTests(SynchronousTestCase):
    def test_settles_or_gives_up(self) -> None:
        """settle() fires True once the condition holds and False when the bounded wait runs out."""
        clock = Clock()
        state = {"up": False}
        d = settle(clock, lambda: state["up"], 5.0)
        clock.advance(1)
        state["up"] = True
        clock.advance(0.1)
        self.assertIs(self.successResultOf(d), True)
        d = settle(clock, lambda: False, 2.0)
        clock.pump([0.1] * 25)
        self.assertIs(self.successResultOf(d), False)

    def test_timeout_bounds(self) -> None:
        """An action's timeout is a number of seconds between 0 and 120."""
        self.assertEqual(action_timeout({}), 15.0)
        self.assertEqual(action_timeout({"timeout": 3}), 3.0)
        for bad in (True, "5", -1, 121):
            self.assertRaises(ActionError, action_timeout, {"timeout": bad})


class ReportTests(SynchronousTestCase):
    def configs(self) -> tuple:
        folder = Path(self.mktemp())
        folder.mkdir()
        (folder / "proxy.toml").write_text(
            f'[proxy]\n[security]\nproxy_secret = "{SECRET}"\nproxy_secret_previous = "{SECRET[::-1]}"\n'
            '[servers]\nlobby = "127.0.0.1:1"\ngame = "127.0.0.1:2"\ntry = ["lobby"]\n')
        (folder / "backend.toml").write_text(f'[backend]\nserver_id = "lobby"\nproxy_secret = "{SECRET}"\n')
        return load_proxy_config(folder / "proxy.toml"), load_backend_config(folder / "backend.toml")

    def test_rotation_judged_by_latest_verification(self) -> None:
        """A peer signs with whichever key verified its latest message; silence blocks the end too."""
        proxy, backend = self.configs()
        status = {"links": {"links": {"lobby": {}, "game": {}},
                            "secret_usage": {"lobby": {"current": 2, "previous": 5}},
                            "secret_last_seen": {"lobby": {"current": 95.0, "previous": 90.0}}}}
        report = ctl.rotation_report(proxy, status, 100.0, 60.0)
        verdicts = {row["peer"]: row["verdict"] for row in report["peers"]}
        self.assertEqual(verdicts, {"game": "not seen", "lobby": "current"})
        self.assertEqual((report["overlap_can_end"], report["blocking"]), (False, ["game"]))
        self.assertTrue(report["previous_configured"])
        text = ctl._rotation_text(report)
        self.assertIn("  game: NOT SEEN in the window", text)
        self.assertIn("overlap can end: no (waiting for: game)", text)
        status = {"link": {"secret_last_seen": {"proxy": {"previous": 99.0}}}}
        report = ctl.rotation_report(backend, status, 100.0, 60.0)
        self.assertEqual(report["peers"][0]["verdict"], "previous")
        self.assertFalse(report["previous_configured"])

    def test_bridge_headline(self) -> None:
        """The first line of bridge output says whether commands are routed, and why not."""
        self.assertEqual(ctl.bridge_headline({"bridge_enabled": True, "bridge_active": True, "serial": 7}),
                         "command bridge: enabled, routing proxy commands (registry serial 7)")
        self.assertEqual(ctl.bridge_headline({"bridge_enabled": True, "link_up": True, "synchronized": False}),
                         "command bridge: enabled, NOT routing (registry not synchronized)")

    def test_mixed_versions_text(self) -> None:
        """A mixed set names which processes run what."""
        rows = [{"process": "proxy", "config": "p", "artifact": "0.4.0", "control_protocol": 1,
                 "version_mismatch_rejects": 2},
                {"process": "game", "config": "g", "artifact": "0.3.9", "control_protocol": 1,
                 "version_mismatch_rejects": 0}]
        report = {"processes": rows, "mixed": True,
                  "sets": [{"artifact": "0.3.9", "control_protocol": 1}, {"artifact": "0.4.0", "control_protocol": 1}]}
        self.assertEqual(ctl._versions_text(report).splitlines()[-1],
                         "MIXED version set: 0.3.9 (control protocol 1) on game; 0.4.0 (control protocol 1) on proxy")

    def test_log_window(self) -> None:
        """Only JSON lines whose time falls in the window are kept; other lines are skipped."""
        path = Path(self.mktemp())
        lines = [{"time": "2026-01-01T10:00:00.000Z", "text": "before"},
                 {"time": "2026-01-01T10:05:00.000Z", "text": "during", "correlation_id": "abc"},
                 {"time": "2026-01-01T10:10:00.000Z", "text": "after"}]
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
        utc = timezone.utc
        kept = list(lines_in_window(path, datetime(2026, 1, 1, 10, 1, tzinfo=utc),
                                    datetime(2026, 1, 1, 10, 9, tzinfo=utc)))
        self.assertEqual([json.loads(line)["text"] for line in kept], ["during"])

    def test_percentiles_and_pacing(self) -> None:
        """Nearest-rank percentiles; the load keeps inside the proxy's per-address token bucket."""
        self.assertEqual(percentiles(list(range(1, 101))), {"p50": 50, "p95": 95, "p99": 99, "max": 100})
        self.assertIsNone(percentiles([]))
        self.assertEqual([round(join_delay(i, 1.0, 5), 2) for i in range(6)], [0, 0, 0, 0, 1.1, 2.2])


class RotationRefusalTests(ReportTests):
    def test_refused_peer_is_not_judged_by_stale_counts(self) -> None:
        """A peer whose latest Hello was refused (BAD_SIGNATURE after a restart) blocks the end of
        the overlap, whatever its earlier verified messages said."""
        proxy, backend = self.configs()
        status = {"links": {"links": {"lobby": {"link_up": False, "hello_refused": "BAD_SIGNATURE",
                                                "hello_refused_at": 98.0}},
                            "secret_usage": {"lobby": {"current": 7}},
                            "secret_last_seen": {"lobby": {"current": 95.0}}}}
        report = ctl.rotation_report(proxy, status, 100.0, 60.0)
        self.assertEqual(report["peers"][0]["verdict"], "refused")
        self.assertEqual(report["blocking"], ["lobby"])
        self.assertIn("lobby: ITS MESSAGES ARE REFUSED NOW: BAD_SIGNATURE", ctl._rotation_text(report))
        status["links"]["links"]["lobby"]["hello_refused_at"] = 90.0
        self.assertEqual(ctl.rotation_report(proxy, status, 100.0, 60.0)["peers"][0]["verdict"], "current")
        status = {"link": {"link_up": False, "link_error": "the proxy refused our Hello: BAD_SIGNATURE",
                           "secret_last_seen": {"proxy": {"current": 99.0}}}}
        self.assertEqual(ctl.rotation_report(backend, status, 100.0, 60.0)["peers"][0]["verdict"], "refused")
