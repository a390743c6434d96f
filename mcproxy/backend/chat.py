"""What a player in the limbo says: chat lines echoed to everyone, and the limbo's commands.

Before 1.19 chat and commands share one packet (a command starts with ``/``); from 1.19
commands come in packets of their own.  A proxy command typed on the limbo goes to the
proxy through the backend module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcproxy.backend.commands import split_command
from mcproxy.backend.module import CommandOutcome
from mcproxy.wire.types import Reader

if TYPE_CHECKING:
    from mcproxy.backend.server import LimboProtocol

#: The longest chat line a client sends: 100 characters before 1.11, 256 since.
CHAT_MAX_CHARS = 256


class LimboChat:
    """One player's chat and commands."""

    def __init__(self, player: LimboProtocol) -> None:
        self.player = player

    def on_chat_message(self, reader: Reader) -> None:
        self.say(reader.string(CHAT_MAX_CHARS))

    def on_legacy_chat(self, reader: Reader) -> None:
        text = reader.string(CHAT_MAX_CHARS)
        reader.expect_end()
        if text.startswith("/"):
            self.command(text[1:])
        else:
            self.say(text)

    def on_chat_command(self, reader: Reader) -> None:
        self.command(reader.string(32767))

    def say(self, text: str) -> None:
        if not text.strip():
            return
        player = self.player
        player.log.info("<{player}> {message}", player=player.name, message=text)
        if player.probe:
            # An armed smoke bot hears only itself: real players never see it.
            player.message(f"<{player.name}> {text}")
        else:
            player.factory.broadcast(f"<{player.name}> {text}")

    def command(self, line: str) -> None:
        name, _ = split_command(line)
        player = self.player
        factory = player.factory
        if name == "help":
            player.message("Commands: " + ", ".join(
                f"/{command}" for command in factory.command_names()), "gray")
        elif name == "where":
            player.message(f"You are on {factory.settings.server_id} (mcproxy limbo).", "gray")
        elif name == "players":
            names = sorted(p.name for p in factory.players.values() if p.in_play)
            player.message(f"Players online ({len(names)}): {', '.join(names)}", "gray")
        elif factory.module.is_proxy_command(name):
            assert player.uuid is not None
            d = factory.module.execute_command(player.uuid, line.strip().lstrip("/"))
            d.addCallback(self._command_done)
        else:
            player.message(f"Unknown command /{name}. Type /help for help.", "red")

    def _command_done(self, outcome: CommandOutcome) -> None:
        if self.player.in_play and outcome.message:
            self.player.message(outcome.message, None if outcome.ok else "red")


class KeepAlive:
    """The keep-alive a connection is waiting on, and when the next one is due."""

    __slots__ = ("pending", "sent_at", "last")

    def __init__(self, now: float) -> None:
        self.pending: int | None = None
        self.sent_at = 0.0
        self.last = now

    def answered(self, value: int) -> None:
        if value == self.pending:
            self.pending = None

    def overdue(self, now: float, timeout: float) -> bool:
        return self.pending is not None and now - self.sent_at >= timeout

    def next_id(self, now: float, interval: float, mask: int) -> int | None:
        """A new keep-alive id if one is due (none while one is unanswered), else None."""
        if self.pending is not None or now - self.last < interval:
            return None
        self.pending = int(now * 1000) & mask
        self.sent_at = self.last = now
        return self.pending
