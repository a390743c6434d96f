"""Publishing a process's departures from the safe defaults where operators and alerts look.

At start each one is logged as a warning, listed in ``/status`` (``unsafe_settings``) and
exported as ``mcproxy_unsafe_setting{key="..."} 1``, so an alert can fire on any of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge
from twisted.logger import Logger

from mcproxy.config.unsafe import UnsafeSetting
from mcproxy.ops.status import StatusBoard


def publish_unsafe_settings(settings: Sequence[UnsafeSetting], registry: CollectorRegistry,
                            log: Logger, status: StatusBoard | None = None) -> None:
    """Warn about, export and list ``settings`` (an empty list exports an empty family)."""
    gauge = Gauge("mcproxy_unsafe_setting",
                  "1 for each setting that departs from the runbook's safe defaults, by key.",
                  ["key"], registry=registry)
    for setting in settings:
        gauge.labels(key=setting.key).set(1)
        log.warn("unsafe setting {key} = {value}: {why}", key=setting.key, value=setting.value,
                 why=setting.why)
    if status is not None:
        listed = [setting.as_dict() for setting in settings]
        status.add("unsafe_settings", lambda: {"count": len(listed), "settings": listed})
