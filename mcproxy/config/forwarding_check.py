"""Will a backend accept the logins a proxy sends it? Forwarding mode and PROXY header.

Each file can be valid on its own and the pair still refuse every login; these are
warnings, in the ``file: key: reason`` form, for ``mcproxyctl check-config``.
"""

from __future__ import annotations

from mcproxy.config.schema import BackendConfig, ProxyConfig, format_config_error


def forwarding_warnings(proxy: ProxyConfig, backend: BackendConfig) -> list[str]:
    """What would make ``backend`` refuse the players ``proxy`` sends it (nothing to say
    when the proxy does not list it: that is a problem of its own)."""
    section = backend.backend
    server = proxy.servers.get(section.server_id)
    if server is None:
        return []
    warnings = []
    mode = server.forwarding or proxy.proxy.forwarding
    if section.enforce_proxy and mode != section.forwarding:
        where = f"servers.{section.server_id}.forwarding" if server.forwarding else "proxy.forwarding"
        warnings.append(format_config_error(
            backend.path, "backend.forwarding",
            f"{proxy.path} forwards to {section.server_id!r} with {mode!r} forwarding ({where}), but "
            f"with enforce_proxy this backend accepts {section.forwarding!r} forwarding only: "
            "every login through the proxy would be refused"))
    if server.proxy_protocol and not section.bind.startswith("haproxy:"):
        warnings.append(format_config_error(
            backend.path, "backend.bind",
            f"{proxy.path} sends {section.server_id!r} a PROXY {server.proxy_protocol} header "
            f"(servers.{section.server_id}.proxy_protocol), but this listener is not a haproxy: endpoint"))
    return warnings
