"""Outcomes of bridged requests, shared by both sides and their fakes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TransferResult:
    """Whether a player was moved, and if not, why (free text for operators)."""

    done: bool
    reason: str = ""


@dataclass(frozen=True)
class CommandResult:
    """Whether a proxy command ran, and what it said back to the player."""

    ok: bool
    output: str = ""
