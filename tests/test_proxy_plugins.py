"""The plugin API: discovery with twisted.plugin, what plugins may do, and containment of their faults."""

from __future__ import annotations

import sys
import warnings
import tempfile
import shutil
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, globalLogPublisher
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

import mcproxy.plugins
from mcproxy.config import load_proxy_config
from mcproxy.interfaces import IPlayer, IProxyAPI, IProxyPlugin
from mcproxy.proxy.events import LoginEvent
from mcproxy.proxy.player import as_player
from mcproxy.proxy.plugins import PluginAPI, PluginManager, discover
from mcproxy.proxy.service import ProxyProcess

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "plugins"
SECRET = "mcproxy-test-" + "0123456789abcdef" * 3


def proxy_config(directory: Path, extra: str = "", messaging: bool = True, servers: str = "") -> Path:
    path = directory / "proxy.toml"
    path.write_text(f"""
[proxy]
bind = "tcp:0:interface=127.0.0.1"
online_mode = false
forwarding = "none"
motd = "first"

[security]
proxy_secret = "{SECRET}"

[servers]
lobby = "127.0.0.1:25566"
{servers}
try = ["lobby"]

[messaging]
enabled = {str(messaging).lower()}
bind = "tcp:0:interface=127.0.0.1"

[admin]
bind = ""
{extra}
""")
    return path


class ExamplePluginPath:
    """Mixin: the example plugin's folder on sys.path for one test, and gone after it."""

    def use_examples(self) -> None:
        sys.path.insert(0, str(EXAMPLES))
        saved_path = list(mcproxy.plugins.__path__)

        def restore() -> None:
            sys.path.remove(str(EXAMPLES))
            mcproxy.plugins.__path__[:] = saved_path
            sys.modules.pop("mcproxy.plugins.hello_plugin", None)

        self.addCleanup(restore)

    def temp_dir(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="mcproxy-plugins-"))
        self.addCleanup(shutil.rmtree, path, True)
        return path


class Player:
    """Just enough of a PlayerConnection for commands and events."""

    def __init__(self, name: str, server: str = "lobby") -> None:
        import uuid

        self.profile = type("Profile", (), {"name": name, "id": uuid.uuid4()})()
        self.server = server
        self.correlation_id = "c0ffee"
        self.messages: list[str] = []

    def send_system_message(self, text: str) -> None:
        self.messages.append(text)


@implementer(IPlugin, IProxyPlugin)
class Recorder:
    """A test plugin that registers a command and an event handler, and may fail on purpose."""

    def __init__(self, name: str, fail_load: bool = False) -> None:
        self.name = name
        self.fail_load = fail_load

    def load(self, api) -> None:
        api.register_command(f"{self.name}cmd", "test", f"test.{self.name}", self.run)
        api.subscribe(LoginEvent, self.on_login)
        if self.fail_load:
            raise RuntimeError("broken plugin")

    def run(self, player, args: list[str]) -> None:
        if args == ["boom"]:
            raise RuntimeError("handler failed")
        player.send_system_message(f"{self.name} ran {args}")

    def on_login(self, event) -> None:
        raise RuntimeError("event handler failed")


class ProcessTestCase(ExamplePluginPath, SynchronousTestCase):
    def make_process(self, extra: str = "", messaging: bool = True) -> tuple[ProxyProcess, list[dict]]:
        events: list[dict] = []
        path = proxy_config(self.temp_dir(), extra, messaging)
        process = ProxyProcess(load_proxy_config(path), MemoryReactorClock(), Logger(observer=events.append))
        return process, events


class DiscoveryTests(ProcessTestCase):
    def test_example_plugin_found(self) -> None:
        """getPlugins over mcproxy.plugins finds the example plugin once its folder is on sys.path."""
        self.use_examples()
        plugins = discover()
        self.assertIn("hello", [p.name for p in plugins])
        hello = next(p for p in plugins if p.name == "hello")
        self.assertTrue(verifyObject(IProxyPlugin, hello))

    def test_not_found_without_path(self) -> None:
        """Without its folder on sys.path the example plugin is not loaded by accident."""
        self.assertNotIn("hello", [p.name for p in discover()])

    def test_api_provides_interface(self) -> None:
        """The object a plugin gets provides IProxyAPI."""
        process, _ = self.make_process()
        self.assertTrue(verifyObject(IProxyAPI, PluginAPI(process.core, "x")))


class LoadingTests(ProcessTestCase):
    def test_example_command_in_mirrored_registry(self) -> None:
        """Loading the example plugin adds /hello to the registry backends mirror, with a newer serial."""
        self.use_examples()
        process, _ = self.make_process('[plugins]\nenabled = true\nallow = ["hello"]\n')
        serial = process.command_registry.serial
        process.startService()
        self.addCleanup(process.stopService)
        self.assertEqual(sorted(process.plugins.loaded), ["hello"])
        spec = process.command_registry.lookup("hello")
        self.assertEqual((spec.permission, spec.usage), ("mcproxy.plugin.hello", "[name]"))
        self.assertEqual(process.command_registry.serial, serial + 1)
        self.assertEqual(process.status_board.snapshot()["plugins"], {"enabled": True, "loaded": ["hello"]})

    def test_disabled_by_default(self) -> None:
        """Without [plugins] enabled = true, nothing is loaded even when found."""
        self.use_examples()
        process, _ = self.make_process()
        process.startService()
        self.addCleanup(process.stopService)
        self.assertEqual(process.plugins.loaded, {})
        self.assertIsNone(process.commands.get("hello"))

    def test_allow_list(self) -> None:
        """A plugin missing from a non-empty allow list is left out."""
        process, _ = self.make_process()
        manager = PluginManager(process.core, process.log, allow=["a"],
                                finder=lambda: [Recorder("a"), Recorder("b")])
        self.assertEqual(manager.load_all(), ["a"])
        self.assertIsNotNone(process.commands.get("acmd"))
        self.assertIsNone(process.commands.get("bcmd"))

    def test_failing_load_is_contained(self) -> None:
        """A plugin raising in load is logged, its partial registrations undone, and others still load."""
        process, events = self.make_process()
        manager = PluginManager(process.core, process.log,
                                finder=lambda: [Recorder("bad", fail_load=True), Recorder("good")])
        self.assertEqual(manager.load_all(), ["good"])
        self.assertIsNone(process.commands.get("badcmd"))
        self.assertIsNotNone(process.commands.get("goodcmd"))
        failures = [e for e in events if "log_failure" in e]
        self.assertEqual([e["plugin"] for e in failures], ["bad"])
        self.flushLoggedErrors(RuntimeError)

    def test_failing_handler_and_event_are_contained(self) -> None:
        """A plugin's command or event handler raising is logged; the player is told, nothing else breaks."""
        process, events = self.make_process()
        PluginManager(process.core, process.log, finder=lambda: [Recorder("p")]).load_all()
        player = Player("Alex")
        self.assertTrue(process.commands.dispatch(player, "pcmd boom"))
        self.assertEqual(player.messages, ["The command /pcmd failed."])
        process.core.events.fire(LoginEvent(as_player(player)))
        self.assertTrue(process.commands.dispatch(player, "pcmd ok"))
        self.assertEqual(player.messages[-1], "p ran ['ok']")
        self.assertEqual(len([e for e in events if "log_failure" in e]), 2)
        self.flushLoggedErrors(RuntimeError)

    def test_command_name_taken(self) -> None:
        """A plugin cannot take over a command of the proxy's own."""
        process, _ = self.make_process()
        api = PluginAPI(process.core, "thief")
        self.assertRaises(ValueError, api.register_command, "server", "", "x", lambda p, a: None)
        self.assertEqual(process.commands.get("server").owner, "")

    def test_unload_removes_everything(self) -> None:
        """Unloading removes a plugin's commands and event subscriptions, with one registry change."""
        process, events = self.make_process()
        manager = PluginManager(process.core, process.log, finder=lambda: [Recorder("p"), Recorder("q")])
        manager.load_all()
        serial = process.command_registry.serial
        manager.unload_all()
        self.assertIsNone(process.commands.get("pcmd"))
        self.assertEqual(process.command_registry.serial, serial + 1)
        process.core.events.fire(LoginEvent(as_player(Player("Alex"))))
        self.assertEqual([e for e in events if "log_failure" in e], [])

    def test_api_players_and_messages(self) -> None:
        """The API finds players by name or UUID, messages them, and lists servers."""
        process, _ = self.make_process()
        player = Player("Alex")
        process.core.players.add(player)
        api = PluginAPI(process.core, "p")
        self.assertEqual(api.find_player("alex"), as_player(player))
        self.assertEqual(api.find_player(str(player.profile.id)), as_player(player))
        self.assertEqual(api.players(), [as_player(player)])
        verifyObject(IPlayer, api.find_player("alex"))
        self.assertEqual(api.servers(), ["lobby"])
        api.send_message("Alex", "hi")
        self.assertEqual(player.messages, ["hi"])
        self.failureResultOf(api.move_player("Nobody", "lobby"), ValueError)

    def test_old_hook_name_is_logged_as_deprecated(self) -> None:
        """A plugin still on a 0.4 hook name works, and the log says what to use instead
        (Python would hide the DeprecationWarning from operators)."""
        process, _ = self.make_process()
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        api = PluginAPI(process.core, "old")
        calls = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            api.subscribe("login", calls.append)
        self.assertEqual([w.category for w in caught], [DeprecationWarning])
        warned = [e for e in events if e.get("plugin") == "old" and e.get("replacement")]
        self.assertEqual([(e["event"], e["replacement"]) for e in warned], [("login", "LoginEvent")])
        process.core.events.fire(LoginEvent(as_player(Player("Alex"))))
        self.assertEqual([p.name for p in calls], ["Alex"])
