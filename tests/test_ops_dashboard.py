"""The shipped monitoring files (etc/grafana, etc/prometheus) query metrics that exist.

A dashboard panel or an alert naming a metric no process exports shows "No data" forever
and nobody notices until the incident it was meant for; these tests scrape the registries
of a real ``ProxyProcess`` and a real backend service tree and check every name.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.backend.service import BackendProcess
from mcproxy.config import load_backend_config, load_proxy_config
from mcproxy.proxy.service import ProxyProcess

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "etc" / "grafana" / "mcproxy-dashboard.json"
SCRAPE_CONFIG = REPO / "etc" / "prometheus" / "mcproxy.yml"
ALERTS = REPO / "etc" / "prometheus" / "mcproxy-alerts.yml"
SECRET = "dashboard-test-" + "0123456789abcdef" * 3

_METRIC = re.compile(r"\bmcproxy_[a-z0-9_]+\b")
# Sample names a family of each type exposes, by suffix.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "unknown": ("",),
}


def series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a scrape of ``registry`` can show, including label sets not used yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(generate_latest(registry).decode("utf-8")):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression in a Grafana dashboard: targets and templating queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from dashboard_expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_expressions(item)


def alert_expressions(text: str) -> list[str]:
    """The ``expr:`` lines of a Prometheus rules file (one-line expressions only)."""
    return [line.split("expr:", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("expr:")]


class ScrapedNames:
    """Series names of one proxy and one backend, built as twistd builds them."""

    def __init__(self, directory: Path) -> None:
        (directory / "proxy.toml").write_text(f"""
[proxy]
bind = "tcp:0:interface=127.0.0.1"
online_mode = false

[security]
proxy_secret = "{SECRET}"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]

[messaging]
bind = "tcp:0:interface=127.0.0.1"

[admin]
bind = "tcp:0:interface=127.0.0.1"
""")
        (directory / "backend.toml").write_text(f"""
[backend]
bind = "tcp:0:interface=127.0.0.1"
proxy_secret = "{SECRET}"

[admin]
bind = "tcp:0:interface=127.0.0.1"

[logging]
file = "{directory / 'backend.log'}"
""")
        proxy = ProxyProcess(load_proxy_config(directory / "proxy.toml"), MemoryReactorClock())
        self.proxy = series_names(proxy.registry)
        backend = BackendProcess(load_backend_config(directory / "backend.toml"), MemoryReactorClock())
        self.backend = series_names(backend.admin.registry)


class DashboardTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        self.names = ScrapedNames(directory)
        self.dashboard = json.loads(DASHBOARD.read_text())

    def test_scrapes_are_not_empty(self) -> None:
        """The scrapes themselves hold the core metrics, so an empty scrape cannot pass the checks below."""
        self.assertIn("mcproxy_backend_up", self.names.proxy)
        self.assertIn("mcproxy_control_rejects_total", self.names.proxy)
        self.assertIn("mcproxy_players_online", self.names.backend)
        self.assertIn("mcproxy_control_rejects_total", self.names.backend)

    def test_every_dashboard_metric_is_exported(self) -> None:
        """Each metric a panel queries is exported by the process its job selects."""
        expressions = list(dashboard_expressions(self.dashboard))
        self.assertGreater(len(expressions), 20)
        for expr in expressions:
            used = set(_METRIC.findall(expr))
            self.assertTrue(used, f"no mcproxy metric in {expr!r}")
            if "$proxy_job" in expr:
                exported, where = self.names.proxy, "the proxy"
            elif "$backend_job" in expr:
                exported, where = self.names.backend, "a backend"
            else:
                exported, where = self.names.proxy | self.names.backend, "either process"
            missing = used - exported
            self.assertFalse(missing, f"{expr!r} names {sorted(missing)}, not exported by {where}")

    def test_every_exported_family_has_a_panel(self) -> None:
        """No metric family the processes export is left off the dashboard (``_created`` aside)."""
        text = json.dumps(self.dashboard)
        families = {name for name in self.names.proxy | self.names.backend if not name.endswith("_created")}
        bases = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in families}
        unseen = sorted(base for base in bases if base not in text)
        self.assertEqual(unseen, [])

    def test_panels_use_the_datasource_variable(self) -> None:
        """Every panel reads from the dashboard's Prometheus variable, so an import needs one choice."""
        for panel in self.dashboard["panels"]:
            if panel["type"] == "row":
                continue
            self.assertEqual(panel["datasource"], {"type": "prometheus", "uid": "${datasource}"}, panel["title"])
            self.assertTrue(panel["targets"], panel["title"])

    def test_jobs_match_the_scrape_config(self) -> None:
        """The dashboard's job names are the ones etc/prometheus/mcproxy.yml scrapes."""
        jobs = {variable["name"]: variable["query"] for variable in self.dashboard["templating"]["list"]
                if variable["name"].endswith("_job")}
        scrape = SCRAPE_CONFIG.read_text()
        for job in jobs.values():
            self.assertIn(f"job_name: {job}", scrape)

    def test_alert_rules_name_exported_metrics(self) -> None:
        """Each alert expression names metrics the job it selects exports."""
        expressions = alert_expressions(ALERTS.read_text())
        self.assertGreater(len(expressions), 4)
        for expr in expressions:
            used = set(_METRIC.findall(expr))
            if 'job="mcproxy"' in expr:
                exported = self.names.proxy
            elif 'job="mcbackend"' in expr:
                exported = self.names.backend
            else:
                exported = self.names.proxy | self.names.backend
            self.assertFalse(used - exported, f"{expr!r} names {sorted(used - exported)}")
