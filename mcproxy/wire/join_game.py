"""The one Join Game field the proxy rewrites: from 26.2 the client is told whether the
server runs in online mode, and a backend behind the proxy runs offline."""

from __future__ import annotations


def with_online_mode(fields: bytes, online: bool) -> bytes | None:
    """26.2+ Join Game ``fields`` saying ``online``: the flag is the byte before the last
    (enforcesSecureChat ends the packet).  ``None`` when those two bytes are not booleans,
    so not a Join Game of that shape, which then goes on as it came."""
    if len(fields) < 2 or fields[-2] > 1 or fields[-1] > 1:
        return None
    flag = 1 if online else 0
    if fields[-2] == flag:
        return fields
    return fields[:-2] + bytes((flag, fields[-1]))
