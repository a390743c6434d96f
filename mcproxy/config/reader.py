"""
Reading TOML into typed values: the parsed file, and one table at a time.

Every read remembers its key, so what nobody read is reported as unknown. A
typed read that fails records the mistake with the file's other problems and
returns the default in its place, so the checks go on to find the next one.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import toml
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import MemoryReactor

from mcproxy.config.problems import Problems
from mcproxy.config.schema import FILE_KEY, ConfigError


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


_SECRET_NAME = re.compile(r"secret|token|password", re.IGNORECASE)


def _type_name(value: object) -> str:
    """Name a TOML value's type without showing the value (it may be secret)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


class _Table:
    """
    Typed reads from one TOML table that remember which keys were used, so
    anything left over is reported as unknown rather than silently ignored.
    """

    def __init__(
        self, file: str, base: Path, name: str, data: Mapping[str, Any],
        problems: Problems | None = None,
    ) -> None:
        self.file = file
        self.base = base
        self.name = name
        self.data = data
        self.seen: set[str] = set()
        #: Shared by a file's tables; a table read on its own (None) raises at its first mistake.
        self.problems = problems

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def error(self, key: str, reason: str) -> ConfigError:
        """The error to raise where the checks cannot go on past it."""
        return ConfigError(self.file, self.key(key), reason)

    def report(self, key: str, reason: str, substitute: Any = None) -> Any:
        """Record a mistake and go on with ``substitute`` in the bad value's place."""
        if self.problems is None:
            raise self.error(key, reason)
        self.problems.add(self.error(key, reason))
        return substitute

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def finish(self) -> None:
        """Refuse keys nobody read: a typo must not silently mean a default."""
        for key in self.data:
            if key in self.seen:
                continue
            close = difflib.get_close_matches(key, sorted(self.seen), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.report(key, f"unknown key{hint}")

    def string(self, key: str, default: str) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            return self.report(key, f"must be a string, not {_type_name(value)}", default)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            return self.report(
                key, f"must be a boolean (true or false), not {_type_name(value)}", default
            )
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            return self.report(key, f"must be an integer, not {_type_name(value)}", default)
        if not low <= value <= high:
            return self.report(
                key, f"must be between {low} and {high}, not {value}", default
            )
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A positive quantity such as a timeout or a rate: ``low < x <= high``."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.report(key, f"must be a number, not {_type_name(value)}", float(default))
        # A plain comparison: NaN and infinities fail it, and a huge TOML
        # integer is compared exactly instead of overflowing a float.
        if not low < value <= high:
            return self.report(
                key, f"must be greater than {low:g} and at most {high:g}, not {value}",
                float(default),
            )
        return float(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            return self.report(
                key, f"must be one of {', '.join(choices)}, not {value!r}", default
            )
        return value

    def name_of(self, key: str, default: str) -> str:
        """An identifier that appears on the wire and in commands."""
        value = self.string(key, default)
        if not _NAME.match(value):
            return self.report(
                key,
                "must be 1 to 64 letters, digits, '_', '-' or '.', "
                f"not {value!r}",
                default,
            )
        return value

    def server_endpoint(self, key: str, default: str, optional: bool = False) -> str:
        value = self.string(key, default)
        if optional and value == "":
            return value
        return value if _check_endpoint(self, key, value, serverFromString, "server") else default

    def server_endpoints(self, key: str, default: str) -> tuple[str, ...]:
        """One server endpoint string, or a non-empty array of them."""
        value = self._get(key, default)
        if isinstance(value, str):
            values = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            values = value
        else:
            return self.report(
                key, f"must be an endpoint string or an array of them, not {_type_name(value)}",
                (default,),
            )
        if not all([_check_endpoint(self, key, item, serverFromString, "server") for item in values]):
            return (default,)
        if len(set(values)) != len(values):
            return self.report(key, "names an endpoint more than once", tuple(dict.fromkeys(values)))
        return tuple(values)

    def client_endpoint(self, key: str, default: str) -> str:
        value = self.string(key, default)
        return value if _check_endpoint(self, key, value, clientFromString, "client") else default

    def path(self, key: str, default: str = "") -> str:
        """A path, resolved against the config file's folder; "" stays ""."""
        value = self.string(key, default)
        if value == "":
            return ""
        try:
            expanded = Path(value).expanduser()
        except RuntimeError:
            raise self.error(key, f"cannot expand ~ in {value!r}: no such user")
        return str(self.base / expanded)

    def read_file(self, key: str, path: str, limit: int, hint: str = "") -> bytes:
        if "\0" in path:
            raise self.error(key, "a path cannot contain a NUL character")
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as e:
            more = f"; {hint}" if hint and isinstance(e, FileNotFoundError) else ""
            raise self.error(key, f"cannot read {path}: {e.strerror or e}{more}")
        if len(data) > limit:
            raise self.error(key, f"{path} is larger than {limit} bytes")
        return data


def _check_endpoint(
    table: _Table,
    key: str,
    value: str,
    parse: Callable[[Any, str], Any],
    kind: str,
) -> bool:
    """
    Parse with Twisted's own parser against a fake reactor, so a string is
    refused now rather than when the service starts, and nothing listens yet.
    """
    if value == "":
        return table.report(key, f"must be a {kind} endpoint string, not empty", False)
    try:
        parse(MemoryReactor(), value)
    except Exception as e:
        return table.report(
            key, f"not a valid Twisted {kind} endpoint {value!r}: {e}", False
        )
    return True


def _toml_reason(message: str) -> str:
    """
    The parser's complaint without the text it quotes: some of its messages
    embed the offending characters or even the whole parsed document, which
    may hold a secret.
    """
    twice = re.match(r"What\? (.+?) already exists\?", message)
    if twice:
        return f"table [{twice.group(1)}] is defined more than once"
    return re.split(r"[:'{]", message, maxsplit=1)[0].strip().rstrip(".")


def _refuse_secret_name(t: _Table, name: str) -> None:
    """
    A secret written below the wrong table header lands in [servers] or a
    host table, whose errors would show the value: refuse it by name first.
    """
    if "." not in name and _SECRET_NAME.search(name):
        raise t.error(
            name,
            "looks like a secret, which belongs under [security]; "
            "check the table headers above it",
        )


def _read_toml(path: str | os.PathLike[str]) -> tuple[str, Path, dict[str, Any]]:
    """The parsed document, the name errors show, and the folder paths resolve in."""
    file = os.fspath(path)
    if "\0" in file:
        raise ConfigError(file, FILE_KEY, "a path cannot contain a NUL character")
    try:
        # utf-8-sig: editors on Windows like to start files with a BOM.
        with open(file, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as e:
        raise ConfigError(file, FILE_KEY, f"cannot read: {e.strerror or e}")
    except UnicodeDecodeError:
        raise ConfigError(file, FILE_KEY, "is not UTF-8 text")
    try:
        data = toml.loads(text)
    except toml.TomlDecodeError as e:
        raise ConfigError(
            file,
            f"line {e.lineno}",
            f"invalid TOML: {_toml_reason(e.msg)} (column {e.colno})",
        )
    except Exception:
        # toml 0.10 fails on some malformed input (".=5") with a bare
        # IndexError; it must still be one line, not a traceback.
        raise ConfigError(file, FILE_KEY, "invalid TOML")
    return file, Path(file).absolute().parent, data


def _tables(
    file: str, base: Path, data: Mapping[str, Any], known: tuple[str, ...]
) -> dict[str, _Table]:
    """One reader per known table, sharing the file's :class:`Problems`; an
    unknown or malformed table is recorded there and read as empty."""
    problems = Problems(file, data)
    for name, value in data.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            what = "section" if isinstance(value, dict) else "top-level key"
            problems.add(ConfigError(file, name, f"unknown {what}{hint}"))
        elif not isinstance(value, dict):
            problems.add(ConfigError(
                file, name, f"must be a table [{name}], not {_type_name(value)}"
            ))
    return {
        name: _Table(file, base, name, _as_table(data.get(name, {})), problems)
        for name in known
    }


def _as_table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
