"""
Load and validate ``proxy.toml`` and ``backend.toml``.

A bad config must stop the process at start with one line,
``<file>: <dotted.key>: <what is wrong>``, never a traceback and never a
secret's value.  Everything is checked here, once, so the rest of the code can
trust the frozen dataclasses it is given.  Relative paths (secret files, the
favicon, the CA file, the log file) resolve against the folder the config
file is in, so a config directory can be moved as a whole.
"""

from __future__ import annotations

import difflib
import hmac
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import toml
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.internet.testing import MemoryReactor
from twisted.logger import InvalidLogLevelError, LogLevel

__all__ = [
    "AdminSection",
    "BackendConfig",
    "BackendMessagingSection",
    "BackendSection",
    "ConfigError",
    "FORWARDING_MODES",
    "LoggingSection",
    "MessagingSection",
    "MIN_SECRET_BYTES",
    "PluginsSection",
    "ProxyConfig",
    "ProxySection",
    "RateLimitsSection",
    "Secret",
    "SecuritySection",
    "Server",
    "check_config",
    "format_config_error",
    "load_backend_config",
    "load_proxy_config",
]

FORWARDING_MODES = ("none", "legacy", "bungeeguard", "modern")
MIN_SECRET_BYTES = 32
MAX_SECRET_FILE_BYTES = 4096
MAX_FRAME_SIZE = 2097151
# The status response is one protocol string of at most 32767 characters; a
# larger PNG would not fit once base64-encoded beside the MOTD.
MAX_FAVICON_BYTES = 18432
FILE_KEY = "(file)"
# Probing faster than this would only load the backends, not inform /health sooner.
MIN_PROBE_INTERVAL = 0.5
# The backend's admin listener must not collide with the proxy's on one host.
BACKEND_ADMIN_BIND = "tcp:8766:interface=127.0.0.1"

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
_PERMISSION_NODE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_PLAYER_NAME = re.compile(r"[!-~]{1,16}")
_SECRET_NAME = re.compile(r"secret|token|password", re.IGNORECASE)
# "host:port" or "[IPv6]:port"; the port's range is checked separately.
_ADDRESS = re.compile(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})")
_PLACEHOLDERS = (
    "changeme",
    "changethis",
    "replaceme",
    "secret",
    "password",
    "example",
    "proxysecret",
    "default",
    "test",
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _generate_hint(path: str = "") -> str:
    """Tell the operator how to make a good secret rather than just refusing."""
    target = f" > {path}" if path else ""
    return (
        "generate one with: "
        f"python3 -c 'import secrets; print(secrets.token_hex(32))'{target}"
    )


def format_config_error(file: str, key: str, reason: str) -> str:
    """
    The one place the operator-facing error form is defined, so the loader,
    twistd and mcproxyctl print exactly the same line.
    """
    return f"{file}: {key}: {reason}"


class ConfigError(Exception):
    """
    A config that must not be started with; ``str()`` is the one-line
    ``file: key: reason`` message meant for the operator.
    """

    def __init__(self, file: str, key: str, reason: str) -> None:
        super().__init__(file, key, reason)
        self.file = file
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return format_config_error(self.file, self.key, self.reason)


class Secret:
    """
    Key material that cannot leak by being printed, logged or put in a repr.

    Comparison is constant-time so a secret can be checked against another
    without a timing side channel.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError("Secret wants bytes")
        self._value = value

    @property
    def value(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not serialised")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        """Immutable, so a deep copy of a config may share it."""
        return self


@dataclass(frozen=True)
class Server:
    """A backend address from ``[servers]``."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ProxySection:
    """``[proxy]``: the player-facing listener and login behaviour."""

    bind: str = "tcp:25565"
    #: Every player listener; ``bind`` is the first.  ``bind`` may be written as an array
    #: to listen on several endpoints (say plain TCP and a ``haproxy:`` one).
    binds: tuple[str, ...] = ("tcp:25565",)
    motd: str = "A mcproxy network"
    max_players: int = 500
    online_mode: bool = True
    session_server: str = "https://sessionserver.mojang.com"
    session_server_ca_file: str = ""
    compression_threshold: int = 256
    forwarding: str = "modern"
    favicon: str = ""
    favicon_png: bytes = field(default=b"", repr=False)
    accept_transfers: bool = False
    status_passthrough: str = ""
    handshake_timeout: float = 10.0
    login_timeout: float = 30.0
    connect_timeout: float = 5.0
    # Nothing a client sends before login needs more (a cookie response is at most
    # 5 KiB); 2 MiB per unauthenticated connection would let a flood of them
    # hold handshake_concurrent_max * 2 MiB.
    max_frame_size_prelogin: int = 32768

    def __post_init__(self) -> None:
        # Built in code with only ``bind`` given, the section has that one listener.
        if not self.binds or self.binds[0] != self.bind:
            object.__setattr__(self, "binds", (self.bind,))


@dataclass(frozen=True)
class SecuritySection:
    """``[security]``: the secret shared with the backends."""

    proxy_secret: Secret | None = None
    proxy_secret_file: str = ""
    proxy_secret_previous: Secret | None = None
    proxy_secret_previous_file: str = ""


@dataclass(frozen=True)
class MessagingSection:
    """``[messaging]`` on the proxy: the control-plane listener."""

    enabled: bool = True
    bind: str = "tcp:25580:interface=127.0.0.1"
    control_sender_id: str = "proxy"
    control_max_payload: int = 1048576
    control_max_clock_skew: float = 30.0


@dataclass(frozen=True)
class RateLimitsSection:
    """``[rate_limits]``: bounds that keep a flood from exhausting the proxy."""

    handshake_concurrent_max: int = 256
    routing_concurrent_max: int = 256
    connections_per_address_rate: float = 5.0
    connections_per_address_burst: int = 20
    logins_per_address_rate: float = 1.0
    logins_per_address_burst: int = 5


@dataclass(frozen=True)
class AdminSection:
    """``[admin]``: the /health, /status and /metrics listener."""

    bind: str = "tcp:8765:interface=127.0.0.1"
    token: Secret | None = None
    token_file: str = ""
    # Proxy only: seconds between backend reachability probes behind /health.
    probe_interval: float = 10.0


@dataclass(frozen=True)
class LoggingSection:
    """``[logging]``: JSON-lines log destination and threshold."""

    level: str = "info"
    file: str = ""


@dataclass(frozen=True)
class PluginsSection:
    """``[plugins]``: whether third-party proxy plugins load, and which."""

    enabled: bool = False
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProxyConfig:
    """A validated ``proxy.toml``."""

    path: str
    proxy: ProxySection
    security: SecuritySection
    servers: Mapping[str, Server]
    try_order: tuple[str, ...]
    forced_hosts: Mapping[str, tuple[str, ...]]
    motd_by_host: Mapping[str, str]
    permissions: Mapping[str, tuple[str, ...]]
    messaging: MessagingSection
    rate_limits: RateLimitsSection
    admin: AdminSection
    logging: LoggingSection
    plugins: PluginsSection = PluginsSection()


@dataclass(frozen=True)
class BackendSection:
    """``[backend]``: the listener, identity and trust policy of a backend."""

    bind: str = "tcp:25566:interface=127.0.0.1"
    server_id: str = "lobby"
    enforce_proxy: bool = True
    require_authenticated_mode: bool = True
    proxy_secret: Secret | None = None
    proxy_secret_file: str = ""
    proxy_secret_previous: Secret | None = None
    proxy_secret_previous_file: str = ""
    control_expected_sender_id: str = "proxy"
    motd: str = "A mcproxy backend"
    max_players: int = 100
    compression_threshold: int = 256
    spawn: tuple[float, float, float] = (0.5, 64.0, 0.5)


@dataclass(frozen=True)
class BackendMessagingSection:
    """``[messaging]`` on a backend: the control-plane link to the proxy."""

    enabled: bool = True
    proxy: str = "tcp:host=127.0.0.1:port=25580"
    reconnect_max_delay: float = 30.0
    control_max_payload: int = 1048576
    control_max_clock_skew: float = 30.0


@dataclass(frozen=True)
class BackendConfig:
    """A validated ``backend.toml``."""

    path: str
    backend: BackendSection
    messaging: BackendMessagingSection
    admin: AdminSection
    logging: LoggingSection


_PROXY_TABLES = (
    "proxy",
    "security",
    "servers",
    "forced_hosts",
    "motd_by_host",
    "permissions",
    "messaging",
    "rate_limits",
    "admin",
    "logging",
    "plugins",
)
_BACKEND_TABLES = ("backend", "messaging", "admin", "logging")


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
        self, file: str, base: Path, name: str, data: Mapping[str, Any]
    ) -> None:
        self.file = file
        self.base = base
        self.name = name
        self.data = data
        self.seen: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.key(key), reason)

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
            raise self.error(key, f"unknown key{hint}")

    def string(self, key: str, default: str) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_type_name(value)}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(
                key, f"must be a boolean (true or false), not {_type_name(value)}"
            )
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {_type_name(value)}")
        if not low <= value <= high:
            raise self.error(
                key, f"must be between {low} and {high}, not {value}"
            )
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A positive quantity such as a timeout or a rate: ``low < x <= high``."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, not {_type_name(value)}")
        # A plain comparison: NaN and infinities fail it, and a huge TOML
        # integer is compared exactly instead of overflowing a float.
        if not low < value <= high:
            raise self.error(
                key, f"must be greater than {low:g} and at most {high:g}, not {value}"
            )
        return float(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.error(
                key, f"must be one of {', '.join(choices)}, not {value!r}"
            )
        return value

    def name_of(self, key: str, default: str) -> str:
        """An identifier that appears on the wire and in commands."""
        value = self.string(key, default)
        if not _NAME.match(value):
            raise self.error(
                key,
                "must be 1 to 64 letters, digits, '_', '-' or '.', "
                f"not {value!r}",
            )
        return value

    def server_endpoint(self, key: str, default: str, optional: bool = False) -> str:
        value = self.string(key, default)
        if optional and value == "":
            return value
        _check_endpoint(self, key, value, serverFromString, "server")
        return value

    def server_endpoints(self, key: str, default: str) -> tuple[str, ...]:
        """One server endpoint string, or a non-empty array of them."""
        value = self._get(key, default)
        if isinstance(value, str):
            values = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            values = value
        else:
            raise self.error(
                key, f"must be an endpoint string or an array of them, not {_type_name(value)}"
            )
        for item in values:
            _check_endpoint(self, key, item, serverFromString, "server")
        if len(set(values)) != len(values):
            raise self.error(key, "names an endpoint more than once")
        return tuple(values)

    def client_endpoint(self, key: str, default: str) -> str:
        value = self.string(key, default)
        _check_endpoint(self, key, value, clientFromString, "client")
        return value

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
) -> None:
    """
    Parse with Twisted's own parser against a fake reactor, so a string is
    refused now rather than when the service starts, and nothing listens yet.
    """
    if value == "":
        raise table.error(key, f"must be a {kind} endpoint string, not empty")
    try:
        parse(MemoryReactor(), value)
    except Exception as e:
        raise table.error(
            key, f"not a valid Twisted {kind} endpoint {value!r}: {e}"
        )


def _is_placeholder(value: bytes) -> bool:
    """Catch the values people paste from examples instead of generating."""
    text = re.sub(rb"[^a-z0-9]", b"", value.lower()).decode("ascii", "replace")
    for word in _PLACEHOLDERS:
        if text and text == word * (len(text) // len(word)):
            return True
    return False


def _check_strength(table: _Table, key: str, value: bytes) -> None:
    if len(set(value)) <= 1:
        raise table.error(
            key, f"is one character repeated, not a secret; {_generate_hint()}"
        )
    if _is_placeholder(value):
        raise table.error(
            key, f"is a placeholder value, not a secret; {_generate_hint()}"
        )
    if len(value) < MIN_SECRET_BYTES:
        raise table.error(
            key, f"is too short: at least {MIN_SECRET_BYTES} bytes are needed; "
            f"{_generate_hint()}"
        )
    unit = _repeated_unit(value)
    if unit:
        raise table.error(
            key, f"is a {unit}-byte pattern repeated, not a secret; {_generate_hint()}"
        )
    randomness = _randomness_bytes(value)
    if randomness < MIN_SECRET_BYTES:
        raise table.error(
            key, f"holds at most {randomness} bytes of randomness ({_alphabet_note(value)}); "
            f"at least {MIN_SECRET_BYTES} are needed; {_generate_hint()}"
        )


_HEX = frozenset(b"0123456789abcdefABCDEF")


def _repeated_unit(value: bytes) -> int:
    """The length of a unit the whole value repeats (``abcabc...``), or 0."""
    for size in range(2, len(value) // 2 + 1):
        if len(value) % size == 0 and value == value[:size] * (len(value) // size):
            return size
    return 0


def _randomness_bytes(value: bytes) -> int:
    """An upper bound on the randomness of ``value``, in whole bytes.

    Length alone overstates it: 32 hex digits are 32 bytes long but carry 16 bytes of
    randomness. Each character carries at most log2 of the alphabet its character classes
    span (hex: 4 bits; letters, digits and symbols: up to 6.6); non-ASCII data counts 8 bits
    a byte.
    """
    if any(b > 0x7E or b < 0x20 for b in value):
        return len(value)
    if all(b in _HEX for b in value):
        return len(value) * 4 // 8
    alphabet = 0
    text = value.decode("ascii")
    if any(c.isdigit() for c in text):
        alphabet += 10
    if any(c.islower() for c in text):
        alphabet += 26
    if any(c.isupper() for c in text):
        alphabet += 26
    if any(not c.isalnum() for c in text):
        alphabet += 33
    return int(len(value) * math.log2(alphabet) // 8)


def _alphabet_note(value: bytes) -> str:
    if all(b in _HEX for b in value):
        return "hex digits carry 4 bits each"
    return "judged by the characters it uses"


def _secret(table: _Table, key: str) -> tuple[Secret | None, str]:
    """
    Read ``key`` or ``key_file`` into a :class:`Secret`.

    A secret file's surrounding whitespace (the trailing newline of ``echo``)
    is stripped; the rest is used as bytes, exactly as Velocity does with its
    ``forwarding.secret``.
    """
    file_key = f"{key}_file"
    inline = table.string(key, "")
    path = table.path(file_key)
    if inline and path:
        raise table.error(key, f"set either {key} or {file_key}, not both")
    if path:
        value = table.read_file(
            file_key, path, MAX_SECRET_FILE_BYTES, _generate_hint(path)
        ).strip()
        if not value:
            raise table.error(file_key, f"{path} is empty")
        _check_strength(table, file_key, value)
        return Secret(value), path
    if inline:
        value = inline.encode("utf-8")
        _check_strength(table, key, value)
        return Secret(value), ""
    return None, ""


def _rotation(
    table: _Table, current: Secret | None, previous: Secret | None
) -> None:
    if previous is not None and current is None:
        raise table.error(
            "proxy_secret_previous",
            "is set without proxy_secret; the previous secret only verifies "
            "during a rotation",
        )
    if previous is not None and previous == current:
        raise table.error(
            "proxy_secret_previous", "is the same as proxy_secret"
        )


def _favicon(table: _Table) -> tuple[str, bytes]:
    """Check the PNG now, so a bad file fails at start, not on every ping."""
    path = table.path("favicon")
    if not path:
        return "", b""
    data = table.read_file("favicon", path, MAX_FAVICON_BYTES)
    if not data.startswith(_PNG_SIGNATURE):
        raise table.error("favicon", f"{path} is not a PNG file")
    header = data[8:24]
    if len(header) < 16 or header[4:8] != b"IHDR":
        raise table.error("favicon", f"{path} has no PNG IHDR header")
    width, height = struct.unpack(">II", header[8:16])
    if (width, height) != (64, 64):
        raise table.error(
            "favicon", f"{path} is {width}x{height}; it must be 64x64"
        )
    return path, data


def _session_server(table: _Table) -> str:
    value = table.string("session_server", ProxySection.session_server)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise table.error(
            "session_server", f"must be an https:// or http:// URL, not {value!r}"
        )
    return value.rstrip("/")


def _ca_file(table: _Table) -> str:
    path = table.path("session_server_ca_file")
    if path:
        data = table.read_file("session_server_ca_file", path, 1 << 20)
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise table.error(
                "session_server_ca_file", f"{path} holds no PEM certificate"
            )
    return path


def _logging(table: _Table) -> LoggingSection:
    level = table.string("level", LoggingSection.level).lower()
    try:
        LogLevel.levelWithName(level)
    except InvalidLogLevelError:
        names = ", ".join(lvl.name for lvl in LogLevel.iterconstants())
        raise table.error("level", f"must be one of {names}, not {level!r}")
    file = table.path("file")
    table.finish()
    return LoggingSection(level=level, file=file)


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
    for name, value in data.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            what = "section" if isinstance(value, dict) else "top-level key"
            raise ConfigError(file, name, f"unknown {what}{hint}")
        if not isinstance(value, dict):
            raise ConfigError(
                file, name, f"must be a table [{name}], not {_type_name(value)}"
            )
    return {name: _Table(file, base, name, data.get(name, {})) for name in known}


def _proxy_section(t: _Table) -> ProxySection:
    d = ProxySection
    favicon, favicon_png = _favicon(t)
    binds = t.server_endpoints("bind", d.bind)
    section = ProxySection(
        bind=binds[0],
        binds=binds,
        motd=t.string("motd", d.motd),
        max_players=t.integer("max_players", d.max_players, 1, 1_000_000),
        online_mode=t.boolean("online_mode", d.online_mode),
        session_server=_session_server(t),
        session_server_ca_file=_ca_file(t),
        compression_threshold=t.integer(
            "compression_threshold", d.compression_threshold, -1, MAX_FRAME_SIZE
        ),
        forwarding=t.choice("forwarding", d.forwarding, FORWARDING_MODES),
        favicon=favicon,
        favicon_png=favicon_png,
        accept_transfers=t.boolean("accept_transfers", d.accept_transfers),
        status_passthrough=t.string("status_passthrough", d.status_passthrough),
        handshake_timeout=t.number(
            "handshake_timeout", d.handshake_timeout, 0, 300
        ),
        login_timeout=t.number("login_timeout", d.login_timeout, 0, 600),
        connect_timeout=t.number("connect_timeout", d.connect_timeout, 0, 120),
        max_frame_size_prelogin=t.integer(
            "max_frame_size_prelogin", d.max_frame_size_prelogin, 256, MAX_FRAME_SIZE
        ),
    )
    t.finish()
    return section


def _address(t: _Table, name: str, value: object) -> Server:
    if not isinstance(value, str):
        raise t.error(name, f"must be a \"host:port\" string, not {_type_name(value)}")
    match = _ADDRESS.fullmatch(value)
    if match is None:
        raise t.error(name, f"must be \"host:port\", not {value!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise t.error(name, f"port must be between 1 and 65535, not {port}")
    return Server(host=host, port=port)


def _names(
    t: _Table, key: str, value: object, servers: Mapping[str, Server]
) -> tuple[str, ...]:
    """A non-empty list of names, each under [servers]."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise t.error(key, "must be an array of server names")
    if not value:
        raise t.error(key, "must name at least one server")
    for name in value:
        if name not in servers:
            raise t.error(key, f"names {name!r}, which is not defined under [servers]")
    if len(set(value)) != len(value):
        raise t.error(key, "names a server more than once")
    return tuple(value)


def _servers(t: _Table) -> tuple[Mapping[str, Server], tuple[str, ...]]:
    servers: dict[str, Server] = {}
    for name, value in t.data.items():
        if name == "try":
            continue
        _refuse_secret_name(t, name)
        if not _NAME.match(name):
            raise t.error(
                name, "a server name must be 1 to 64 letters, digits, '_', '-' or '.'"
            )
        servers[name] = _address(t, name, value)
    if not servers:
        raise ConfigError(
            t.file,
            "servers",
            'define at least one server, e.g. lobby = "127.0.0.1:25566"',
        )
    if "try" not in t.data:
        raise t.error("try", "is missing: list the servers players join first")
    order = _names(t, "try", t.data["try"], servers)
    return MappingProxyType(servers), order


def _hosts(t: _Table) -> dict[str, object]:
    """Hostnames are matched case-insensitively, as DNS does."""
    hosts: dict[str, object] = {}
    for host, value in t.data.items():
        _refuse_secret_name(t, host)
        normal = host.strip().lower().rstrip(".")
        if not normal:
            raise t.error(host, "a hostname must not be empty")
        if normal in hosts:
            raise t.error(host, f"duplicates hostname {normal!r}")
        hosts[normal] = value
    return hosts


def _forced_hosts(
    t: _Table, servers: Mapping[str, Server]
) -> Mapping[str, tuple[str, ...]]:
    forced = {}
    for host, value in _hosts(t).items():
        forced[host] = _names(t, host, value, servers)
    return MappingProxyType(forced)


def _motd_by_host(t: _Table) -> Mapping[str, str]:
    motds = {}
    for host, value in _hosts(t).items():
        if not isinstance(value, str):
            raise t.error(host, f"must be a string, not {_type_name(value)}")
        motds[host] = value
    return MappingProxyType(motds)


def _permissions(t: _Table) -> Mapping[str, tuple[str, ...]]:
    """
    Permission node -> player names granted it ("*" grants everyone).

    Names are checked as Minecraft names (1 to 16 printable ASCII characters),
    so a typo such as a stray space cannot silently grant nobody.
    """
    granted = {}
    for node, value in t.data.items():
        if not _PERMISSION_NODE.fullmatch(node):
            raise t.error(
                node,
                "a permission node is 1 to 128 letters, digits, '_', '-' or '.'",
            )
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise t.error(node, 'must be an array of player names or "*"')
        for name in value:
            if name != "*" and not _PLAYER_NAME.fullmatch(name):
                raise t.error(
                    node,
                    f"{name!r} is not a player name (1 to 16 printable ASCII "
                    'characters, no spaces) or "*"',
                )
        granted[node] = tuple(value)
    return MappingProxyType(granted)


def _plugins(t: _Table) -> PluginsSection:
    """Plugin names in ``allow`` are checked like server names: they appear in logs."""
    enabled = t.boolean("enabled", PluginsSection.enabled)
    allow = t._get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(n, str) for n in allow):
        raise t.error("allow", "must be an array of plugin names")
    for name in allow:
        if not _NAME.match(name):
            raise t.error(
                "allow",
                f"{name!r} is not a plugin name (1 to 64 letters, digits, '_', '-' or '.')",
            )
    if len(set(allow)) != len(allow):
        raise t.error("allow", "lists a plugin twice")
    t.finish()
    return PluginsSection(enabled=enabled, allow=tuple(allow))


def _control_limits(t: _Table) -> dict[str, Any]:
    return {
        "control_max_payload": t.integer(
            "control_max_payload", MessagingSection.control_max_payload,
            65536, 64 * 1048576,
        ),
        "control_max_clock_skew": t.number(
            "control_max_clock_skew", MessagingSection.control_max_clock_skew,
            0, 3600,
        ),
    }


def _proxy_messaging(t: _Table) -> MessagingSection:
    d = MessagingSection
    section = MessagingSection(
        enabled=t.boolean("enabled", d.enabled),
        bind=t.server_endpoint("bind", d.bind),
        control_sender_id=t.name_of("control_sender_id", d.control_sender_id),
        **_control_limits(t),
    )
    t.finish()
    return section


def _rate_limits(t: _Table) -> RateLimitsSection:
    d = RateLimitsSection
    section = RateLimitsSection(
        handshake_concurrent_max=t.integer(
            "handshake_concurrent_max", d.handshake_concurrent_max, 1, 65536
        ),
        routing_concurrent_max=t.integer(
            "routing_concurrent_max", d.routing_concurrent_max, 1, 65536
        ),
        connections_per_address_rate=t.number(
            "connections_per_address_rate", d.connections_per_address_rate, 0, 10000
        ),
        connections_per_address_burst=t.integer(
            "connections_per_address_burst", d.connections_per_address_burst, 1, 100000
        ),
        logins_per_address_rate=t.number(
            "logins_per_address_rate", d.logins_per_address_rate, 0, 10000
        ),
        logins_per_address_burst=t.integer(
            "logins_per_address_burst", d.logins_per_address_burst, 1, 100000
        ),
    )
    t.finish()
    return section


def _admin_section(t: _Table, default_bind: str, probes: bool = False) -> AdminSection:
    """``probes``: the proxy probes its backends; a backend has no probe_interval key."""
    bind = t.server_endpoint("bind", default_bind, optional=True)
    token, token_file = _secret(t, "token")
    interval = AdminSection.probe_interval
    if probes:
        interval = t.number("probe_interval", interval, 0, 3600)
        if interval < MIN_PROBE_INTERVAL:
            raise t.error(
                "probe_interval",
                f"must be at least {MIN_PROBE_INTERVAL:g} seconds, not {interval:g}",
            )
    t.finish()
    return AdminSection(bind=bind, token=token, token_file=token_file, probe_interval=interval)


def _require_secret(
    table: _Table, secret: Secret | None, needs: list[str]
) -> None:
    """Name what needs the secret, so the operator knows why it is asked for."""
    if secret is None and needs:
        raise table.error(
            "proxy_secret",
            f"a secret is required because {' and '.join(needs)}; "
            f"set proxy_secret or proxy_secret_file ({_generate_hint()})",
        )


def _security(
    t: _Table, proxy: ProxySection, messaging: MessagingSection
) -> SecuritySection:
    secret, secret_file = _secret(t, "proxy_secret")
    previous, previous_file = _secret(t, "proxy_secret_previous")
    t.finish()
    _rotation(t, secret, previous)
    needs = []
    if proxy.forwarding in ("modern", "bungeeguard"):
        needs.append(f"forwarding = {proxy.forwarding!r}")
    if messaging.enabled:
        needs.append("messaging is enabled")
    _require_secret(t, secret, needs)
    return SecuritySection(
        proxy_secret=secret,
        proxy_secret_file=secret_file,
        proxy_secret_previous=previous,
        proxy_secret_previous_file=previous_file,
    )


def _build_proxy(file: str, base: Path, data: Mapping[str, Any]) -> ProxyConfig:
    """Section by section, then the checks that span sections."""
    if "proxy" not in data:
        raise ConfigError(
            file, "proxy", "missing table: a proxy config starts with [proxy]"
        )
    t = _tables(file, base, data, _PROXY_TABLES)
    proxy = _proxy_section(t["proxy"])
    servers, try_order = _servers(t["servers"])
    forced_hosts = _forced_hosts(t["forced_hosts"], servers)
    motd_by_host = _motd_by_host(t["motd_by_host"])
    permissions = _permissions(t["permissions"])
    messaging = _proxy_messaging(t["messaging"])
    rate_limits = _rate_limits(t["rate_limits"])
    admin = _admin_section(t["admin"], AdminSection.bind, probes=True)
    logging = _logging(t["logging"])
    plugins = _plugins(t["plugins"])

    security = _security(t["security"], proxy, messaging)
    if proxy.status_passthrough and proxy.status_passthrough not in servers:
        raise t["proxy"].error(
            "status_passthrough",
            f"names {proxy.status_passthrough!r}, which is not defined under [servers]",
        )
    if messaging.control_sender_id in servers:
        raise t["messaging"].error(
            "control_sender_id",
            f"{messaging.control_sender_id!r} is also a server name under "
            "[servers]; the proxy's sender id must differ from every backend's",
        )
    return ProxyConfig(
        path=file,
        proxy=proxy,
        security=security,
        servers=servers,
        try_order=try_order,
        forced_hosts=forced_hosts,
        motd_by_host=motd_by_host,
        permissions=permissions,
        messaging=messaging,
        rate_limits=rate_limits,
        admin=admin,
        logging=logging,
        plugins=plugins,
    )


def _spawn(t: _Table) -> tuple[float, float, float]:
    value = t._get("spawn", list(BackendSection.spawn))
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
    ):
        raise t.error("spawn", "must be an array of three numbers [x, y, z]")
    if not all(abs(v) <= 30_000_000 for v in value):
        raise t.error(
            "spawn", "coordinates must be within the world border (±30000000)"
        )
    x, y, z = (float(v) for v in value)
    return (x, y, z)


def _backend_section(t: _Table) -> BackendSection:
    d = BackendSection
    secret, secret_file = _secret(t, "proxy_secret")
    previous, previous_file = _secret(t, "proxy_secret_previous")
    _rotation(t, secret, previous)
    section = BackendSection(
        bind=t.server_endpoint("bind", d.bind),
        server_id=t.name_of("server_id", d.server_id),
        enforce_proxy=t.boolean("enforce_proxy", d.enforce_proxy),
        require_authenticated_mode=t.boolean(
            "require_authenticated_mode", d.require_authenticated_mode
        ),
        proxy_secret=secret,
        proxy_secret_file=secret_file,
        proxy_secret_previous=previous,
        proxy_secret_previous_file=previous_file,
        control_expected_sender_id=t.name_of(
            "control_expected_sender_id", d.control_expected_sender_id
        ),
        motd=t.string("motd", d.motd),
        max_players=t.integer("max_players", d.max_players, 1, 1_000_000),
        compression_threshold=t.integer(
            "compression_threshold", d.compression_threshold, -1, MAX_FRAME_SIZE
        ),
        spawn=_spawn(t),
    )
    t.finish()
    if section.control_expected_sender_id == section.server_id:
        raise t.error(
            "control_expected_sender_id",
            f"{section.server_id!r} is this backend's own server_id; "
            "it must be the proxy's control_sender_id",
        )
    return section


def _backend_messaging(t: _Table) -> BackendMessagingSection:
    d = BackendMessagingSection
    section = BackendMessagingSection(
        enabled=t.boolean("enabled", d.enabled),
        proxy=t.client_endpoint("proxy", d.proxy),
        reconnect_max_delay=t.number(
            "reconnect_max_delay", d.reconnect_max_delay, 0, 3600
        ),
        **_control_limits(t),
    )
    t.finish()
    return section


def _build_backend(file: str, base: Path, data: Mapping[str, Any]) -> BackendConfig:
    if "backend" not in data:
        raise ConfigError(
            file, "backend", "missing table: a backend config starts with [backend]"
        )
    t = _tables(file, base, data, _BACKEND_TABLES)
    backend = _backend_section(t["backend"])
    messaging = _backend_messaging(t["messaging"])
    admin = _admin_section(t["admin"], BACKEND_ADMIN_BIND)
    logging = _logging(t["logging"])
    needs = []
    if backend.enforce_proxy:
        needs.append("enforce_proxy = true")
    if messaging.enabled:
        needs.append("messaging is enabled")
    _require_secret(t["backend"], backend.proxy_secret, needs)
    return BackendConfig(
        path=file, backend=backend, messaging=messaging, admin=admin, logging=logging
    )


def load_proxy_config(path: str | os.PathLike[str]) -> ProxyConfig:
    """Load and validate a ``proxy.toml``; raise :class:`ConfigError` if bad."""
    return _build_proxy(*_read_toml(path))


def load_backend_config(path: str | os.PathLike[str]) -> BackendConfig:
    """Load and validate a ``backend.toml``; raise :class:`ConfigError` if bad."""
    return _build_backend(*_read_toml(path))


def check_config(path: str | os.PathLike[str]) -> ProxyConfig | BackendConfig:
    """
    Validate a config of either kind, told apart by its ``[proxy]`` or
    ``[backend]`` table, so one ``mcproxyctl`` command checks any file.
    """
    file, base, data = _read_toml(path)
    if "proxy" in data and "backend" in data:
        raise ConfigError(
            file, FILE_KEY, "has both [proxy] and [backend]; use one file for each"
        )
    if "proxy" in data:
        return _build_proxy(file, base, data)
    if "backend" in data:
        return _build_backend(file, base, data)
    raise ConfigError(
        file,
        FILE_KEY,
        "is neither a proxy config ([proxy]) nor a backend config ([backend])",
    )
