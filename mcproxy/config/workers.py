"""``[proxy] workers``: what several processes sharing one game port need from the rest."""

from __future__ import annotations

from mcproxy.config.reader import _Table
from mcproxy.config.schema import AdminSection, ClusterSection, ProxySection
from mcproxy.proxy.reuseport import tcp_listen


def _worker_checks(t: dict[str, _Table], proxy: ProxySection, cluster: ClusterSection,
                   admin: AdminSection) -> None:
    """Workers are cluster members sharing a TCP port; worker k's admin is on port + k - 1."""
    workers = proxy.workers
    if workers == 1:
        return
    if not cluster.enabled:
        raise t["proxy"].error(
            "workers", f"{workers} workers need [cluster] enabled = true: each worker is a member of"
            " the cluster, which is how they share players, counts and commands")
    for bind in proxy.binds:
        listen = tcp_listen(bind)
        if listen is None or listen.port == 0:
            raise t["proxy"].error(
                "bind", f"{bind!r}: {workers} workers share the game port with SO_REUSEPORT, which needs"
                " a tcp: or tcp6: endpoint with a fixed port")
    if admin.bind:
        listen = tcp_listen(admin.bind)
        if listen is None or listen.port == 0 or admin.bind.startswith("haproxy:"):
            raise t["admin"].error(
                "bind", f"{admin.bind!r}: with {workers} workers, worker k listens on this port + k - 1,"
                " which needs a tcp: endpoint with a fixed port")
        if listen.port + workers - 1 > 65535:
            raise t["admin"].error("bind", f"port {listen.port} + {workers - 1} for the last worker is past 65535")
