"""The game port shared by worker processes: each binds its own socket with SO_REUSEPORT.

The kernel hashes each new connection to one of the sockets bound to the port, so the
workers share the load evenly from the first connection. One socket bound by the parent
and accepted from by every worker would not: every worker wakes for each connection and
Twisted accepts up to a hundred at once, so the first awake worker takes a burst.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import fail, succeed
from twisted.internet.interfaces import IStreamServerEndpoint
from zope.interface import implementer

from mcproxy.proxy.trusted import HAPROXY_PREFIX


@dataclass(frozen=True)
class TcpListen:
    """What a ``tcp:``/``tcp6:`` server endpoint string asks to bind."""

    family: int
    port: int
    interface: str
    backlog: int


def _fields(text: str) -> list[str]:
    """Split an endpoint string on the colons Twisted splits on (``\\:`` is a colon)."""
    fields, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    fields.append(current)
    return fields


#: Positional argument order of Twisted's parsers, which differs between the two.
_POSITIONAL = {"tcp": ("port", "interface", "backlog"), "tcp6": ("port", "backlog", "interface")}
_FAMILY = {"tcp": socket.AF_INET, "tcp6": socket.AF_INET6}
_DEFAULT_INTERFACE = {"tcp": "", "tcp6": "::"}


def tcp_listen(description: str) -> TcpListen | None:
    """The bind a ``[haproxy:]tcp:``/``tcp6:`` server endpoint string describes, or None
    for any other kind (or a malformed one: the endpoint parser reports those)."""
    if description.startswith(HAPROXY_PREFIX):
        description = description[len(HAPROXY_PREFIX):]
    kind, *args = _fields(description)
    if kind not in _POSITIONAL:
        return None
    values: dict[str, str] = {}
    positional = iter(_POSITIONAL[kind])
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq:
            values[key] = value
        else:
            name = next(positional, None)
            if name is None:
                return None
            values[name] = arg
    try:
        port = int(values["port"])
        backlog = int(values.get("backlog", 50))
    except (KeyError, ValueError):
        return None
    return TcpListen(_FAMILY[kind], port, values.get("interface", _DEFAULT_INTERFACE[kind]), backlog)


@implementer(IStreamServerEndpoint)
class ReusePortEndpoint:
    """A TCP server endpoint whose socket other processes can bind too (SO_REUSEPORT)."""

    def __init__(self, reactor: Any, listen: TcpListen) -> None:
        self.reactor = reactor
        self.bind = listen

    def listen(self, protocolFactory):
        bind = self.bind
        sock = socket.socket(bind.family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((bind.interface, bind.port))
            sock.listen(bind.backlog)
            sock.setblocking(False)
            # adoptStreamPort duplicates the descriptor; ours is closed below either way.
            port = self.reactor.adoptStreamPort(sock.fileno(), bind.family, protocolFactory)
        except OSError as error:
            return fail(error)
        finally:
            sock.close()
        return succeed(port)


def shared_endpoint(reactor: Any, description: str) -> ReusePortEndpoint:
    """``listen`` for :func:`player_endpoint` in a worker: the same bind, shared."""
    listen = tcp_listen(description)
    if listen is None:
        raise ValueError(f"{description!r} is not a tcp: endpoint with a port")
    return ReusePortEndpoint(reactor, listen)


def offset_port(description: str, offset: int) -> str:
    """A ``tcp:`` endpoint string with its port moved up by ``offset`` (worker k's admin)."""
    kind, *args = _fields(description)
    out = []
    moved = False
    for arg in args:
        key, eq, value = arg.partition("=")
        if not moved and (key == "port" and eq or not eq):
            number = int(value if eq else arg) + offset
            arg = f"port={number}" if eq else str(number)
            moved = True
        out.append(arg.replace(":", "\\:"))
    return ":".join([kind] + out)
