"""Tests for mcproxy.ops.health."""

from __future__ import annotations

from twisted.logger import Logger, LogLevel
from twisted.trial import unittest

from mcproxy.ops.health import (
    CheckResult,
    CheckState,
    HealthModel,
    ManualCheck,
    Readiness,
)


class _Events(list):
    """A log observer that keeps events, for assertions."""

    def __call__(self, event: dict) -> None:
        self.append(event)


def _model() -> tuple[HealthModel, _Events]:
    events = _Events()
    return HealthModel(Logger(namespace="test.health", observer=events)), events


class HealthModelTests(unittest.SynchronousTestCase):
    def test_no_checks_is_ready(self) -> None:
        """A process with nothing to check is READY."""
        model, _ = _model()
        report = model.evaluate()
        self.assertIs(report.status, Readiness.READY)
        self.assertEqual(report.to_json(), {"status": "READY", "checks": {}})

    def test_degrading_check_fails_and_recovers(self) -> None:
        """A failing degrading check turns READY into DEGRADED, and recovery turns it back."""
        model, _ = _model()
        lobby = ManualCheck(CheckState.OK, "2.0 ms")
        model.add_check("backend:lobby", lobby, critical=False)
        self.assertIs(model.evaluate().status, Readiness.READY)
        lobby.failed("connection refused")
        report = model.evaluate()
        self.assertIs(report.status, Readiness.DEGRADED)
        self.assertEqual(
            report.to_json()["checks"],
            {"backend:lobby": {"state": "FAILED", "detail": "connection refused"}})
        lobby.ok("1.5 ms")
        self.assertIs(model.evaluate().status, Readiness.READY)

    def test_critical_failure_is_not_ready(self) -> None:
        """A FAILED critical check makes the process NOT_READY for as long as it fails, whatever
        the degrading checks say."""
        model, _ = _model()
        listener = ManualCheck()
        link = ManualCheck(CheckState.FAILED, "down")
        model.add_check("game_listener", listener, critical=True)
        model.add_check("messaging_link", link, critical=False)
        self.assertIs(model.evaluate().status, Readiness.NOT_READY)
        listener.ok("tcp:25565")
        self.assertIs(model.evaluate().status, Readiness.DEGRADED)
        link.ok()
        self.assertIs(model.evaluate().status, Readiness.READY)
        listener.failed("port closed")
        self.assertIs(model.evaluate().status, Readiness.NOT_READY)

    def test_degraded_answer_degrades(self) -> None:
        """A check answering DEGRADED (even a critical one) makes the process DEGRADED."""
        model, _ = _model()
        model.add_check("game_listener", lambda: CheckResult(CheckState.DEGRADED, "slow"),
                        critical=True)
        self.assertIs(model.evaluate().status, Readiness.DEGRADED)

    def test_raising_check_counts_as_failed(self) -> None:
        """A check that raises is FAILED (NOT_READY if critical) and its error is logged."""
        model, events = _model()

        def broken() -> CheckResult:
            raise RuntimeError("boom")

        model.add_check("game_listener", broken, critical=True)
        report = model.evaluate()
        self.assertIs(report.status, Readiness.NOT_READY)
        self.assertEqual(report.checks["game_listener"].state, CheckState.FAILED)
        self.assertTrue(any("log_failure" in e for e in events))

    def test_non_result_counts_as_failed(self) -> None:
        """A check returning something other than a CheckResult is FAILED, not silently OK."""
        model, _ = _model()
        model.add_check("registry_sync", lambda: True, critical=False)  # type: ignore[arg-type]
        self.assertIs(model.evaluate().status, Readiness.DEGRADED)

    def test_duplicate_and_removed_checks(self) -> None:
        """A name is registered once; a removed check no longer counts."""
        model, _ = _model()
        model.add_check("x", ManualCheck(), critical=True)
        self.assertRaises(ValueError, model.add_check, "x", ManualCheck(), critical=False)
        model.remove_check("x")
        self.assertEqual(model.check_names(), [])
        self.assertIs(model.evaluate().status, Readiness.READY)

    def test_transitions_logged_once(self) -> None:
        """The overall status is logged when it changes, not at every evaluation."""
        model, events = _model()
        link = ManualCheck(CheckState.OK)
        model.add_check("messaging_link", link, critical=False)
        model.evaluate()
        model.evaluate()
        link.failed("down")
        model.evaluate()
        model.evaluate()
        statuses = [e["status"] for e in events if "status" in e]
        self.assertEqual(statuses, ["READY", "DEGRADED"])
        self.assertTrue(all(e["log_level"] is LogLevel.info for e in events))
