"""mineflayer bots of 1.8.8, 1.12.2, 1.16.5 and 1.20.4 spawn through the proxy on the limbo.

The two configs are the shipped ``etc/`` examples turned the way ``scripts/quickstart
--offline --all-versions`` turns them (offline mode, BungeeGuard forwarding on both
sides, so clients older than 1.13 are served), on free ports, run in this process.
"""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from mcproxy.backend.service import BackendProcess
from mcproxy.config import load_backend_config, load_proxy_config
from mcproxy.proxy.service import ProxyProcess
from tests.integration.harness import temp_dir
from tests.integration.test_backend_peers import NODE, NODE_MODULES, run_node
from tests.integration.test_docs_quickstart import use_free_ports

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("1.8.8", "1.12.2", "1.16.5", "1.20.4")
PEER_TIMEOUT = 60.0


def quickstart_configs(directory: Path) -> tuple[Path, Path, dict[int, int]]:
    """``etc/`` as ``scripts/quickstart --offline --all-versions`` writes it, on free ports."""
    (directory / "etc").mkdir()
    for name in ("proxy.toml", "backend.toml"):
        shutil.copy(REPO / "etc" / name, directory / "etc" / name)
    ports = use_free_ports(directory)
    rules = {"proxy.toml": [(r"(?m)^online_mode = true ", "online_mode = false ")],
             "backend.toml": [(r"(?m)^require_authenticated_mode = true ",
                               "require_authenticated_mode = false ")]}
    for name, changes in rules.items():
        path = directory / "etc" / name
        text = path.read_text()
        for pattern, replacement in changes + [(r'(?m)^forwarding = "modern" ',
                                                'forwarding = "bungeeguard" ')]:
            text, count = re.subn(pattern, replacement, text)
            assert count == 1, (name, pattern)
        path.write_text(text)
    (directory / "etc" / "proxy.secret").write_text(secrets.token_hex(32) + "\n")
    return directory / "etc" / "proxy.toml", directory / "etc" / "backend.toml", ports


class AllVersionsQuickstartTests(TestCase):
    timeout = 150
    if NODE is None or not NODE_MODULES.is_dir():
        skip = "node and peers/node_modules are needed (npm ci in peers/)"

    @defer.inlineCallbacks
    def test_mineflayer_spawns_through_the_proxy(self):
        """Each version's bot logs in through the proxy (BungeeGuard-forwarded to the
        limbo, which checks the token) and spawns; the limbo counts four good logins."""
        proxy_path, backend_path, ports = quickstart_configs(temp_dir(self))
        proxy = ProxyProcess(load_proxy_config(str(proxy_path)), reactor)
        backend = BackendProcess(load_backend_config(str(backend_path)), reactor)
        for service in (proxy, backend):
            service.privilegedStartService()
            service.startService()
            self.addCleanup(service.stopService)
        yield proxy.game.when_bound()
        results = yield defer.gatherResults([
            run_node("limbo_bot.js", {"port": ports[25565], "version": version,
                                      "username": "Bot" + version.replace(".", "_")},
                     PEER_TIMEOUT)
            for version in VERSIONS])
        for version, (code, events, err) in zip(VERSIONS, results):
            self.assertEqual(code, 0, (version, events, err[-2000:]))
            self.assertEqual(events[-1]["event"], "spawn", version)
        registry = backend.registry
        self.assertEqual(registry.get_sample_value("mcproxy_logins_total", {"result": "ok"}), 4)
        self.assertIsNone(registry.get_sample_value(
            "mcproxy_forwarding_refusals_total", {"reason": "BAD_FORWARDING_SIGNATURE"}))
