"""Who may speak PROXY protocol to a ``haproxy:`` listener.

A PROXY header names the client's address, and everything per-address (limits, logs,
forwarding) believes it. Only the load balancers may send one: a connection from any
other source is closed before a byte of its header is read, at the listener, so no
header parser ever sees it (as Gate's, Infrared's and BungeeCord's trusted-proxy lists).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterable

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.protocols.haproxy import proxyEndpoint
from zope.interface import implementer

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

HAPROXY_PREFIX = "haproxy:"


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) as networks; ``ValueError`` names the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError as error:
            raise ValueError(f"{value!r} is not an address or CIDR network ({error})") from None
    return tuple(networks)


class TrustedSources:
    """Membership of a peer address in the trusted networks."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    def __contains__(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


class TrustedSourceFactory:
    """Wraps the listener's factory: an untrusted peer gets no protocol, so the port
    closes its socket at once, and ``refused(host)`` counts it."""

    def __init__(self, wrapped: Any, trusted: TrustedSources, refused: Callable[[str], None]) -> None:
        self.wrapped = wrapped
        self.trusted = trusted
        self.refused = refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def buildProtocol(self, addr) -> Any:
        host = getattr(addr, "host", None)
        if host is not None and host not in self.trusted:
            self.refused(host)
            return None
        return self.wrapped.buildProtocol(addr)


@implementer(IStreamServerEndpoint)
class TrustedSourceEndpoint:
    """A server endpoint that admits only ``trusted`` peers; under the PROXY wrapper."""

    def __init__(self, wrapped: IStreamServerEndpoint, trusted: TrustedSources,
                 refused: Callable[[str], None]) -> None:
        self.wrapped = wrapped
        self.trusted = trusted
        self.refused = refused

    def listen(self, protocolFactory):
        return self.wrapped.listen(TrustedSourceFactory(protocolFactory, self.trusted, self.refused))


def player_endpoint(reactor: Any, description: str, trusted: Iterable[Network],
                    refused: Callable[[str], None],
                    listen: Callable[[Any, str], IStreamServerEndpoint] = serverFromString,
                    ) -> IStreamServerEndpoint:
    """The endpoint for one ``[proxy].bind``: a ``haproxy:`` one with a trusted list
    checks the source under the header parser; anything else as Twisted parses it.
    ``listen`` makes the socket's own endpoint (workers share theirs)."""
    networks = tuple(trusted)
    if not description.startswith(HAPROXY_PREFIX):
        return listen(reactor, description)
    if not networks and listen is serverFromString:
        return serverFromString(reactor, description)
    inner = listen(reactor, description[len(HAPROXY_PREFIX):])
    if networks:
        inner = TrustedSourceEndpoint(inner, TrustedSources(networks), refused)
    return proxyEndpoint(inner)


def loopback_only(description: str) -> bool:
    """Whether a listener can be reached only from this machine: bound to a loopback
    interface, or a UNIX socket."""
    body = description[len(HAPROXY_PREFIX):] if description.startswith(HAPROXY_PREFIX) else description
    kind, _, rest = body.partition(":")
    if kind == "unix":
        return True
    # Twisted escapes the colons of an IPv6 interface as "\:".
    for part in rest.replace("\\:", "\0").split(":"):
        if part.startswith("interface="):
            try:
                return ipaddress.ip_address(part[len("interface="):].replace("\0", ":")).is_loopback
            except ValueError:
                return False
    return False
