"""``[cluster]`` and ``[proxy] kick_existing_players``: read, defaulted, refused with file: key: reason."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

from mcproxy.config import ClusterSection, Secret, load_proxy_config
from tests.test_config import PROXY_MINIMAL, ConfigFileTestCase


class ClusterConfigTests(ConfigFileTestCase):

    def load(self, table: str):
        return load_proxy_config(self.write(PROXY_MINIMAL + "[cluster]\n" + table))

    def test_default_off(self) -> None:
        """Without the table a proxy runs alone, with the DESIGN.md defaults."""
        config = load_proxy_config(self.write(PROXY_MINIMAL))
        self.assertEqual(config.cluster, ClusterSection())
        self.assertEqual((config.cluster.redis, config.cluster.proxy_id, config.cluster.heartbeat_interval),
                         ("tcp:host=127.0.0.1:port=6379", "proxy-1", 5.0))
        self.assertFalse(config.proxy.kick_existing_players)

    def test_all_keys(self) -> None:
        """Every documented key is read; the password comes from its file, stripped, as a Secret."""
        self.write("s3cr3t-redis-pass\n", "redis.password")
        config = self.load('enabled = true\nredis = "ssl:host=redis.example:port=6380"\n'
                           'redis_password_file = "redis.password"\nproxy_id = "eu-2"\nheartbeat_interval = 2\n')
        cluster = config.cluster
        self.assertEqual((cluster.enabled, cluster.redis, cluster.proxy_id, cluster.heartbeat_interval),
                         (True, "ssl:host=redis.example:port=6380", "eu-2", 2.0))
        self.assertEqual(cluster.redis_password, Secret(b"s3cr3t-redis-pass"))
        self.assertEqual(cluster.redis_password_file, os.path.join(os.path.abspath(self.dir), "redis.password"))
        self.assertNotIn("s3cr3t", repr(config))

    def test_kick_existing_players(self) -> None:
        """[proxy] kick_existing_players is a boolean."""
        text = PROXY_MINIMAL.replace("[proxy]\n", "[proxy]\nkick_existing_players = true\n", 1)
        self.assertTrue(load_proxy_config(self.write(text)).proxy.kick_existing_players)
        text = PROXY_MINIMAL.replace("[proxy]\n", '[proxy]\nkick_existing_players = "yes"\n', 1)
        self.assertProxyError(text, "proxy.kick_existing_players", "must be a boolean (true or false), not a string")

    def test_bad_endpoint(self) -> None:
        """A Redis address that is not a client endpoint string fails at start."""
        self.assertProxyErrorStarts(PROXY_MINIMAL + '[cluster]\nredis = "127.0.0.1:6379"\n', "cluster.redis", "")

    def test_bad_proxy_id(self) -> None:
        """A proxy id appears in keys and logs: it is a plain name."""
        self.assertProxyError(PROXY_MINIMAL + '[cluster]\nproxy_id = "eu 1"\n', "cluster.proxy_id",
                              "must be 1 to 64 letters, digits, '_', '-' or '.', not 'eu 1'")

    def test_heartbeat_limits(self) -> None:
        """A heartbeat below 0.1 s or above 300 s is refused."""
        self.assertProxyError(PROXY_MINIMAL + "[cluster]\nheartbeat_interval = 0.01\n", "cluster.heartbeat_interval",
                              "must be at least 0.1 seconds, not 0.01")
        self.assertProxyError(PROXY_MINIMAL + "[cluster]\nheartbeat_interval = 301\n", "cluster.heartbeat_interval",
                              "must be greater than 0 and at most 300, not 301")

    def test_password_file_missing_or_empty(self) -> None:
        """A password file that cannot be read, or holds nothing, fails at start without a value shown."""
        self.assertProxyErrorStarts(PROXY_MINIMAL + '[cluster]\nredis_password_file = "nope"\n',
                                    "cluster.redis_password_file", "cannot read")
        self.write("\n", "empty")
        self.assertProxyError(PROXY_MINIMAL + '[cluster]\nredis_password_file = "empty"\n',
                              "cluster.redis_password_file", f"{os.path.join(os.path.abspath(self.dir), 'empty')} is empty")
        self.write("two words\n", "spaced")
        self.assertProxyError(PROXY_MINIMAL + '[cluster]\nredis_password_file = "spaced"\n',
                              "cluster.redis_password_file",
                              f"{os.path.join(os.path.abspath(self.dir), 'spaced')} holds spaces or non-printable characters")

    def test_unknown_key(self) -> None:
        """A typo in [cluster] is refused with a hint; a password inline is not a key."""
        self.assertProxyError(PROXY_MINIMAL + "[cluster]\nenable = true\n", "cluster.enable",
                              "unknown key (did you mean 'enabled'?)")
        self.assertProxyErrorStarts(PROXY_MINIMAL + '[cluster]\nredis_password = "x"\n', "cluster.redis_password",
                                    "unknown key")

    def test_keys_documented_and_shown(self) -> None:
        """Every [cluster] key and kick_existing_players is in docs/configuration.md and etc/proxy.toml."""
        repo = Path(__file__).resolve().parents[1]
        docs = (repo / "docs" / "configuration.md").read_text()
        example = (repo / "etc" / "proxy.toml").read_text()
        keys = [f.name for f in fields(ClusterSection) if f.name != "redis_password"] + ["kick_existing_players"]
        for key in keys:
            self.assertIn(f"| `{key}` |", docs, key)
            self.assertIn(f"\n{key} = ", example, key)

    def test_cluster_needs_the_shared_secret(self) -> None:
        """[cluster] without proxy_secret is refused: requests between proxies are signed with it."""
        self.assertProxyErrorStarts(
            '[proxy]\nforwarding = "none"\n[messaging]\nenabled = false\n[servers]\nlobby = "a:1"\ntry = ["lobby"]\n'
            "[cluster]\nenabled = true\n", "security.proxy_secret",
            "a secret is required because [cluster] is enabled; set proxy_secret or proxy_secret_file")
