"""Proxy commands: typed by players, run on the proxy, never seen by the backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


class CommandDispatcher:
    """Finds a proxy command by the first word of a chat command line and runs it.

    A handler that raises is logged and the player told so; it does not reach the
    connection, let alone the process.
    """

    def __init__(self, log: Logger) -> None:
        self._log = log
        self._commands: dict[str, ProxyCommand] = {}
        self._listeners: list[Callable[[], None]] = []

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

    return [
        ProxyCommand("glist", "List players on every server", "mcproxy.command.glist", glist),
        ProxyCommand("find", "Find which server a player is on", "mcproxy.command.find", find, "<player>"),
    ]
