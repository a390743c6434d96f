"""``scripts/quickstart`` as a new user runs it, in a fresh copy of the repository: both
processes' logs are written under ``run/``, the script says where, and stopping it stops both."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from tests.integration.deployment import wait_until
from tests.integration.harness import ProcessOutput, temp_dir
from tests.integration.test_docs_quickstart import fresh_checkout, use_free_ports


def json_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pass
    return lines


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class QuickstartScriptTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_logs_under_run(self):
        """``scripts/quickstart --offline`` writes the proxy's and the backend's JSON-line
        logs to run/mcproxy.log and run/mcbackend.log, prints both paths, reports ready, and
        an interrupt stops both processes."""
        checkout = temp_dir(self) / "mcproxy"
        checkout.mkdir()
        fresh_checkout(checkout)
        use_free_ports(checkout)
        (checkout / ".venv").symlink_to(Path(sys.prefix))
        script = ProcessOutput()
        env = dict(os.environ, PYTHONPATH=str(checkout))
        transport = reactor.spawnProcess(script, "/bin/bash", ["bash", "scripts/quickstart", "--offline"],
                                         env=env, path=str(checkout))

        def stop():
            if not script.ended.called:
                transport.signalProcess("KILL")
            return script.ended
        self.addCleanup(stop)
        run = checkout / "run"
        yield wait_until(lambda: b"ready:" in script.output or script.ended.called, 90, 0.5,
                         what="the quickstart to report ready")
        text = script.output.decode(errors="replace")
        self.assertIn("log: run/mcproxy.log", text)
        self.assertIn("log: run/mcbackend.log", text)
        self.assertIn("status: READY", text)
        self.assertTrue(any("listening" in e.get("log_text", json.dumps(e)) for e in json_lines(run / "mcproxy.log")))
        self.assertTrue(json_lines(run / "mcbackend.log"), "the backend's log is empty")
        pids = [int((run / name).read_text()) for name in ("mcproxy.pid", "mcbackend.pid")]
        transport.signalProcess(signal.SIGINT)
        yield script.ended
        yield wait_until(lambda: not any(alive(pid) for pid in pids), 20, 0.2, what="both processes stopped")
