"""Proxy commands: typed by players, run on the proxy, never seen by the backend."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

from twisted.logger import Logger

from mcproxy.proxy.console import Console

#: A handler gets the player's connection (or None from the console) and the arguments.
Handler = Callable[[object, list[str]], None]
#: A suggester gets the player and the words typed so far (the last one possibly
#: partial) and returns candidates for the last word.
Suggester = Callable[[object, list[str]], Sequence[str]]


@dataclass(frozen=True)
class ProxyCommand:
    name: str
    description: str
    permission: str
    handler: Handler
    usage: str = ""
    default_allowed: bool = True
    suggest: Suggester | None = None
    #: Who registered it: "" for the proxy itself, else a plugin's name.
    owner: str = ""


class CommandDispatcher:
    """Finds a proxy command by the first word of a chat command line and runs it.

    A handler that raises is logged and the player told so; it does not reach the
    connection, let alone the process.
    """

    def __init__(self, log: Logger, permissions: Mapping[str, Sequence[str]] | None = None) -> None:
        self._log = log
        self._commands: dict[str, ProxyCommand] = {}
        self._listeners: list[Callable[[], None]] = []
        self._batching = 0
        self._dirty = False
        self.set_permissions(permissions or {})

    def set_permissions(self, permissions: Mapping[str, Sequence[str]]) -> None:
        """Replace the ``[permissions]`` grants (a config reload)."""
        self._granted = {node: frozenset(n.lower() for n in names) for node, names in permissions.items()}

    def allowed(self, player, command: ProxyCommand) -> bool:
        """Whether ``player`` (None = console or control plane) may run ``command``.

        ``[permissions]`` grants nodes to player names or to everyone ("*"); a command
        whose node is not listed falls back to its own default.
        """
        if player is None or isinstance(player, Console):
            return True
        granted = self._granted.get(command.permission)
        if granted is None:
            return command.default_allowed
        return "*" in granted or player.profile.name.lower() in granted

    def register(self, command: ProxyCommand) -> None:
        self._commands[command.name.lower()] = command
        self._changed()

    def unregister(self, name: str) -> None:
        if self._commands.pop(name.lower(), None) is not None:
            self._changed()

    def unregister_owned(self, owner: str) -> None:
        """Remove every command ``owner`` registered (a plugin being unloaded)."""
        with self.batch():
            for key in [k for k, c in self._commands.items() if c.owner == owner]:
                del self._commands[key]
                self._changed()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Tell listeners once, after a group of changes (a reload), not per change."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching and self._dirty:
                self._dirty = False
                self._notify()

    def _changed(self) -> None:
        if self._batching:
            self._dirty = True
        else:
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def commands(self) -> list[ProxyCommand]:
        return [self._commands[name] for name in sorted(self._commands)]

    def get(self, name: str) -> ProxyCommand | None:
        return self._commands.get(name.lower())

    def visible(self, player) -> list[ProxyCommand]:
        """The commands ``player`` may run, for their command tree."""
        return [c for c in self.commands() if self.allowed(player, c)]

    def suggestions(self, player, text: str) -> tuple[int, int, list[str]] | None:
        """Tab completion for ``text`` (the chat line after "/"), if it is ours.

        Returns where the completed word starts in ``text``, its length and the
        matches (none for a command without a suggester); ``None`` when the line is
        not a proxy command the player may run.
        """
        words = text.split(" ")
        if len(words) < 2:
            return None
        command = self._commands.get(words[0].lower())
        if command is None or not self.allowed(player, command):
            return None
        partial = words[-1]
        if command.suggest is None:
            # Still ours: the backend need not learn what is typed after a proxy command.
            return len(text) - len(partial), len(partial), []
        try:
            candidates = command.suggest(player, words[1:])
        except Exception:
            self._log.failure("suggestions for {command} failed", command=command.name,
                              correlation_id=getattr(player, "correlation_id", ""))
            return None
        wanted = partial.lower()
        matches = sorted({c for c in candidates if c.lower().startswith(wanted)})
        return len(text) - len(partial), len(partial), matches

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
        entries = proxy.network.entries()
        by_server: dict[str, list[str]] = {}
        for entry in entries:
            by_server.setdefault(entry.server, []).append(entry.name)
        lines = [f"[{name}] ({len(names)}): {', '.join(sorted(names))}" for name, names in sorted(by_server.items())]
        lines.append(f"Total players online: {len(entries)}")
        player.send_system_message("\n".join(lines))

    def find(player, args: list[str]) -> None:
        if len(args) != 1:
            player.send_system_message("Usage: /find <player>")
            return
        target = proxy.network.locate(args[0])
        if target is None:
            player.send_system_message(f"{args[0]} is not online.")
        else:
            via = f" (via proxy {target.proxy})" if target.proxy else ""
            player.send_system_message(f"{target.name} is on {target.server}.{via}")

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
        network = proxy.network
        if who == "all":
            movers = [e for e in network.entries() if e.server != target]
        elif who == "current":
            movers = [e for e in network.entries() if e.server == player.server and e.server != target]
        else:
            found = network.locate(who)
            if found is None:
                player.send_system_message(f"{who} is not online.")
                return
            movers = [found]
        for mover in movers:
            # Runs on the mover's own proxy, which tells the mover how it went.
            network.transfer(mover.uuid, target, notify=True)
        player.send_system_message(f"Sending {len(movers)} player(s) to {target}.")

    def transfer(player, args: list[str]) -> None:
        if not 2 <= len(args) <= 4:
            player.send_system_message("Usage: /transfer <player> <host> [port] [server]")
            return
        target = proxy.network.locate(args[0])
        if target is None:
            player.send_system_message(f"{args[0]} is not online.")
            return
        port = args[2] if len(args) > 2 else "25565"
        if not port.isdigit():
            player.send_system_message(f"{port} is not a port number.")
            return
        # Sent by the player's own proxy, which may be another one of the network.
        d = proxy.network.transfer_out(target.uuid, args[1], int(port), args[3] if len(args) > 3 else None)
        d.addCallback(lambda result: player.send_system_message(
            f"Transferred {target.name} to {args[1]}:{port}." if result.done
            else f"Cannot transfer {target.name}: {result.reason}"))

    def server_names(player, args: list[str]) -> list[str]:
        return list(proxy.router.servers) if len(args) == 1 else []

    def player_names(player, args: list[str]) -> list[str]:
        return [e.name for e in proxy.network.entries()] if len(args) == 1 else []

    def send_targets(player, args: list[str]) -> list[str]:
        if len(args) == 1:
            return ["all", "current", *(e.name for e in proxy.network.entries())]
        return list(proxy.router.servers) if len(args) == 2 else []

    return [
        ProxyCommand("server", "Show or change the server you are on", "mcproxy.command.server", server,
                     "[server]", suggest=server_names),
        ProxyCommand("send", "Send a player, everyone, or your server's players elsewhere",
                     "mcproxy.command.send", send, "<player|all|current> <server>", default_allowed=False,
                     suggest=send_targets),
        ProxyCommand("glist", "List players on every server", "mcproxy.command.glist", glist),
        ProxyCommand("find", "Find which server a player is on", "mcproxy.command.find", find, "<player>",
                     suggest=player_names),
        ProxyCommand("transfer", "Send a player to another address with the Transfer packet",
                     "mcproxy.command.transfer", transfer, "<player> <host> [port] [server]",
                     default_allowed=False, suggest=player_names),
    ]
