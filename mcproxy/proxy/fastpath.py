"""A relay transport's writes sent at once instead of on the next reactor turn.

Twisted queues every write for the next reactor turn: the socket is registered for
writability (an ``epoll_ctl``), the queue is joined, sent, and the registration undone
(another ``epoll_ctl``).  The relay writes once per read, so that is three system calls
where one ``send`` would do.

:func:`fast_path` replaces ``write`` on one plain TCP transport by a ``send`` made at
once when nothing is queued.  Whatever the kernel does not take is queued the usual way,
so back-pressure (the producer paused past ``bufferSize``, resumed when drained) and the
order of bytes stay Twisted's own.  Anything that is not a plain TCP connection (TLS, a
wrapping protocol, a test transport) is left as it is.
"""

from __future__ import annotations

from errno import EAGAIN, EWOULDBLOCK

from twisted.internet import tcp

#: What a ``send`` the kernel cannot take now raises; the data is queued instead.
_RETRY = (EAGAIN, EWOULDBLOCK)


def fast_path(transport) -> bool:
    """Install the direct write; returns whether the transport was one it applies to."""
    if not isinstance(transport, tcp.Connection) or transport.TLS:
        return False
    if getattr(transport, "fast_path", False):
        return True
    transport.fast_path = True
    transport.write = _direct_write(transport)
    return True


def _direct_write(transport):
    queued_write = type(transport).write.__get__(transport)
    send = transport.socket.send

    def write(data) -> None:
        """Send now if nothing is queued before it; queue the rest as Twisted would."""
        if (transport._tempDataLen or transport.offset != len(transport.dataBuffer)
                or not transport.connected or transport.disconnecting
                or transport._writeDisconnected or not data):
            queued_write(data)
            return
        try:
            sent = send(data)
        except OSError as error:
            if error.errno not in _RETRY:
                # Twisted's own turn finds the error and ends the connection its way.
                queued_write(data)
                return
            sent = 0
        if sent < len(data):
            queued_write(data[sent:])

    return write
