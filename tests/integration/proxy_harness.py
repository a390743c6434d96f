"""A real :class:`~mcproxy.proxy.service.ProxyProcess` in trial's reactor, from a config file
written to a temporary folder, listening on ports the kernel picked."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.logger import Logger

from mcproxy.config import load_proxy_config
from mcproxy.proxy.service import ProxyProcess
from tests.integration.harness import free_port

PROXY_TOML = """\
[proxy]
bind = {bind}
motd = "{motd}"
max_players = {max_players}
online_mode = false
forwarding = "none"
favicon = "icon.png"
handshake_timeout = {handshake_timeout}
{extra_proxy}

[servers]
lobby = "127.0.0.1:{backend_port}"
try = ["lobby"]

[motd_by_host]
"pvp.example.com" = "PvP MOTD"

[messaging]
enabled = false

[rate_limits]
{rate_limits}

[admin]
bind = "tcp:0:interface=127.0.0.1"
"""


def scratch_folder(test: Any) -> Path:
    """A temporary folder removed at cleanup (trial's ``mktemp`` would leave folders in
    the working directory when pytest runs the tests)."""
    folder = Path(tempfile.mkdtemp(prefix="mcproxy-test-"))
    test.addCleanup(shutil.rmtree, folder, True)
    return folder


@defer.inlineCallbacks
def run_proxy(test: Any, path: Path | str):
    """The proxy of the config at ``path``, started in this reactor and stopped at ``test``'s
    cleanup, once its game listener is bound. Configs bind it to port 0 (``game_port`` reads
    the port back): a port the kernel picks as it binds cannot be taken by anyone first."""
    process = ProxyProcess(load_proxy_config(path), reactor)
    process.privilegedStartService()
    process.startService()
    test.addCleanup(process.stopService)
    yield process.game.when_bound()
    return process


def game_port(process: ProxyProcess) -> int:
    return process.game.port.getHost().port


def make_png(width: int = 64, height: int = 64) -> bytes:
    """A valid grey PNG, made here so no binary lives in the repository."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


class RunningProxy:
    """The process, its game and admin ports, and every log event it emitted."""

    def __init__(self, process: ProxyProcess, events: list[dict]) -> None:
        self.process = process
        self.events = events

    @property
    def port(self) -> int:
        return self.process.game.port.getHost().port

    def listener_port(self, index: int) -> int:
        return self.process.listeners[index].port.getHost().port

    @property
    def admin_port(self) -> int:
        return self.process.getServiceNamed("admin").port.getHost().port

    def refusals(self) -> list[dict]:
        return [e for e in self.events if e.get("log_format", "").startswith("refused")]


@defer.inlineCallbacks
def start_proxy(test: Any, bind: str | list[str] = "tcp:0:interface=127.0.0.1", motd: str = "Front door test",
                max_players: int = 321, handshake_timeout: float = 10.0, extra_proxy: str = "",
                rate_limits: str = "", backend_port: int | None = None):
    """Start a proxy for ``test`` (a trial ``TestCase``) and stop it at cleanup."""
    folder = scratch_folder(test)
    (folder / "icon.png").write_bytes(make_png())
    path = folder / "proxy.toml"
    path.write_text(PROXY_TOML.format(
        bind=json.dumps(bind), motd=motd, max_players=max_players, handshake_timeout=handshake_timeout,
        extra_proxy=extra_proxy, rate_limits=rate_limits,
        backend_port=backend_port or free_port()))
    events: list[dict] = []
    process = ProxyProcess(load_proxy_config(path), reactor, log=Logger(observer=events.append))
    process.privilegedStartService()
    process.startService()
    test.addCleanup(process.stopService)
    for listener in process.listeners:
        yield listener.when_bound()
    yield process.getServiceNamed("admin").when_bound()
    return RunningProxy(process, events)

