"""``proxy.toml``: section by section, then the checks that span sections."""

from __future__ import annotations

import ipaddress
import re
import struct
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlsplit

from mcproxy.proxy.trusted import HAPROXY_PREFIX, loopback_only
from mcproxy.config.cluster import _cluster
from mcproxy.config.common import _admin_section, _control_limits, _logging
from mcproxy.config.reader import _NAME, _Table, _refuse_secret_name, _tables, _type_name
from mcproxy.config.schema import (
    MAX_FAVICON_BYTES, AdminSection, ClusterSection, ConfigError, MessagingSection,
    PluginsSection, ProxyConfig, ProxySection, QuerySection, RateLimitsSection, SecuritySection, Server,
)
from mcproxy.config.secrets import _require_secret, _rotation, _secret
from mcproxy.config.workers import _worker_checks
from mcproxy.wire.forwarding import FORWARDING_MODES
from mcproxy.wire.framing import MAX_FRAME_SIZE
from mcproxy.wire.proxy_protocol import VERSIONS as PROXY_HEADER_VERSIONS


_PERMISSION_NODE = re.compile(r"[A-Za-z0-9_.-]{1,128}")


_PLAYER_NAME = re.compile(r"[!-~]{1,16}")


# "host:port" or "[IPv6]:port"; the port's range is checked separately.
_ADDRESS = re.compile(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    "query",
    "cluster",
)

#: Server-list sample entries; with a full favicon the status answer must still fit
#: one protocol string.
MAX_STATUS_SAMPLE = 32

#: Worker processes on one machine; more than its cores only adds switching.
MAX_WORKERS = 64


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
        read_timeout=t.number("read_timeout", d.read_timeout, 0, 600),
        fallback_hold=t.number("fallback_hold", d.fallback_hold, 0, 600),
        max_frame_size_prelogin=t.integer(
            "max_frame_size_prelogin", d.max_frame_size_prelogin, 256, MAX_FRAME_SIZE
        ),
        kick_existing_players=t.boolean("kick_existing_players", d.kick_existing_players),
        status_player_sample=t.integer(
            "status_player_sample", d.status_player_sample, 0, MAX_STATUS_SAMPLE
        ),
        bungee_plugin_channel=t.boolean("bungee_plugin_channel", d.bungee_plugin_channel),
        proxy_protocol_trusted=_trusted_sources(t, binds),
        workers=t.integer("workers", d.workers, 1, MAX_WORKERS),
    )
    t.finish()
    return section


def _trusted_sources(t: _Table, binds: tuple[str, ...]) -> tuple[str, ...]:
    """The load balancers a ``haproxy:`` listener believes. An empty list would let
    anyone who reaches the port name any client address, so it is only allowed where
    nobody else can reach it: a listener bound to loopback."""
    key = "proxy_protocol_trusted"
    value = t._get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return t.report(key, 'must be an array of CIDR strings, such as ["10.0.0.0/8"]', ())
    networks = []
    for item in value:
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=True)))
        except ValueError as error:
            return t.report(key, f"{item!r} is not an address or CIDR network: {error}", ())
    if not networks:
        exposed = [b for b in binds if b.startswith(HAPROXY_PREFIX) and not loopback_only(b)]
        if exposed:
            return t.report(
                key,
                f"is empty, but {exposed[0]!r} takes PROXY headers from beyond loopback: "
                "list the load balancers' addresses (CIDR), or bind it to 127.0.0.1",
                (),
            )
    return tuple(networks)


def _query(t: _Table) -> QuerySection:
    d = QuerySection
    section = QuerySection(
        enabled=t.boolean("enabled", d.enabled),
        port=t.integer("port", d.port, 0, 65535),
        map=t.string("map", d.map),
        show_plugins=t.boolean("show_plugins", d.show_plugins),
    )
    if len(section.map) > 64:
        raise t.error("map", "must be at most 64 characters")
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


def _server_table(t: _Table, name: str, value: Mapping[str, Any]) -> Server:
    """``[servers.NAME]``: an address and the settings this server overrides."""
    table = _Table(t.file, t.base, t.key(name), value, t.problems)
    if "address" not in value:
        raise table.error("address", 'is missing: give the server\'s "host:port"')
    server = _address(table, "address", table._get("address", ""))
    forwarding = table._get("forwarding", "")
    if forwarding != "":
        forwarding = table.choice("forwarding", "", FORWARDING_MODES)
    proxy_protocol = table.choice("proxy_protocol", "", ("", *PROXY_HEADER_VERSIONS))
    table.finish()
    return Server(host=server.host, port=server.port, forwarding=forwarding, proxy_protocol=proxy_protocol)


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
        if isinstance(value, dict):
            servers[name] = _server_table(t, name, value)
        else:
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
        handshake_per_address_max=t.integer(
            "handshake_per_address_max", d.handshake_per_address_max, 1, 65536
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


def _security(
    t: _Table, proxy: ProxySection | None, messaging: MessagingSection | None,
    servers: Mapping[str, Server], cluster: ClusterSection | None,
) -> SecuritySection:
    secret, secret_file = _secret(t, "proxy_secret")
    previous, previous_file = _secret(t, "proxy_secret_previous")
    t.finish()
    _rotation(t, secret, previous)
    # What needs a secret is judged only on sections that read cleanly: a
    # default standing in for a mistake must not raise a second, misleading error.
    if proxy is not None and messaging is not None and not t.problems:
        needs = []
        if proxy.forwarding in ("modern", "bungeeguard"):
            needs.append(f"forwarding = {proxy.forwarding!r}")
        for name, server in servers.items():
            if server.forwarding in ("modern", "bungeeguard"):
                needs.append(f"servers.{name}.forwarding = {server.forwarding!r}")
        if messaging.enabled:
            needs.append("messaging is enabled")
        if cluster is not None and cluster.enabled:
            # Requests between proxies are signed with it (docs/cluster.md).
            needs.append("[cluster] is enabled")
        _require_secret(t, secret, needs)
    return SecuritySection(
        proxy_secret=secret,
        proxy_secret_file=secret_file,
        proxy_secret_previous=previous,
        proxy_secret_previous_file=previous_file,
    )


def _build_proxy(file: str, base: Path, data: Mapping[str, Any]) -> ProxyConfig:
    """Section by section, then the checks that span sections; every mistake
    found is raised at the end, together."""
    if "proxy" not in data:
        raise ConfigError(
            file, "proxy", "missing table: a proxy config starts with [proxy]"
        )
    t = _tables(file, base, data, _PROXY_TABLES)
    problems = t["proxy"].problems
    proxy = problems.section(_proxy_section, t["proxy"])
    servers_and_order = problems.section(_servers, t["servers"])
    servers, try_order = servers_and_order or (MappingProxyType({}), ())
    forced_hosts = problems.section(_forced_hosts, t["forced_hosts"], servers)
    motd_by_host = problems.section(_motd_by_host, t["motd_by_host"])
    permissions = problems.section(_permissions, t["permissions"])
    messaging = problems.section(_proxy_messaging, t["messaging"])
    rate_limits = problems.section(_rate_limits, t["rate_limits"])
    admin = problems.section(_admin_section, t["admin"], AdminSection.bind, True)
    logging = problems.section(_logging, t["logging"])
    plugins = problems.section(_plugins, t["plugins"])
    query = problems.section(_query, t["query"])
    cluster = problems.section(_cluster, t["cluster"])
    security = problems.section(_security, t["security"], proxy, messaging, servers, cluster)
    if not problems:
        with problems.collecting():
            _cross_checks(t, proxy, servers, messaging)
            _worker_checks(t, proxy, cluster, admin)
    problems.check()
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
        query=query,
        cluster=cluster,
    )


def _cross_checks(
    t: dict[str, _Table], proxy: ProxySection, servers: Mapping[str, Server],
    messaging: MessagingSection,
) -> None:
    """Checks that span sections, run once every section read cleanly."""
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
