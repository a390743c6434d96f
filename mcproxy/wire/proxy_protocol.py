"""The PROXY protocol header (HAProxy's, versions 1 and 2) a backend reads first.

It tells a backend behind the proxy the player's real address and port. Pure: the
caller hands in the addresses it knows; an address it does not know (a UNIX socket)
becomes version 1's ``UNKNOWN`` or version 2's ``LOCAL`` command, which backends take
as "use the connection's own address".
"""

from __future__ import annotations

import ipaddress
import struct

VERSIONS = ("v1", "v2")
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_PROXY, _V2_LOCAL = 0x21, 0x20
_V2_TCP4, _V2_TCP6, _V2_UNSPEC = 0x11, 0x21, 0x00

Address = tuple[str, int]


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _pair(source: Address | None, destination: Address | None):
    """Both addresses as one family (IPv4 widened to mapped IPv6 when they differ), or None."""
    if source is None or destination is None:
        return None
    src, dst = _ip(source[0]), _ip(destination[0])
    if src is None or dst is None:
        return None
    if src.version != dst.version:
        src, dst = (ipaddress.IPv6Address(f"::ffff:{ip}") if ip.version == 4 else ip for ip in (src, dst))
    for port in (source[1], destination[1]):
        if not 0 <= port <= 65535:
            return None
    return src, dst


def encode_v1(source: Address | None, destination: Address | None) -> bytes:
    pair = _pair(source, destination)
    if pair is None:
        return b"PROXY UNKNOWN\r\n"
    src, dst = pair
    family = "TCP4" if src.version == 4 else "TCP6"
    return f"PROXY {family} {src} {dst} {source[1]} {destination[1]}\r\n".encode("ascii")


def encode_v2(source: Address | None, destination: Address | None) -> bytes:
    pair = _pair(source, destination)
    if pair is None:
        return V2_SIGNATURE + struct.pack(">BBH", _V2_LOCAL, _V2_UNSPEC, 0)
    src, dst = pair
    family = _V2_TCP4 if src.version == 4 else _V2_TCP6
    body = src.packed + dst.packed + struct.pack(">HH", source[1], destination[1])
    return V2_SIGNATURE + struct.pack(">BBH", _V2_PROXY, family, len(body)) + body


def encode_header(version: str, source: Address | None, destination: Address | None) -> bytes:
    """The header for ``version`` ("v1" or "v2"); ``source`` is the player's address."""
    if version == "v1":
        return encode_v1(source, destination)
    if version == "v2":
        return encode_v2(source, destination)
    raise ValueError(f"unknown PROXY protocol version {version!r}")
