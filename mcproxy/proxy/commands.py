"""Proxy commands: typed by players, run on the proxy, never seen by the backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from twisted.logger import Logger

#: A handler gets the player's connection (or None from the console) and the arguments.
Handler = Callable[[object, list[str]], None]


@dataclass(frozen=True)
class ProxyCommand:
    name: str
    description: str
    permission: str
    handler: Handler
    usage: str = ""
    default_allowed: bool = True


class CommandDispatcher:
    """Finds a proxy command by the first word of a chat command line and runs it.

    A handler that raises is logged and the player told so; it does not reach the
    connection, let alone the process.
    """

    def __init__(self, log: Logger, permissions: Mapping[str, Sequence[str]] | None = None) -> None:
        self._log = log
        self._commands: dict[str, ProxyCommand] = {}
        self._listeners: list[Callable[[], None]] = []
        self._granted = {node: frozenset(n.lower() for n in names) for node, names in (permissions or {}).items()}

    def allowed(self, player, command: ProxyCommand) -> bool:
        """Whether ``player`` (None = console or control plane) may run ``command``.

        ``[permissions]`` grants nodes to player names or to everyone ("*"); a command
        whose node is not listed falls back to its own default.
        """
        if player is None:
            return True
        granted = self._granted.get(command.permission)
        if granted is None:
            return command.default_allowed
        return "*" in granted or player.profile.name.lower() in granted

    def register(self, command: ProxyCommand) -> None:
        self._commands[command.name.lower()] = command
        for listener in list(self._listeners):
            listener()

    def unregister(self, name: str) -> None:
        if self._commands.pop(name.lower(), None) is not None:
            for listener in list(self._listeners):
                listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def commands(self) -> list[ProxyCommand]:
        return [self._commands[name] for name in sorted(self._commands)]

    def get(self, name: str) -> ProxyCommand | None:
        return self._commands.get(name.lower())

    def dispatch(self, player, line: str) -> bool:
        """Run ``line`` if it names a proxy command; ``False`` lets it through to the backend."""
        words = line.strip().split()
        if not words:
            return False
        command = self._commands.get(words[0].lower())
        if command is None:
            return False
        if not self.allowed(player, command):
            player.send_system_message(f"You do not have permission to run /{command.name}.")
            return True
        try:
            command.handler(player, words[1:])
        except Exception:
            self._log.failure("proxy command {command} failed", command=command.name,
                              correlation_id=getattr(player, "correlation_id", ""))
            if player is not None:
                player.send_system_message(f"The command /{command.name} failed.")
        return True


def builtin_commands(proxy) -> list[ProxyCommand]:
    """Commands every network expects: who is where."""

    def glist(player, args: list[str]) -> None:
        by_server = proxy.players.by_server()
        lines = [f"[{name}] ({len(names)}): {', '.join(sorted(names))}" for name, names in sorted(by_server.items())]
        lines.append(f"Total players online: {len(proxy.players)}")
        player.send_system_message("\n".join(lines))

    def find(player, args: list[str]) -> None:
        if len(args) != 1:
            player.send_system_message("Usage: /find <player>")
            return
        target = proxy.players.find(args[0])
        if target is None:
            player.send_system_message(f"{args[0]} is not online.")
        else:
            player.send_system_message(f"{target.profile.name} is on {target.server}.")

    def report(player, d) -> None:
        d.addCallbacks(player.send_system_message, lambda f: player.send_system_message(str(f.value)))

    def server(player, args: list[str]) -> None:
        if not args:
            names = ", ".join(sorted(proxy.router.servers))
            player.send_system_message(f"You are on {player.server}. Servers: {names}")
            return
        report(player, player.switch_to(args[0]))

    def send(player, args: list[str]) -> None:
        if len(args) != 2:
            player.send_system_message("Usage: /send <player|all|current> <server>")
            return
        who, target = args
        if target not in proxy.router.servers:
            player.send_system_message(f"There is no server called {target}.")
            return
        if who == "all":
            movers = [p for p in proxy.players if p.server != target]
        elif who == "current":
            movers = [p for p in proxy.players if p.server == player.server and p.server != target]
        else:
            found = proxy.players.find(who)
            if found is None:
                player.send_system_message(f"{who} is not online.")
                return
            movers = [found]
        for mover in movers:
            d = mover.switch_to(target)
            d.addCallbacks(mover.send_system_message, lambda f, m=mover: m.send_system_message(str(f.value)))
        player.send_system_message(f"Sending {len(movers)} player(s) to {target}.")

    return [
        ProxyCommand("server", "Show or change the server you are on", "mcproxy.command.server", server,
                     "[server]"),
        ProxyCommand("send", "Send a player, everyone, or your server's players elsewhere",
                     "mcproxy.command.send", send, "<player|all|current> <server>", default_allowed=False),
        ProxyCommand("glist", "List players on every server", "mcproxy.command.glist", glist),
        ProxyCommand("find", "Find which server a player is on", "mcproxy.command.find", find, "<player>"),
    ]
