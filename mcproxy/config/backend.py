"""``backend.toml``: the backend-mod's listener, trust policy and control link."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mcproxy.config.common import _admin_section, _control_limits, _logging
from mcproxy.config.reader import _Table, _tables
from mcproxy.config.schema import (
    BACKEND_ADMIN_BIND, BackendConfig, BackendMessagingSection, BackendSection, ConfigError,
)
from mcproxy.config.secrets import _require_secret, _rotation, _secret
from mcproxy.wire.forwarding import BACKEND_FORWARDING_MODES
from mcproxy.wire.framing import MAX_FRAME_SIZE


_BACKEND_TABLES = ("backend", "messaging", "admin", "logging")


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
        forwarding=t.choice("forwarding", d.forwarding, BACKEND_FORWARDING_MODES),
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
    problems = t["backend"].problems
    backend = problems.section(_backend_section, t["backend"])
    messaging = problems.section(_backend_messaging, t["messaging"])
    admin = problems.section(_admin_section, t["admin"], BACKEND_ADMIN_BIND)
    logging = problems.section(_logging, t["logging"])
    if not problems:
        needs = []
        if backend.enforce_proxy and backend.forwarding != "legacy":
            needs.append("enforce_proxy = true")
        if messaging.enabled:
            needs.append("messaging is enabled")
        with problems.collecting():
            _require_secret(t["backend"], backend.proxy_secret, needs)
    problems.check()
    return BackendConfig(
        path=file, backend=backend, messaging=messaging, admin=admin, logging=logging
    )
