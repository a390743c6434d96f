"""Third-party proxy plugins: discovery, the API they get, and containment of their faults.

Plugins are found with ``twisted.plugin.getPlugins(IProxyPlugin, mcproxy.plugins)``.  Each
gets its own :class:`PluginAPI`, which remembers what the plugin registered, so unloading
a plugin (a reload) removes its commands and event subscriptions without its help.  A
plugin that raises while loading is logged and left out; one that raises in a command or
an event handler is logged by the dispatcher or the event bus; neither reaches the proxy.
"""

from __future__ import annotations

import uuid
from typing import Callable, Iterable, Sequence

from twisted.internet import defer
from twisted.logger import Logger
from twisted.plugin import getPlugins, pluginPackagePaths
from zope.interface import implementer

from mcproxy.interfaces import IProxyAPI, IProxyPlugin
from mcproxy.proxy.commands import Handler, ProxyCommand, Suggester
from mcproxy.proxy.events import LEGACY_HOOKS
from mcproxy.proxy.player import as_player
from mcproxy.proxy.remote_player import RemotePlayer


@implementer(IProxyAPI)
class PluginAPI:
    """The proxy as one plugin sees it."""

    def __init__(self, core, plugin_name: str) -> None:
        self._core = core
        self.plugin_name = plugin_name
        self.log = Logger(namespace=f"mcproxy.plugins.{plugin_name}")
        self._unsubscribers: list[Callable[[], None]] = []

    def register_command(self, name: str, description: str, permission: str, handler: Handler,
                         usage: str = "", default_allowed: bool = True,
                         suggest: Suggester | None = None) -> None:
        if not name or any(c.isspace() for c in name) or name.startswith("/"):
            raise ValueError(f"invalid command name {name!r}")
        existing = self._core.commands.get(name)
        if existing is not None and existing.owner != self.plugin_name:
            raise ValueError(f"/{name} is already registered by {existing.owner or 'the proxy'}")
        self._core.commands.register(ProxyCommand(
            name, description, permission, _with_facade(handler), usage, default_allowed,
            _with_facade(suggest) if suggest is not None else None, owner=self.plugin_name))

    def unregister_command(self, name: str) -> None:
        existing = self._core.commands.get(name)
        if existing is not None and existing.owner == self.plugin_name:
            self._core.commands.unregister(name)

    def subscribe(self, event, handler: Callable[..., object]) -> Callable[[], None]:
        if isinstance(event, str) and event in LEGACY_HOOKS:
            # Python hides DeprecationWarning outside __main__: say it where operators look.
            self.log.warn("plugin {plugin} subscribes to {event!r} by name, which goes in the next release; "
                          "it should subscribe to {replacement}", plugin=self.plugin_name, event=event,
                          replacement=LEGACY_HOOKS[event][0].__name__)
        unsubscribe = self._core.events.subscribe(event, handler, owner=self.plugin_name)
        self._unsubscribers.append(unsubscribe)
        return unsubscribe

    def players(self) -> list:
        """This proxy's players, then those other proxies of the network hold."""
        here = [as_player(connection) for connection in self._core.players]
        network = self._core.network
        if not network.proxy_id:
            return here
        return here + [RemotePlayer(e, network) for e in network.entries() if e.proxy != network.proxy_id]

    def find_player(self, name_or_uuid: str):
        try:
            connection = self._core.players.get(uuid.UUID(name_or_uuid))
        except ValueError:
            connection = self._core.players.find(name_or_uuid)
        if connection is not None:
            return as_player(connection)
        network = self._core.network
        entry = network.locate(name_or_uuid) if network.proxy_id else None
        if entry is None or entry.proxy == network.proxy_id:
            return None
        return RemotePlayer(entry, network)

    def servers(self) -> list[str]:
        return sorted(self._core.router.servers)

    def _player(self, player):
        if isinstance(player, str):
            found = self.find_player(player)
            if found is None:
                raise ValueError(f"{player} is not online")
            return found
        return as_player(player)

    def send_message(self, player, text: str):
        """None for a player here; a Deferred[bool] for one on another proxy."""
        return self._player(player).send_message(text)

    def move_player(self, player, server: str) -> defer.Deferred:
        try:
            found = self._player(player)
        except ValueError as error:
            return defer.fail(error)
        return found.move_to(server)

    def transfer_player(self, player, host: str, port: int = 25565, server: str | None = None):
        """None for a player here; a Deferred for one on another proxy (failing with ValueError)."""
        return self._player(player).transfer(host, port, server)

    def release(self) -> None:
        """Undo everything the plugin registered."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers.clear()
        self._core.commands.unregister_owned(self.plugin_name)


def _with_facade(function: Callable[..., object]) -> Callable[..., object]:
    """A plugin's command callback, called with the player's facade instead of the session
    (the operator's console, which is no player, is passed as it is)."""

    def call(player, args):
        if getattr(player, "profile", None) is not None:
            player = as_player(player)
        return function(player, args)

    return call


def refresh_plugin_path() -> None:
    """Pick up ``mcproxy/plugins`` folders added to ``sys.path`` since the package was imported."""
    import mcproxy.plugins as package

    for path in pluginPackagePaths(package.__name__):
        if path not in package.__path__:
            package.__path__.append(path)


def discover() -> list:
    """Every IProxyPlugin provider on the plugin path."""
    import mcproxy.plugins as package

    refresh_plugin_path()
    return list(getPlugins(IProxyPlugin, package))


class PluginManager:
    """Loads the allowed plugins into a proxy and can unload and reload them."""

    def __init__(self, core, log: Logger, allow: Sequence[str] = (),
                 finder: Callable[[], Iterable] = discover) -> None:
        self._core = core
        self._log = log
        self.allow = tuple(allow)
        self._finder = finder
        self.loaded: dict[str, tuple[object, PluginAPI]] = {}

    def load_all(self) -> list[str]:
        """Load every allowed plugin found; returns the names of those that loaded."""
        try:
            found = list(self._finder())
        except Exception:
            self._log.failure("plugin discovery failed")
            return []
        with self._core.commands.batch():
            for plugin in found:
                self._load(plugin)
        return sorted(self.loaded)

    def _load(self, plugin) -> None:
        name = str(getattr(plugin, "name", "") or type(plugin).__name__)
        if self.allow and name not in self.allow:
            self._log.info("plugin {plugin} is not in [plugins] allow; not loaded", plugin=name)
            return
        if name in self.loaded:
            self._log.warn("two plugins are called {plugin}; only the first is loaded", plugin=name)
            return
        api = PluginAPI(self._core, name)
        try:
            result = plugin.load(api)
        except Exception:
            self._log.failure("plugin {plugin} failed to load", plugin=name)
            api.release()
            return
        if isinstance(result, defer.Deferred):
            result.addErrback(lambda failure: self._log.failure(
                "plugin {plugin} failed to load", failure, plugin=name))
        self.loaded[name] = (plugin, api)
        self._log.info("plugin {plugin} loaded", plugin=name)

    def unload_all(self) -> None:
        with self._core.commands.batch():
            for name, (_, api) in sorted(self.loaded.items()):
                api.release()
            self.loaded.clear()

    def reload(self, allow: Sequence[str] | None = None) -> list[str]:
        """Unload every plugin and load the allowed ones again, with one registry change."""
        if allow is not None:
            self.allow = tuple(allow)
        with self._core.commands.batch():
            self.unload_all()
            return self.load_all()

