"""An example mcproxy plugin: a /hello command and a log line per join.

Install it by putting ``examples/plugins`` on the proxy's ``PYTHONPATH`` (or by copying
this file into the ``mcproxy/plugins/`` folder of any directory on ``sys.path``), then
enable plugins in ``proxy.toml``::

    [plugins]
    enabled = true
    allow = ["hello"]
"""

from __future__ import annotations

from twisted.plugin import IPlugin
from zope.interface import implementer

from mcproxy.interfaces import IProxyPlugin
from mcproxy.proxy.events import ServerConnectedEvent


@implementer(IPlugin, IProxyPlugin)
class HelloPlugin:
    name = "hello"

    def load(self, api) -> None:
        self.api = api

        def hello(player, args: list[str]) -> None:
            who = args[0] if args else player.name
            api.send_message(player, f"Hello, {who}! You are on {player.server}.")

        def names(player, args: list[str]) -> list[str]:
            return [p.name for p in api.players()] if len(args) == 1 else []

        api.register_command("hello", "Say hello", "mcproxy.plugin.hello", hello, "[name]", suggest=names)
        api.subscribe(ServerConnectedEvent, self.connected)

    def connected(self, event: ServerConnectedEvent) -> None:
        self.api.log.info("{player} is now on {server}", player=event.player.name, server=event.server)


hello = HelloPlugin()
