"""Reject counters over a time window, from a process's history samples.

Counters count from process start, so "stable at zero" needs their increase over the
last minutes. Each series' increase is the sum of its rises between consecutive samples;
a fall means the process restarted (counters began again at zero), so the new value is
the rise since then. A restart inside the window therefore loses nothing the history kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

_REJECT_SUFFIXES = ("_rejects_total", "_refusals_total")

#: What the runbook's startup procedure expects to stay at zero.
DEFAULT_WATCHED = ("VERSION_MISMATCH", "UNEXPECTED_SENDER", "INVALID_TIMESTAMP", "REPLAYED_NONCE",
                   "REPLAYED_SNAPSHOT")


def reject_series(metrics_text: str) -> dict[str, float]:
    """``{'name{label="v",...}': value}`` of every reject counter in an exposition text."""
    out: dict[str, float] = {}
    try:
        families = list(text_string_to_metric_families(metrics_text))
    except Exception:  # a truncated or foreign sample: nothing to count
        return out
    for family in families:
        for sample in family.samples:
            # Refusals an operator's probe asked for are not incidents.
            if sample.name.endswith(_REJECT_SUFFIXES) and "_probe_" not in sample.name:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def increase(values: Iterable[float]) -> float:
    """The counter's increase over consecutive readings, counting a fall as a restart."""
    total, previous = 0.0, None
    for value in values:
        if previous is not None:
            total += value - previous if value >= previous else value
        previous = value
    return total


def increases(metrics_texts: list[str]) -> dict[str, float]:
    """Each reject series' increase across the texts, oldest first (absent = not yet counted)."""
    readings = [reject_series(text) for text in metrics_texts]
    names = sorted({name for reading in readings for name in reading})
    out = {}
    for name in names:
        seen = [reading[name] for reading in readings if name in reading]
        # A series absent from the first readings started at zero when it appeared.
        start = [0.0] if name not in readings[0] else []
        out[name] = increase(start + seen)
    return out


def reason_of(series: str) -> str:
    """The ``reason`` label of a series name ("" when it has none)."""
    marker = 'reason="'
    if marker not in series:
        return ""
    return series.split(marker, 1)[1].split('"', 1)[0]


def window_report(samples: list[dict[str, Any]], now_metrics: str | None, since: float,
                  watched: Iterable[str]) -> dict[str, Any]:
    """Increases over the window from ``samples`` (plus the live reading), and which of the
    watched reasons moved; ``covered_from`` says where the history actually starts."""
    texts = [s["metrics"] for s in samples if isinstance(s.get("metrics"), str)]
    if now_metrics is not None:
        texts.append(now_metrics)
    moved = increases(texts) if texts else {}
    watched = list(watched)
    flagged = sorted({reason_of(name) for name, value in moved.items() if value > 0} & set(watched))
    first = samples[0]["t"] if samples else None
    return {"increases": {k: v for k, v in moved.items() if v > 0}, "watched": watched, "moved": flagged,
            "readings": len(texts), "covered_from": first, "since": since}
