"""The proxy's command registry and its canonical snapshot encoding.

The snapshot payload is the canonical JSON of the commands; its SHA-256 is the
registry digest, so a backend that reassembles the chunks verifies the whole
by recomputing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zope.interface import implementer

from mcproxy.interfaces import ICommandRegistry


@dataclass(frozen=True)
class CommandSpec:
    """What a backend needs to know about one proxy command."""

    name: str
    description: str = ""
    usage: str = ""
    permission: str = ""
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"invalid command name {self.name!r}")
        object.__setattr__(self, "aliases", tuple(sorted(set(self.aliases))))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "usage": self.usage,
            "permission": self.permission,
            "aliases": list(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandSpec:
        aliases = data.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ValueError("aliases must be a list of strings")
        values = {k: data.get(k, "") for k in ("name", "description", "usage", "permission")}
        if not all(isinstance(v, str) for v in values.values()):
            raise ValueError("command fields must be strings")
        return cls(aliases=tuple(aliases), **values)


def specs_from(commands: Iterable[Any]) -> list[CommandSpec]:
    """Describe any command objects with C{name}, C{description}, C{usage},
    C{permission} (and optionally C{aliases}) attributes, e.g. the proxy's own
    command table, without the registry depending on where they live."""
    return [
        CommandSpec(
            name=c.name,
            description=getattr(c, "description", "") or "",
            usage=getattr(c, "usage", "") or "",
            permission=getattr(c, "permission", "") or "",
            aliases=tuple(getattr(c, "aliases", ()) or ()),
        )
        for c in commands
    ]


def encode_commands(commands: Iterable[CommandSpec]) -> bytes:
    """Canonical JSON: sorted by name, sorted keys, no spaces, UTF-8."""
    ordered = sorted(commands, key=lambda c: c.name)
    return json.dumps(
        [c.as_dict() for c in ordered],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def decode_commands(payload: bytes) -> tuple[CommandSpec, ...]:
    """Parse a snapshot payload; ValueError if it is not a list of commands."""
    data = json.loads(payload.decode("utf-8"))
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError("a snapshot is a list of command objects")
    return tuple(CommandSpec.from_dict(d) for d in data)


def payload_digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def split_chunks(payload: bytes, chunk_size: int) -> list[bytes]:
    """At least one chunk, each at most C{chunk_size} bytes."""
    if chunk_size < 1:
        raise ValueError("chunk size must be positive")
    return [payload[i : i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]


def command_name(command_line: str) -> str:
    """The command a line invokes: its first word, without a leading slash."""
    words = command_line.strip().split(None, 1)
    return words[0].lstrip("/") if words else ""


def find_command(commands: Iterable[CommandSpec], name: str) -> CommandSpec | None:
    """Look a command up by name or alias, case-insensitively like chat commands."""
    wanted = name.lower()
    for spec in commands:
        if spec.name.lower() == wanted or wanted in (a.lower() for a in spec.aliases):
            return spec
    return None


@implementer(ICommandRegistry)
class CommandRegistry:
    """Proxy commands by name, with a serial that grows on every change.

    The serial must never go backwards across restarts (backends refuse an
    older one as REPLAYED_SNAPSHOT), so a process seeds it with wall-clock
    milliseconds; see L{seeded_from}.
    """

    def __init__(self, commands: Iterable[CommandSpec] = (), initial_serial: int = 0) -> None:
        self._commands: dict[str, CommandSpec] = {c.name: c for c in commands}
        self._serial = initial_serial
        self._subscribers: list[Callable[[], None]] = []
        self._refresh()

    @classmethod
    def seeded_from(cls, seconds: float, commands: Iterable[CommandSpec] = ()) -> CommandRegistry:
        """A registry whose serial starts at C{seconds} in milliseconds."""
        return cls(commands, initial_serial=int(seconds * 1000))

    def _refresh(self) -> None:
        self._payload = encode_commands(self._commands.values())
        self._digest = payload_digest(self._payload)

    @property
    def serial(self) -> int:
        return self._serial

    @property
    def digest(self) -> str:
        return self._digest

    def snapshot(self) -> list[CommandSpec]:
        return sorted(self._commands.values(), key=lambda c: c.name)

    def encoded(self) -> bytes:
        return self._payload

    def lookup(self, name: str) -> CommandSpec | None:
        return find_command(self._commands.values(), name)

    def register(self, spec: CommandSpec) -> None:
        """Add or replace one command."""
        if self._commands.get(spec.name) == spec:
            return
        self._commands[spec.name] = spec
        self._changed()

    def unregister(self, name: str) -> None:
        if self._commands.pop(name, None) is not None:
            self._changed()

    def replace_all(self, commands: Iterable[CommandSpec]) -> None:
        new = {c.name: c for c in commands}
        if new != self._commands:
            self._commands = new
            self._changed()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call C{callback} after each change; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _changed(self) -> None:
        self._serial += 1
        self._refresh()
        for callback in list(self._subscribers):
            callback()
