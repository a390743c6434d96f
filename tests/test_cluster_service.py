"""A proxy process with [cluster] enabled: what replaces what, what /health and /status show."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.cluster.directory import ClusterDirectory
from mcproxy.config import load_proxy_config
from mcproxy.ops.health import CheckState, Readiness
from mcproxy.proxy.directory import ProxyDirectory
from mcproxy.proxy.service import ProxyProcess, fixed_changes
from mcproxy.testing import InMemoryPlayerDirectory

SECRET = "cluster-test-" + "0123456789abcdef" * 3
PASSWORD = "5e1d0c7b9a2f4836"

CONFIG = f"""
[proxy]
bind = "tcp:25565:interface=127.0.0.1"
online_mode = false
kick_existing_players = true

[security]
proxy_secret = "{SECRET}"

[servers]
lobby = "127.0.0.1:25566"
try = ["lobby"]

[messaging]
bind = "tcp:25580:interface=127.0.0.1"

[admin]
bind = ""

[cluster]
enabled = true
redis = "tcp:host=127.0.0.1:port=6399"
redis_password_file = "redis.password"
proxy_id = "eu-1"
heartbeat_interval = 2.0
"""


class ClusterProcessTests(SynchronousTestCase):

    def setUp(self) -> None:
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        (directory / "redis.password").write_text(PASSWORD + "\n")
        self.path = directory / "proxy.toml"
        self.path.write_text(CONFIG)
        self.reactor = MemoryReactorClock()
        self.process = ProxyProcess(load_proxy_config(self.path), self.reactor)

    def test_the_cluster_directory_serves_everyone(self) -> None:
        """Status count, commands and the control plane all go through the Redis directory."""
        network = self.process.core.network
        self.assertIsInstance(network, ClusterDirectory)
        self.assertIs(self.process.cluster, network)
        self.assertIs(self.process.messaging.directory, network)
        self.assertEqual(network.proxy_id, "eu-1")
        self.assertTrue(network._kick_existing)
        self.assertIsInstance(network._local, ProxyDirectory)

    def test_redis_down_is_degraded_not_unready(self) -> None:
        """Without Redis the proxy serves: /health is DEGRADED by a cluster check that names why."""
        self.process.startService()
        self.addCleanup(self.process.stopService)
        report = self.process.health.evaluate()
        self.assertEqual(report.checks["cluster"].state, CheckState.DEGRADED)
        self.assertIn("redis unreachable", report.checks["cluster"].detail)
        self.assertNotEqual(report.status, Readiness.NOT_READY)
        # Both Redis connections are being attempted, at the configured address.
        self.assertEqual(sorted((host, port) for host, port, *_ in self.reactor.tcpClients
                                if port == 6399), [("127.0.0.1", 6399)] * 2)

    def test_password_is_redacted_and_absent_from_status(self) -> None:
        """The Redis password joins the redactor, and /status's cluster section does not carry it."""
        self.assertNotIn(PASSWORD, self.process.redactor.redact_text(f"x {PASSWORD} y"))
        self.assertEqual(self.process.cluster.status(), {
            "enabled": True, "proxy_id": "eu-1", "redis_connected": False, "network_online": 0, "by_proxy": {}})

    def test_cluster_changes_need_a_restart(self) -> None:
        """A reload that changes [cluster] or kick_existing_players is refused as a whole."""
        old = self.process.config
        new = dataclasses.replace(old, cluster=dataclasses.replace(old.cluster, proxy_id="eu-2"),
                                  proxy=dataclasses.replace(old.proxy, kick_existing_players=False))
        self.assertEqual(fixed_changes(old, new), ["proxy.kick_existing_players", "cluster"])

    def test_query_and_sample_show_the_network(self) -> None:
        """The GameSpy4 query and the server list's sample name the network's players, like the count."""
        self.process.core.network = InMemoryPlayerDirectory({"Bob": "lobby", "Ann": "games"})
        info = self.process._query_info()
        self.assertEqual((info.online, sorted(info.names)), (2, ["Ann", "Bob"]))
        self.assertEqual(sorted(name for name, _ in self.process._sample_source()), ["Ann", "Bob"])
