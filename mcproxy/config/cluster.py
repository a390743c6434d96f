"""``[cluster]``: where the shared player directory lives and how this proxy is known in it."""

from __future__ import annotations

from mcproxy.config.reader import _Table
from mcproxy.config.schema import MAX_SECRET_FILE_BYTES, ClusterSection, Secret

#: Below this, heartbeats would be most of Redis's work; above it a dead proxy's players linger.
MIN_HEARTBEAT = 0.1
MAX_HEARTBEAT = 300.0


def _password(t: _Table) -> tuple[Secret | None, str]:
    """Only from a file: a password in the config would end up in backups and diffs."""
    path = t.path("redis_password_file")
    if not path:
        return None, ""
    data = t.read_file("redis_password_file", path, MAX_SECRET_FILE_BYTES).strip()
    if not data:
        raise t.error("redis_password_file", f"{path} is empty")
    if any(c < 0x21 or c > 0x7E for c in data):
        raise t.error("redis_password_file", f"{path} holds spaces or non-printable characters")
    return Secret(data), path


def _cluster(t: _Table) -> ClusterSection:
    d = ClusterSection
    enabled = t.boolean("enabled", d.enabled)
    redis = t.client_endpoint("redis", d.redis)
    password, password_file = _password(t)
    proxy_id = t.name_of("proxy_id", d.proxy_id)
    interval = t.number("heartbeat_interval", d.heartbeat_interval, 0, MAX_HEARTBEAT)
    if interval < MIN_HEARTBEAT:
        raise t.error("heartbeat_interval", f"must be at least {MIN_HEARTBEAT:g} seconds, not {interval:g}")
    t.finish()
    return ClusterSection(enabled=enabled, redis=redis, redis_password=password,
                          redis_password_file=password_file, proxy_id=proxy_id, heartbeat_interval=interval)
