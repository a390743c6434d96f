"""Checks that need both files: will this backend accept what this proxy sends it?

Each file can be valid on its own and the pair still refuse every login; these are
warnings, in the ``file: key: reason`` form, for ``mcproxyctl check-config``.
"""

from __future__ import annotations

from mcproxy.config.schema import BackendConfig, ProxyConfig, format_config_error


def pair_warnings(proxy: ProxyConfig, backend: BackendConfig) -> list[str]:
    """What would make ``backend`` refuse the players ``proxy`` sends it."""
    section = backend.backend
    server = proxy.servers.get(section.server_id)
    if server is None:
        return [format_config_error(
            backend.path, "backend.server_id",
            f"{section.server_id!r} is not a server under [servers] in {proxy.path}")]
    warnings = []
    mode = server.forwarding or proxy.proxy.forwarding
    if section.enforce_proxy and mode != "modern":
        where = f"servers.{section.server_id}.forwarding" if server.forwarding else "proxy.forwarding"
        warnings.append(format_config_error(
            backend.path, "backend.enforce_proxy",
            f"{proxy.path} forwards to {section.server_id!r} with {mode!r} forwarding ({where}), but "
            "enforce_proxy accepts modern forwarding only: every login through the proxy would be refused"))
    if server.proxy_protocol and not section.bind.startswith("haproxy:"):
        warnings.append(format_config_error(
            backend.path, "backend.bind",
            f"{proxy.path} sends {section.server_id!r} a PROXY {server.proxy_protocol} header "
            f"(servers.{section.server_id}.proxy_protocol), but this listener is not a haproxy: endpoint"))
    return warnings
