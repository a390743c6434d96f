"""Proxy commands run by an operator from the shell, over the admin listener."""

from __future__ import annotations

from typing import Callable

from twisted.internet import defer
from twisted.logger import Logger

from mcproxy.ops.admin import ActionError

#: Longest command line accepted, as for a chat command.
MAX_LINE = 32767


class Console:
    """The operator at the shell: may run every command, and what commands say back
    is collected for the answer."""

    server = None
    correlation_id = ""

    def __init__(self) -> None:
        self.output: list[str] = []

    def send_system_message(self, text: str) -> None:
        self.output.append(text)

    def switch_to(self, name: str) -> defer.Deferred:
        return defer.fail(ValueError("The console is not a player and cannot switch servers."))


def command_action(dispatcher, log: Logger) -> Callable[[dict], dict]:
    """The ``command`` admin action: ``{"line": "/alert ..."}`` runs as the console."""

    def run(body: dict) -> dict:
        line = body.get("line")
        if not isinstance(line, str) or not line.strip():
            raise ActionError('body must be {"line": "/command args..."}')
        if len(line) > MAX_LINE:
            raise ActionError(f"a command line is at most {MAX_LINE} characters")
        line = line.strip().removeprefix("/")
        console = Console()
        name = line.split()[0] if line.split() else ""
        if not dispatcher.dispatch(console, line):
            raise ActionError(f"unknown proxy command: /{name[:64]}", code=404)
        log.info("console ran proxy command /{command}", command=name)
        return {"command": name, "output": console.output}

    return run
