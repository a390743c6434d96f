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

import os

from mcproxy.config.backend import _build_backend
from mcproxy.config.proxy import _build_proxy
from mcproxy.config.reader import _read_toml
from mcproxy.config.schema import (
    FILE_KEY,
    MIN_SECRET_BYTES,
    AdminSection,
    BackendConfig,
    BackendMessagingSection,
    BackendSection,
    ClusterSection,
    ConfigError,
    LoggingSection,
    MessagingSection,
    PluginsSection,
    ProxyConfig,
    ProxySection,
    QuerySection,
    RateLimitsSection,
    Secret,
    SecuritySection,
    Server,
    format_config_error,
)
from mcproxy.wire.forwarding import FORWARDING_MODES
from mcproxy.wire.framing import MAX_FRAME_SIZE

__all__ = [
    "AdminSection",
    "BackendConfig",
    "BackendMessagingSection",
    "BackendSection",
    "ClusterSection",
    "ConfigError",
    "FORWARDING_MODES",
    "LoggingSection",
    "MessagingSection",
    "MAX_FRAME_SIZE",
    "MIN_SECRET_BYTES",
    "PluginsSection",
    "ProxyConfig",
    "ProxySection",
    "QuerySection",
    "RateLimitsSection",
    "Secret",
    "SecuritySection",
    "Server",
    "check_config",
    "format_config_error",
    "load_backend_config",
    "load_proxy_config",
]


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
