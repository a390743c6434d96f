"""The ``/status`` snapshot: named sections, each produced on demand by the component that
owns the facts.

The conventional section names are ``players``, ``backends``, ``links``, ``registry`` (registered
by the proxy, backend and control-plane code) and ``version``, ``uptime``, ``rejects`` (built in).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import twisted
from prometheus_client import CollectorRegistry
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from mcproxy.versions import SHIPPED, VersionSet

StatusProvider = Callable[[], dict[str, Any]]

_REJECT_SUFFIXES = ("_rejects_total", "_refusals_total")


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def reject_counters(registry: CollectorRegistry) -> dict[str, dict[str, int | float]]:
    """Every ``*_rejects_total`` / ``*_refusals_total`` counter on ``registry``, by label values.

    Keys are the sample names; within one, the key of a series is its label values joined by
    ``","`` (just the reason for the usual ``{reason}`` counters, ``""`` when it has no labels).
    Whoever created the counter, it shows up here: the control plane's
    ``mcproxy_control_rejects_total`` needs no registration.
    """
    out: dict[str, dict[str, int | float]] = {}
    for family in registry.collect():
        if family.type != "counter":
            continue
        for sample in family.samples:
            if sample.name.endswith(_REJECT_SUFFIXES):
                key = ",".join(sample.labels.values())
                out.setdefault(sample.name, {})[key] = _number(sample.value)
    return out


class StatusBoard:
    """Named status providers, plus the built-in ``version``, ``uptime`` and ``rejects``."""

    def __init__(self, clock: IReactorTime, registry: CollectorRegistry, log: Logger,
                 versions: VersionSet = SHIPPED) -> None:
        self._clock = clock
        self._versions = versions
        self._registry = registry
        self._log = log
        self._started = clock.seconds()
        self._providers: dict[str, StatusProvider] = {}
        self.add("version", self._version)
        self.add("uptime", self._uptime)
        self.add("rejects", lambda: reject_counters(self._registry))

    def add(self, name: str, provider: StatusProvider) -> None:
        """Register ``provider`` as the section ``name``; it must return a JSON-able dict."""
        if name in self._providers:
            raise ValueError(f"status section {name!r} is already registered")
        self._providers[name] = provider

    def remove(self, name: str) -> None:
        self._providers.pop(name, None)

    def snapshot(self) -> dict[str, Any]:
        """Every section, in registration order.

        A provider that raises yields ``{"error": "unavailable"}`` for its section alone: one
        broken component must not hide the others' state during an incident.
        """
        out: dict[str, Any] = {}
        for name, provider in self._providers.items():
            try:
                out[name] = provider()
            except Exception:
                self._log.failure("status section {section} failed", section=name)
                out[name] = {"error": "unavailable"}
        return out

    def _version(self) -> dict[str, Any]:
        return {
            "mcproxy": self._versions.artifact,
            "control_protocol": self._versions.control_protocol,
            "twisted": twisted.__version__,
            "python": platform.python_version(),
        }

    def _uptime(self) -> dict[str, Any]:
        now = self._clock.seconds()
        started = datetime.fromtimestamp(self._started, timezone.utc)
        return {
            "started": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "seconds": round(now - self._started, 3),
        }
