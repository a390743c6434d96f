"""
twistd command-line options for the ``mcproxy`` and ``mcbackend`` plugins.

The config is loaded and validated in ``postOptions``: twistd turns a
``UsageError`` into its message and exit status 1, so a bad config stops the
process with the loader's one-line ``file: key: reason`` and no traceback.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.python import usage

from mcproxy.config import (
    BackendConfig,
    ConfigError,
    ProxyConfig,
    load_backend_config,
    load_proxy_config,
)

__all__ = ["BackendOptions", "ProxyOptions"]


class _ConfigOptions(usage.Options):
    """Shared ``-c/--config`` handling; subclasses name the file and loader."""

    loader: Callable[[str], Any]

    def postOptions(self) -> None:
        try:
            self["config_obj"] = type(self).loader(self["config"])
        except ConfigError as e:
            raise usage.UsageError(str(e)) from None


class ProxyOptions(_ConfigOptions):
    """Options of ``twistd mcproxy``; ``self["config_obj"]`` is a ProxyConfig."""

    synopsis = "[-c proxy.toml]"
    optParameters = [
        ["config", "c", "proxy.toml", "Path to the proxy's TOML config."],
    ]
    loader = staticmethod(load_proxy_config)

    @property
    def config(self) -> ProxyConfig:
        """The validated config, once options are parsed."""
        config: ProxyConfig = self["config_obj"]
        return config


class BackendOptions(_ConfigOptions):
    """Options of ``twistd mcbackend``; ``self["config_obj"]`` is a BackendConfig."""

    synopsis = "[-c backend.toml]"
    optParameters = [
        ["config", "c", "backend.toml", "Path to the backend's TOML config."],
    ]
    loader = staticmethod(load_backend_config)

    @property
    def config(self) -> BackendConfig:
        """The validated config, once options are parsed."""
        config: BackendConfig = self["config_obj"]
        return config
