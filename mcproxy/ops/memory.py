"""The ``memory_snapshot`` admin action: where a long-running process's memory goes.

RSS alone says that a process grows, not what grows. ``tracemalloc`` says which lines
allocated what is still alive; comparing two snapshots taken minutes apart, under the
same load, names the lines that keep memory. Tracing costs CPU and memory while on, so
it is off until an operator starts it and off again when they stop it.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

from mcproxy.ops.admin import ActionError

#: Allocation lines reported per answer.
TOP_LINES = 25

#: Frames kept per traced allocation when the body does not say: enough to see past a
#: helper to its caller, cheap enough for a process under load.
DEFAULT_FRAMES = 4


class MemorySnapshots:
    """Starts tracing, compares each snapshot with the one before, stops tracing."""

    def __init__(self) -> None:
        self._previous: tracemalloc.Snapshot | None = None

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"start": true, "frames": n}``, ``{}`` (a snapshot), or ``{"stop": true}``."""
        if body.get("stop"):
            self._previous = None
            tracemalloc.stop()
            return {"tracing": False}
        if body.get("start"):
            frames = body.get("frames", DEFAULT_FRAMES)
            if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= 64:
                raise ActionError("frames must be an integer from 1 to 64")
            if not tracemalloc.is_tracing():
                tracemalloc.start(frames)
            self._previous = _snapshot()
            return {"tracing": True, "frames": tracemalloc.get_traceback_limit(), **_totals(self._previous)}
        if not tracemalloc.is_tracing():
            raise ActionError("not tracing: start with {\"start\": true} first", 409)
        snapshot = _snapshot()
        previous, self._previous = self._previous, snapshot
        answer: dict[str, Any] = {"tracing": True, **_totals(snapshot)}
        if previous is not None:
            growth = snapshot.compare_to(previous, "lineno")
            answer["since_previous"] = [
                {"where": _where(stat.traceback), "size_diff": stat.size_diff, "count_diff": stat.count_diff,
                 "size": stat.size, "count": stat.count}
                for stat in growth[:TOP_LINES]]
        answer["largest"] = [
            {"where": _where(stat.traceback), "size": stat.size, "count": stat.count}
            for stat in snapshot.statistics("lineno")[:TOP_LINES]]
        return answer


def _snapshot() -> tracemalloc.Snapshot:
    """A snapshot without tracemalloc's own bookkeeping."""
    return tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")))


def _totals(snapshot: tracemalloc.Snapshot) -> dict[str, int]:
    current, peak = tracemalloc.get_traced_memory()
    return {"traced_bytes": current, "traced_peak_bytes": peak,
            "blocks": sum(stat.count for stat in snapshot.statistics("filename"))}


def _where(traceback: tracemalloc.Traceback) -> str:
    frame = traceback[0]
    return f"{frame.filename}:{frame.lineno}"
