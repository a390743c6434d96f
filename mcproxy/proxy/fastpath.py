"""A relay transport's writes sent at once instead of on the next reactor turn.

Twisted queues every write for the next reactor turn: the socket is registered for
writability (an ``epoll_ctl``), the queue is joined, sent, and the registration undone
(another ``epoll_ctl``).  The relay writes once per read, so that is three system calls
where one ``send`` would do; so are login's few writes, each in a turn of its own, which
is why player and backend connections get the direct write as soon as they connect.

:func:`fast_path` gives one plain TCP transport a ``write`` that makes the ``send`` at
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
    """Install the direct write; returns whether the transport was one it applies to.

    The transport's class becomes a subclass that only overrides ``write``: a function
    stored on the instance would hold the transport in a reference cycle, left for the
    garbage collector after every connection.
    """
    if not isinstance(transport, tcp.Connection) or transport.TLS:
        return False
    if not getattr(transport, "fast_path", False):
        transport.__class__ = _direct_class(type(transport))
    return True


_direct_classes: dict[type, type] = {}


def _direct_class(base: type) -> type:
    direct = _direct_classes.get(base)
    if direct is None:
        direct = type("Direct" + base.__name__, (base,), {"write": _direct_write, "fast_path": True,
                                                          "__doc__": base.__doc__})
        _direct_classes[base] = direct
    return direct


def _direct_write(self, data: bytes) -> None:
    """Send now if nothing is queued before it; queue the rest as Twisted would."""
    if (self._tempDataLen or self.offset != len(self.dataBuffer) or not self.connected
            or self.disconnecting or self._writeDisconnected or not data):
        tcp.Connection.write(self, data)
        return
    try:
        sent = self.socket.send(data)
    except OSError as error:
        if error.errno not in _RETRY:
            # Twisted's own turn finds the error and ends the connection its way.
            tcp.Connection.write(self, data)
            return
        sent = 0
    if sent < len(data):
        tcp.Connection.write(self, data[sent:])
