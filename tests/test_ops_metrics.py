"""Tests for mcproxy.ops.metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.trial import unittest

from mcproxy.ops.metrics import CLIENTBOUND, SERVERBOUND, BackendMetrics, ProxyMetrics


def _control_plane_metrics(registry: CollectorRegistry) -> None:
    """What the control plane creates on each process's registry."""
    Counter("mcproxy_control_rejects", "x", ["reason"], registry=registry)
    Counter("mcproxy_control_verified", "x", ["sender", "secret"], registry=registry)
    Gauge("mcproxy_control_link_up", "x", ["server"], registry=registry)
    Gauge("mcproxy_control_synchronized", "x", ["server"], registry=registry)
    Gauge("mcproxy_control_registry_serial", "x", registry=registry)


def _families(registry: CollectorRegistry) -> dict[str, str]:
    text = generate_latest(registry).decode()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


class ProxyMetricsTests(unittest.SynchronousTestCase):
    def test_names_and_types(self) -> None:
        """Every proxy metric is exposed under its documented mcproxy_* name and type."""
        registry = CollectorRegistry(auto_describe=True)
        ProxyMetrics(registry)
        families = _families(registry)
        expected = {
            "mcproxy_connections": "gauge",
            "mcproxy_players": "gauge",
            "mcproxy_handshakes": "counter",
            "mcproxy_logins": "counter",
            "mcproxy_login_seconds": "histogram",
            "mcproxy_refusals": "counter",
            "mcproxy_routing_attempts": "counter",
            "mcproxy_routing_fallbacks": "counter",
            "mcproxy_relayed_bytes": "counter",
            "mcproxy_relayed_frames": "counter",
            "mcproxy_backend_up": "gauge",
            "mcproxy_backend_probe_seconds": "histogram",
            "mcproxy_backend_probes": "counter",
        }
        for name, kind in expected.items():
            self.assertEqual(families.get(name), kind, name)
        self.assertTrue(all(name.startswith("mcproxy_") for name in families))

    def test_control_plane_metrics_left_to_it(self) -> None:
        """ProxyMetrics creates none of the control plane's metrics, so the control plane can
        create them on the same registry."""
        registry = CollectorRegistry(auto_describe=True)
        ProxyMetrics(registry)
        _control_plane_metrics(registry)

    def test_registries_independent(self) -> None:
        """Two processes' worth of metrics live side by side: nothing is global."""
        first, second = CollectorRegistry(auto_describe=True), CollectorRegistry(auto_describe=True)
        a, b = ProxyMetrics(first), ProxyMetrics(second)
        a.logins.labels("success").inc()
        self.assertEqual(first.get_sample_value("mcproxy_logins_total", {"result": "success"}), 1)
        self.assertIsNone(second.get_sample_value("mcproxy_logins_total", {"result": "success"}))
        self.assertIsNot(a.logins, b.logins)

    def test_add_relayed(self) -> None:
        """Read batches add up per direction, in bytes and in frames."""
        registry = CollectorRegistry(auto_describe=True)
        metrics = ProxyMetrics(registry)
        metrics.add_relayed(SERVERBOUND, 100, 2)
        metrics.add_relayed(SERVERBOUND, 50, 1)
        metrics.add_relayed(CLIENTBOUND, 8192, 1)
        get = registry.get_sample_value
        self.assertEqual(get("mcproxy_relayed_bytes_total", {"direction": SERVERBOUND}), 150)
        self.assertEqual(get("mcproxy_relayed_frames_total", {"direction": SERVERBOUND}), 3)
        self.assertEqual(get("mcproxy_relayed_bytes_total", {"direction": CLIENTBOUND}), 8192)
        self.assertRaises(KeyError, metrics.add_relayed, "sideways", 1, 1)

    def test_connection_states(self) -> None:
        """Connections move between state gauges without changing the total."""
        registry = CollectorRegistry(auto_describe=True)
        metrics = ProxyMetrics(registry)
        metrics.connection_opened("handshake")
        metrics.connection_opened("handshake")
        metrics.connection_changed("handshake", "login")
        metrics.connection_changed("login", "play")
        metrics.connection_closed("handshake")
        get = registry.get_sample_value
        self.assertEqual(get("mcproxy_connections", {"state": "handshake"}), 0)
        self.assertEqual(get("mcproxy_connections", {"state": "login"}), 0)
        self.assertEqual(get("mcproxy_connections", {"state": "play"}), 1)

    def test_probe_and_forget(self) -> None:
        """A probe sets up/down, counts the outcome and observes latency only when up; a
        forgotten backend's series disappear."""
        registry = CollectorRegistry(auto_describe=True)
        metrics = ProxyMetrics(registry)
        metrics.record_probe("lobby", "ok", 0.003)
        metrics.record_probe("lobby", "timeout", None)
        get = registry.get_sample_value
        self.assertEqual(get("mcproxy_backend_up", {"server": "lobby"}), 0)
        self.assertEqual(get("mcproxy_backend_probe_seconds_count", {"server": "lobby"}), 1)
        self.assertEqual(
            get("mcproxy_backend_probes_total", {"server": "lobby", "result": "timeout"}), 1)
        metrics.forget_backend("lobby")
        metrics.forget_backend("never-seen")
        self.assertIsNone(get("mcproxy_backend_up", {"server": "lobby"}))
        self.assertIsNone(
            get("mcproxy_backend_probes_total", {"server": "lobby", "result": "ok"}))


class BackendMetricsTests(unittest.SynchronousTestCase):
    def test_names_and_types(self) -> None:
        """Every backend metric is exposed under its documented name and type."""
        registry = CollectorRegistry(auto_describe=True)
        metrics = BackendMetrics(registry)
        metrics.forwarding_refusals.labels("BAD_SIGNATURE").inc()
        metrics.bridge_synchronized.set(1)
        families = _families(registry)
        for name, kind in {
            "mcproxy_logins": "counter",
            "mcproxy_forwarding_refusals": "counter",
            "mcproxy_players_online": "gauge",
            "mcproxy_bridge_enabled": "gauge",
            "mcproxy_bridge_synchronized": "gauge",
        }.items():
            self.assertEqual(families.get(name), kind, name)
        _control_plane_metrics(registry)
