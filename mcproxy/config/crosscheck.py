"""Whether a proxy config and its backends' configs can work together.

Each file may be valid alone and the set still broken: a backend dialling a
port the proxy does not bind, secrets with no key in common, a sender id the
backend does not expect, a server id the proxy does not know. These are the
runbook's "messaging unavailable" actions 1 and 2, checked before anything runs.
Secrets are compared, never shown.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from mcproxy.config.schema import BackendConfig, ProxyConfig

_ANY_INTERFACE = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Endpoint:
    """The comparable part of an endpoint string: kind, host (or path) and port."""

    kind: str
    host: str
    port: int | None

    def __str__(self) -> str:
        if self.port is None:
            return f"{self.kind}:{self.host}"
        return f"{self.kind}:{self.host or '*'}:{self.port}"


def _fields(text: str) -> tuple[str, list[str], dict[str, str]]:
    kind, _, rest = text.partition(":")
    positional, named = [], {}
    for part in rest.split(":") if rest else []:
        key, eq, value = part.partition("=")
        if eq:
            named[key] = value
        else:
            positional.append(part)
    return kind, positional, named


def server_endpoint(text: str) -> Endpoint:
    """``tcp:25580:interface=127.0.0.1``, ``ssl:...``, ``haproxy:tcp:...``, ``unix:path``."""
    if text.startswith("haproxy:"):
        return server_endpoint(text[len("haproxy:"):])
    kind, positional, named = _fields(text)
    if kind == "unix":
        return Endpoint("unix", named.get("address", positional[0] if positional else ""), None)
    port = named.get("port", positional[0] if positional else "")
    return Endpoint(kind, named.get("interface", ""), int(port) if port.isdigit() else None)


def client_endpoint(text: str) -> Endpoint:
    """``tcp:host=127.0.0.1:port=25580``, ``ssl:...``, ``unix:path=...``."""
    kind, positional, named = _fields(text)
    if kind == "unix":
        return Endpoint("unix", named.get("path", positional[0] if positional else ""), None)
    host = named.get("host", positional[0] if positional else "")
    port = named.get("port", positional[1] if len(positional) > 1 else "")
    return Endpoint(kind, host, int(port) if port.isdigit() else None)


def dials_bound(dialled: Endpoint, bound: Endpoint) -> str:
    """Why ``dialled`` cannot reach ``bound`` ("" when it may)."""
    if dialled.kind != bound.kind:
        return f"dials {dialled.kind}: but the proxy listens with {bound.kind}:"
    if dialled.kind == "unix":
        return "" if dialled.host == bound.host else f"dials {dialled.host}, the proxy listens on {bound.host}"
    if dialled.port != bound.port:
        return f"dials port {dialled.port}, the proxy binds messaging on port {bound.port}"
    if bound.host not in _ANY_INTERFACE and _is_ip(dialled.host) and dialled.host != bound.host:
        return f"dials {dialled.host}, the proxy binds messaging on interface {bound.host} only"
    return ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _value(secret: object) -> bytes | None:
    return getattr(secret, "value", None)


def _accepts(signing: bytes | None, accepted: list[bytes | None]) -> bool:
    if signing is None:
        return False
    return any(key is not None and hmac.compare_digest(signing, key) for key in accepted)


def cross_check(proxy: ProxyConfig, backend: BackendConfig) -> list[str]:
    """Every reason ``backend`` cannot work with ``proxy``, each as ``key: what is wrong``."""
    problems = []
    section = backend.backend
    if section.server_id not in proxy.servers:
        known = ", ".join(sorted(proxy.servers)) or "none"
        problems.append(f"backend.server_id: {section.server_id!r} is not in the proxy's [servers] ({known})")
    if proxy.messaging.enabled != backend.messaging.enabled:
        on, off = ("the proxy", "this backend") if proxy.messaging.enabled else ("this backend", "the proxy")
        problems.append(f"messaging.enabled: on in {on}, off in {off}")
    if not (proxy.messaging.enabled and backend.messaging.enabled):
        return problems
    why = dials_bound(client_endpoint(backend.messaging.proxy), server_endpoint(proxy.messaging.bind))
    if why:
        problems.append(f"messaging.proxy: {why}")
    sender = proxy.messaging.control_sender_id
    if section.control_expected_sender_id != sender:
        problems.append(f"backend.control_expected_sender_id: {section.control_expected_sender_id!r}, but the"
                        f" proxy signs as control_sender_id {sender!r} (refused: UNEXPECTED_SENDER)")
    proxy_keys = [_value(proxy.security.proxy_secret), _value(proxy.security.proxy_secret_previous)]
    backend_keys = [_value(section.proxy_secret), _value(section.proxy_secret_previous)]
    if not _accepts(proxy_keys[0], backend_keys):
        problems.append("backend.proxy_secret: the proxy signs with a secret this backend does not accept"
                        " (neither its proxy_secret nor proxy_secret_previous; refused: BAD_SIGNATURE)")
    if not _accepts(backend_keys[0], proxy_keys):
        problems.append("backend.proxy_secret: this backend signs with a secret the proxy does not accept"
                        " (neither its proxy_secret nor proxy_secret_previous; refused: BAD_SIGNATURE)")
    if backend.messaging.control_max_payload < proxy.messaging.control_max_payload:
        problems.append(f"messaging.control_max_payload: {backend.messaging.control_max_payload} is below the"
                        f" proxy's {proxy.messaging.control_max_payload}; a snapshot between the two is refused"
                        " (PAYLOAD_TOO_LARGE): set the same value on both sides")
    return problems
