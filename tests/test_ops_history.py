"""The rolling history of /status and /metrics, and reject counters over a window."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from mcproxy.ctl import window
from mcproxy.ops.admin import AdminResource
from mcproxy.ops.health import HealthModel
from mcproxy.ops.history import History, read_segments, status_and_metrics
from mcproxy.ops.redaction import Redactor
from mcproxy.ops.status import StatusBoard

START = 1_800_000_000.0
SECRET = "4b1d9e2a7c6f3b8e0d5a1c9f7e3b2d6a8c0f4e1b9d7a3c5e2f8b6d0a4c1e9f73"


class Process:
    """A registry with a reject counter, a status board and a history of both."""

    def __init__(self, case: SynchronousTestCase, directory: str, clock: Clock | None = None,
                 period: float = 10.0, retention: float = 100.0) -> None:
        self.clock = clock or Clock()
        if clock is None:
            self.clock.advance(START)
        self.registry = CollectorRegistry()
        self.rejects = Counter("mcproxy_control_rejects", "r", ["reason"], registry=self.registry)
        self.events: list[dict] = []
        log = Logger(observer=self.events.append)
        self.status = StatusBoard(self.clock, self.registry, log)
        self.status.add("secretive", lambda: {"oops": SECRET})
        redactor = Redactor([SECRET.encode()])
        self.history = History(self.clock, status_and_metrics(self.status, self.registry, redactor), "proxy",
                               directory, period, retention, log)
        self.admin = AdminResource(health=HealthModel(log), status=self.status, registry=self.registry, log=log,
                                   redactor=redactor, history=self.history)

    def get_history(self, query: bytes) -> tuple[int, dict]:
        request = DummyRequest([b"history"])
        request.args = {}
        for pair in query.split(b"&"):
            key, _, value = pair.partition(b"=")
            request.args[key] = [value]
        body = self.admin.getChildWithDefault(b"history", request).render(request)
        return request.responseCode or 200, json.loads(body)


class HistoryTests(SynchronousTestCase):
    def test_interface(self) -> None:
        """History provides IHistory, which the admin surface serves."""
        from zope.interface.verify import verifyObject

        from mcproxy.interfaces import IHistory

        self.assertTrue(verifyObject(IHistory, Process(self, self.mktemp()).history))

    def test_samples_on_disk_survive_a_restart(self) -> None:
        """Samples go to <dir>/<name>.jsonl every period; a new process on the same folder serves
        its predecessor's samples too, secrets scrubbed."""
        folder = self.mktemp()
        first = Process(self, folder)
        first.history.startService()
        first.rejects.labels(reason="VERSION_MISMATCH").inc(3)
        first.clock.advance(10)
        first.history.stopService()
        self.assertTrue((Path(folder) / "proxy.jsonl").exists())
        second = Process(self, folder, clock=first.clock)
        second.clock.advance(5)
        second.history.startService()
        self.addCleanup(second.history.stopService)
        samples = second.history.samples(0, float("inf"))
        self.assertEqual(len(samples), 4)
        self.assertNotIn(SECRET, json.dumps(samples))
        self.assertIn('mcproxy_control_rejects_total{reason="VERSION_MISMATCH"} 3.0', samples[2]["metrics"])

    def test_bounded_by_retention(self) -> None:
        """Segments rotate at half the retention: what is kept spans at most 1.5 retentions."""
        folder = self.mktemp()
        process = Process(self, folder, period=10.0, retention=100.0)
        process.history.startService()
        self.addCleanup(process.history.stopService)
        for _ in range(60):
            process.clock.advance(10)
        times = [s["t"] for s in read_segments(folder, "proxy")]
        self.assertLessEqual(times[-1] - times[0], 150)
        self.assertGreaterEqual(times[-1] - times[0], 50)

    def test_unwritable_folder_keeps_memory_history(self) -> None:
        """A folder that cannot be made is logged once; samples stay in memory, bounded."""
        blocker = Path(self.mktemp())
        blocker.write_text("a file, not a folder")
        process = Process(self, str(blocker / "history"), retention=30.0)
        process.history.startService()
        self.addCleanup(process.history.stopService)
        for _ in range(10):
            process.clock.advance(10)
        errors = [e for e in process.events if e["log_level"].name == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual(len(process.history.samples(0, float("inf"))), 4)

    def test_served_by_window(self) -> None:
        """GET /history?since=&until= answers the samples inside; a bad bound is a 400."""
        process = Process(self, self.mktemp())
        process.history.startService()
        self.addCleanup(process.history.stopService)
        for _ in range(5):
            process.clock.advance(10)
        code, body = process.get_history(f"since={START + 15}&until={START + 35}".encode())
        self.assertEqual([s["t"] - START for s in body["samples"]], [20, 30])
        self.assertEqual((body["process"], body["interval"]), ("proxy", 10.0))
        code, body = process.get_history(b"since=yesterday")
        self.assertEqual(code, 400)


class WindowTests(SynchronousTestCase):
    def text(self, **counts: float) -> str:
        registry = CollectorRegistry()
        counter = Counter("mcproxy_control_rejects", "r", ["reason"], registry=registry)
        for reason, value in counts.items():
            counter.labels(reason=reason).inc(value)
        return generate_latest(registry).decode()

    def test_increase_counts_restarts(self) -> None:
        """A fall is a restart: the new value is what was counted since."""
        self.assertEqual(window.increase([1, 3, 3, 1, 2]), 2 + 1 + 1)
        self.assertEqual(window.increase([5]), 0)

    def test_report_flags_watched_reasons_that_moved(self) -> None:
        """Only watched reasons that rose fail; a series appearing mid-window started at zero."""
        samples = [{"t": 1, "metrics": self.text(BAD_SIGNATURE=2)},
                   {"t": 2, "metrics": self.text(BAD_SIGNATURE=2, VERSION_MISMATCH=1)}]
        report = window.window_report(samples, self.text(BAD_SIGNATURE=5, VERSION_MISMATCH=1), 0,
                                      ["VERSION_MISMATCH"])
        self.assertEqual(report["moved"], ["VERSION_MISMATCH"])
        self.assertEqual(report["increases"], {'mcproxy_control_rejects_total{reason="BAD_SIGNATURE"}': 3.0,
                                               'mcproxy_control_rejects_total{reason="VERSION_MISMATCH"}': 1.0})
        steady = window.window_report(samples[1:], self.text(BAD_SIGNATURE=2, VERSION_MISMATCH=1), 0,
                                      ["VERSION_MISMATCH"])
        self.assertEqual((steady["moved"], steady["increases"]), ([], {}))

    def test_probe_refusals_are_not_incidents(self) -> None:
        """mcproxy_control_probe_rejects_total (smoke's armed probes) never counts in a window."""
        registry = CollectorRegistry()
        Counter("mcproxy_control_probe_rejects", "p", ["reason"], registry=registry).labels(
            reason="VERSION_MISMATCH").inc()
        text = generate_latest(registry).decode()
        self.assertEqual(window.reject_series(text), {})


class RejectsCommandTests(SynchronousTestCase):
    def test_a_stopped_process_is_read_from_its_history_files(self) -> None:
        """mcproxyctl rejects on a process that does not answer reads its samples from disk,
        says so, and exits 1 when a watched reason moved in the window."""
        import contextlib
        import io
        import socket
        import time

        from mcproxy.ctl import cli

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        folder = Path(self.mktemp())
        folder.mkdir()
        (folder / "history").mkdir()
        now = time.time()
        lines = []
        for offset, count in ((-120, 1), (-60, 1), (-30, 4)):
            registry = CollectorRegistry()
            Counter("mcproxy_control_rejects", "r", ["reason"], registry=registry).labels(
                reason="VERSION_MISMATCH").inc(count)
            lines.append(json.dumps({"t": now + offset, "metrics": generate_latest(registry).decode()}))
        (folder / "history" / "proxy.jsonl").write_text("\n".join(lines) + "\n")
        config = folder / "proxy.toml"
        config.write_text(f"""
[proxy]
bind = "tcp:25565"
[security]
proxy_secret = "{SECRET}"
[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]
[admin]
bind = "tcp:{port}:interface=127.0.0.1"
""")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["rejects", "--last", "90s", "--fail-on", "VERSION_MISMATCH", "-c", str(config)])
        text = out.getvalue()
        self.assertEqual(code, 1, text)
        self.assertIn("proxy  note: not answering; from its history in", text)
        self.assertIn('proxy  mcproxy_control_rejects_total{reason="VERSION_MISMATCH"} +3', text)
        self.assertEqual(text.splitlines()[-1], "MOVED: VERSION_MISMATCH on proxy")
