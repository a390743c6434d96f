"""The nearest subcommand for a mistyped one: ``mcproxyctl helth`` says what was meant
instead of listing every choice."""

from __future__ import annotations

import argparse
import difflib
from typing import Sequence

#: Top-level options that take a value, so the value is not mistaken for the command.
_VALUED = ("-c", "--config", "--worker")


def unknown_command(argv: Sequence[str], parser: argparse.ArgumentParser) -> str | None:
    """The complaint for ``argv``'s command when no subcommand has that name, else ``None``
    (argparse then reports anything else wrong as usual)."""
    names = _commands(parser)
    words = iter(argv)
    for word in words:
        if word in _VALUED:
            next(words, None)
            continue
        if word.startswith("-"):
            continue
        if word in names:
            return None
        close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown command {word!r}{hint}; 'mcproxyctl --help' lists them"
    return None


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []
