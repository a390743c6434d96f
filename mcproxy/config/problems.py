"""
Every mistake of one config file, reported together and in file order.

A reader that can stand a default in for a bad value records the mistake and
goes on; a check that cannot go on raises, and the raise ends the file's
checks. Either way the operator sees all that was found in one start, not one
mistake per restart.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, TypeVar

from mcproxy.config.schema import ConfigError

T = TypeVar("T")


class Problems:
    """The mistakes found in one parsed file, ordered as the file lists them."""

    def __init__(self, file: str, data: Mapping[str, Any]) -> None:
        self.file = file
        self.data = data
        self._errors: list[ConfigError] = []

    def __bool__(self) -> bool:
        return bool(self._errors)

    def add(self, error: ConfigError) -> None:
        for one in error.errors:
            if not any((e.key, e.reason) == (one.key, one.reason) for e in self._errors):
                self._errors.append(one)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Record a :class:`ConfigError` raised inside instead of letting it out."""
        try:
            yield
        except ConfigError as error:
            self.add(error)

    def section(self, read: Callable[..., T], *args: Any) -> T | None:
        """``read(*args)``, or ``None`` once it raised (its error is recorded), so the
        next section is still checked."""
        with self.collecting():
            return read(*args)
        return None

    def check(self) -> None:
        """Raise every recorded mistake as one :class:`ConfigError`, in file order."""
        if self._errors:
            raise ConfigError.all_of(sorted(self._errors, key=self._position))

    def _position(self, error: ConfigError) -> tuple[float, ...]:
        """Where ``error.key`` sits in the file: TOML tables keep their keys in the
        order written. A key the file does not have (a missing one) goes after its
        table's keys, and so does an error about a whole table."""
        ranks: list[float] = []
        node: Any = self.data
        for part in error.key.split("."):
            if not isinstance(node, Mapping):
                break
            names = list(node)
            if part not in node:
                ranks.append(float(len(names)))
                break
            ranks.append(float(names.index(part)))
            node = node[part]
        return tuple(ranks) + (math.inf,) * max(0, 4 - len(ranks))
