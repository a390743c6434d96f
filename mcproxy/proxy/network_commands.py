"""Operators' commands over the whole network: /alert, /kick and /ip.

They go through the player directory, so with ``[cluster]`` they reach every proxy's players.

Their nodes default to nobody, like /send: ``[permissions]`` grants them, and the
console (``mcproxyctl command``) may always run them.
"""

from __future__ import annotations

from mcproxy.proxy.commands import ProxyCommand

#: What a player kicked without a reason reads.
DEFAULT_KICK_REASON = "You were kicked from the network."


def network_commands(proxy) -> list[ProxyCommand]:
    def alert(sender, args: list[str]) -> None:
        if not args:
            sender.send_system_message("Usage: /alert <message>")
            return
        d = proxy.network.alert(f"[Alert] {' '.join(args)}")
        d.addCallback(lambda count: sender.send_system_message(f"Alert sent to {count} player(s)."))

    def kick(sender, args: list[str]) -> None:
        if not args:
            sender.send_system_message("Usage: /kick <player> [reason]")
            return
        target = proxy.network.locate(args[0])
        if target is None:
            sender.send_system_message(f"{args[0]} is not online.")
            return
        # Done on the player's own proxy, which logs it.
        d = proxy.network.kick(target.uuid, " ".join(args[1:]) or DEFAULT_KICK_REASON)
        d.addCallback(lambda done: sender.send_system_message(
            f"Kicked {target.name}." if done else f"Could not kick {target.name}: their proxy did not answer."))

    def ip(sender, args: list[str]) -> None:
        if len(args) != 1:
            sender.send_system_message("Usage: /ip <player>")
            return
        target = proxy.network.locate(args[0])
        if target is None:
            sender.send_system_message(f"{args[0]} is not online.")
            return
        sender.send_system_message(f"{target.name} is connected from {target.address or 'a local socket'}.")

    def player_names(sender, args: list[str]) -> list[str]:
        return [e.name for e in proxy.network.entries()] if len(args) == 1 else []

    return [
        ProxyCommand("alert", "Show a message to every player on the network", "mcproxy.command.alert",
                     alert, "<message>", default_allowed=False),
        ProxyCommand("kick", "Disconnect a player from the network", "mcproxy.command.kick", kick,
                     "<player> [reason]", default_allowed=False, suggest=player_names),
        ProxyCommand("ip", "Show the address a player connects from", "mcproxy.command.ip", ip, "<player>",
                     default_allowed=False, suggest=player_names),
    ]
