"""Operators' commands over the whole network: /alert, /kick and /ip.

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
        message = " ".join(args)
        players = list(proxy.players)
        for player in players:
            player.send_system_message(f"[Alert] {message}")
        sender.send_system_message(f"Alert sent to {len(players)} player(s).")

    def kick(sender, args: list[str]) -> None:
        if not args:
            sender.send_system_message("Usage: /kick <player> [reason]")
            return
        target = proxy.players.find(args[0])
        if target is None:
            sender.send_system_message(f"{args[0]} is not online.")
            return
        proxy.log.info("{player} kicked from the network by command", player=target.profile.name,
                       correlation_id=target.correlation_id)
        target.disconnect(" ".join(args[1:]) or DEFAULT_KICK_REASON)
        sender.send_system_message(f"Kicked {target.profile.name}.")

    def ip(sender, args: list[str]) -> None:
        if len(args) != 1:
            sender.send_system_message("Usage: /ip <player>")
            return
        target = proxy.players.find(args[0])
        if target is None:
            sender.send_system_message(f"{args[0]} is not online.")
            return
        sender.send_system_message(f"{target.profile.name} is connected from {target.address or 'a local socket'}.")

    def player_names(sender, args: list[str]) -> list[str]:
        return [p.profile.name for p in proxy.players] if len(args) == 1 else []

    return [
        ProxyCommand("alert", "Show a message to every player on the network", "mcproxy.command.alert",
                     alert, "<message>", default_allowed=False),
        ProxyCommand("kick", "Disconnect a player from the network", "mcproxy.command.kick", kick,
                     "<player> [reason]", default_allowed=False, suggest=player_names),
        ProxyCommand("ip", "Show the address a player connects from", "mcproxy.command.ip", ip, "<player>",
                     default_allowed=False, suggest=player_names),
    ]
