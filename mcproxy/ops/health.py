"""Readiness: named checks folded into one READY / DEGRADED / NOT_READY answer.

A check is a callable asked at every ``/health`` request, so a component reports what it knows
right now instead of pushing state around.  Whether a failing check stops the process from
serving (*critical*: the game listener is not bound) or only weakens it (*degrading*: a backend
or a messaging link is down) is fixed when the check is added, by the component that knows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from twisted.logger import Logger


class CheckState(enum.Enum):
    """What one check says about its component."""

    OK = "OK"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"


class Readiness(enum.Enum):
    """The process's overall answer, as served by ``/health``."""

    READY = "READY"
    DEGRADED = "DEGRADED"
    NOT_READY = "NOT_READY"


@dataclass(frozen=True)
class CheckResult:
    """A check's answer; ``detail`` is shown to operators, so it must hold no secret."""

    state: CheckState
    detail: str = ""


Check = Callable[[], CheckResult]


@dataclass(frozen=True)
class HealthReport:
    """One evaluation of every check."""

    status: Readiness
    checks: dict[str, CheckResult]

    def to_json(self) -> dict[str, object]:
        """The ``/health`` body."""
        return {
            "status": self.status.value,
            "checks": {
                name: {"state": result.state.value, "detail": result.detail}
                for name, result in self.checks.items()
            },
        }


class ManualCheck:
    """A check whose answer its component sets when it learns of a change.

    Suits facts that arrive as events rather than being cheap to ask for: "listener bound"
    (set from the ``listen`` Deferred), "link up" (set from ``connectionMade``/``connectionLost``).
    """

    def __init__(self, state: CheckState = CheckState.FAILED, detail: str = "not started") -> None:
        self._result = CheckResult(state, detail)

    def set(self, state: CheckState, detail: str = "") -> None:
        self._result = CheckResult(state, detail)

    def ok(self, detail: str = "") -> None:
        self.set(CheckState.OK, detail)

    def degraded(self, detail: str) -> None:
        self.set(CheckState.DEGRADED, detail)

    def failed(self, detail: str) -> None:
        self.set(CheckState.FAILED, detail)

    def __call__(self) -> CheckResult:
        return self._result


class HealthModel:
    """The registered checks of one process and the rule that folds them.

    A FAILED critical check makes the process NOT_READY.  Any other non-OK check (a FAILED
    degrading check, or a check of either kind answering DEGRADED) makes it DEGRADED.  A check
    that raises counts as FAILED: a broken probe must not read as healthy.
    """

    def __init__(self, log: Logger) -> None:
        self._log = log
        self._checks: dict[str, tuple[Check, bool]] = {}
        self._last: Readiness | None = None

    def add_check(self, name: str, check: Check, *, critical: bool) -> None:
        """Register ``check`` under ``name``, which is how ``/health`` shows it."""
        if name in self._checks:
            raise ValueError(f"health check {name!r} is already registered")
        self._checks[name] = (check, critical)

    def remove_check(self, name: str) -> None:
        """Forget a check, e.g. when a backend is removed from the configuration."""
        self._checks.pop(name, None)

    def check_names(self) -> list[str]:
        return list(self._checks)

    def evaluate(self) -> HealthReport:
        """Ask every check now; log when the overall answer changes."""
        results: dict[str, CheckResult] = {}
        status = Readiness.READY
        for name, (check, critical) in self._checks.items():
            result = self._run(name, check)
            results[name] = result
            if result.state is CheckState.FAILED and critical:
                status = Readiness.NOT_READY
            elif result.state is not CheckState.OK and status is Readiness.READY:
                status = Readiness.DEGRADED
        if status is not self._last:
            failing = sorted(n for n, r in results.items() if r.state is not CheckState.OK)
            self._log.info(
                "health is now {status} (not OK: {failing})",
                status=status.value,
                failing=", ".join(failing) or "none",
            )
            self._last = status
        return HealthReport(status, results)

    def _run(self, name: str, check: Check) -> CheckResult:
        try:
            result = check()
        except Exception:
            self._log.failure("health check {check} raised", check=name)
            return CheckResult(CheckState.FAILED, "check raised an exception")
        if not isinstance(result, CheckResult):
            return CheckResult(CheckState.FAILED, "check returned no CheckResult")
        return result
