"""A config reload (SIGHUP): what applies live, what is refused, and the registry push it causes."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import load_proxy_config
from mcproxy.proxy.service import ProxyProcess
from tests.test_proxy_plugins import ExamplePluginPath, Player, proxy_config


class ReloadTests(ExamplePluginPath, SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = self.temp_dir()
        self.events: list[dict] = []

    def start(self, extra: str = "", messaging: bool = True) -> ProxyProcess:
        path = proxy_config(self.dir, extra, messaging)
        process = ProxyProcess(load_proxy_config(path), MemoryReactorClock(), Logger(observer=self.events.append))
        process.startService()
        self.addCleanup(process.stopService)
        return process

    def rewrite(self, extra: str = "", messaging: bool = True, servers: str = "") -> None:
        proxy_config(self.dir, extra, messaging, servers)

    def errors(self) -> list[str]:
        return [e["log_format"].format(**e) for e in self.events if e["log_level"].name == "error"]

    def test_live_keys_apply(self) -> None:
        """MOTD, max_players, servers, try and permissions change in place."""
        process = self.start(messaging=False)
        self.rewrite('[permissions]\n"mcproxy.command.send" = ["Admin"]\n', messaging=False,
                     servers='game = "127.0.0.1:25567"')
        text = Path(process.config.path).read_text().replace('motd = "first"', 'motd = "second"\nmax_players = 7')
        text = text.replace('try = ["lobby"]', 'try = ["game", "lobby"]')
        Path(process.config.path).write_text(text)
        self.assertTrue(process.reload())
        self.assertEqual(process.core.status.response(769)["description"], {"text": "second"})
        self.assertEqual(process.core.settings.max_players, 7)
        self.assertEqual(sorted(process.router.servers), ["game", "lobby"])
        self.assertEqual(process.router.try_order, ("game", "lobby"))
        self.assertTrue(process.commands.allowed(Player("admin"), process.commands.get("send")))
        self.assertEqual(self.errors(), [])

    def test_fixed_key_refused(self) -> None:
        """A change that needs a restart (here the login mode) refuses the whole file; the old config stays."""
        process = self.start()
        old = process.config
        Path(old.path).write_text(Path(old.path).read_text()
                                  .replace("online_mode = false", "online_mode = true")
                                  .replace('motd = "first"', 'motd = "second"'))
        self.assertFalse(process.reload())
        self.assertIs(process.config, old)
        self.assertEqual(process.core.status.response(769)["description"], {"text": "first"})
        self.assertEqual(self.errors(), ["config reload refused: proxy.online_mode cannot change while running; "
                                         "restart to apply them"])

    def test_server_names_fixed_with_messaging(self) -> None:
        """With messaging on, adding a server name is refused: the control plane knows backends from the start."""
        process = self.start()
        self.rewrite(servers='game = "127.0.0.1:25567"')
        self.assertFalse(process.reload())
        self.assertEqual(sorted(process.router.servers), ["lobby"])

    def test_bad_file_refused(self) -> None:
        """A file that no longer validates is refused with the loader's one-line error."""
        process = self.start()
        Path(process.config.path).write_text("[proxy\n")
        self.assertFalse(process.reload())
        self.assertEqual(len(self.errors()), 1)
        self.assertIn("invalid TOML", self.errors()[0])

    def test_reload_loads_plugin_and_pushes_registry(self) -> None:
        """Enabling a plugin by reload adds its command to the mirrored registry with one newer serial."""
        self.use_examples()
        process = self.start()
        serial = process.command_registry.serial
        self.rewrite('[plugins]\nenabled = true\n')
        self.assertTrue(process.reload())
        self.assertIsNotNone(process.command_registry.lookup("hello"))
        self.assertEqual(process.command_registry.serial, serial + 1)
        self.assertTrue(process.reload())
        self.assertEqual(process.command_registry.serial, serial + 1, "an unchanged reload pushes nothing")
        self.rewrite('[plugins]\nenabled = false\n')
        self.assertTrue(process.reload())
        self.assertIsNone(process.command_registry.lookup("hello"))
        self.assertEqual(process.command_registry.serial, serial + 2)


class SighupTests(SynchronousTestCase):
    def test_handler_reloads_in_reactor_thread(self) -> None:
        """The SIGHUP handler hands the reload to the reactor thread rather than running it in the signal."""
        import signal

        from mcproxy.proxy.service import reload_on_sighup

        previous = signal.getsignal(signal.SIGHUP)
        self.addCleanup(signal.signal, signal.SIGHUP, previous)
        calls = []
        reactor = type("Reactor", (), {"callFromThread": lambda self, f, *a: calls.append(f)})()
        process = type("Process", (), {"reload": lambda self: None})()
        reload_on_sighup(process, reactor)
        signal.getsignal(signal.SIGHUP)(signal.SIGHUP, None)
        self.assertEqual(calls, [process.reload])
