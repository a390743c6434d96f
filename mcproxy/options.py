"""
twistd command-line options for the ``mcproxy`` and ``mcbackend`` plugins.

The config is loaded and validated in ``postOptions``. A bad config stops the
process with exit status 1 and the loader's ``file: key: reason`` lines on
stderr, and nothing else: twistd would print its whole usage text ahead of a
``UsageError``, burying the one line that matters.
"""

from __future__ import annotations

import sys
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
    plugin = "twistd"

    def postOptions(self) -> None:
        try:
            self["config_obj"] = type(self).loader(self["config"])
        except ConfigError as e:
            for line in str(e).splitlines():
                print(f"twistd {self.plugin}: {line}", file=sys.stderr)
            raise SystemExit(1) from None


class ProxyOptions(_ConfigOptions):
    """Options of ``twistd mcproxy``; ``self["config_obj"]`` is a ProxyConfig."""

    synopsis = "[-c proxy.toml]"
    optParameters = [
        ["config", "c", "proxy.toml", "Path to the proxy's TOML config."],
    ]
    optParameters += [
        ["worker", None, None, "Run as worker k/N of [proxy] workers (the supervisor passes this)."],
        ["restarts", None, "0", "Times the supervisor restarted this worker's slot before."],
    ]
    loader = staticmethod(load_proxy_config)
    plugin = "mcproxy"

    def postOptions(self) -> None:
        super().postOptions()
        self["slot"] = None
        if self["worker"] is not None:
            from mcproxy.proxy.worker import parse_slot
            try:
                self["slot"] = parse_slot(self["worker"], int(self["restarts"]))
            except ValueError as error:
                raise usage.UsageError(str(error)) from None

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
    plugin = "mcbackend"

    @property
    def config(self) -> BackendConfig:
        """The validated config, once options are parsed."""
        config: BackendConfig = self["config_obj"]
        return config
