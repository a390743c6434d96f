"""A player's session, one handler per protocol state.

:class:`mcproxy.proxy.client.PlayerConnection` is the shell (codec, limits, output);
the handler it holds decides what each packet means: ``handshake``, ``status``,
``login``, ``connecting``, then ``play`` (the relay), with ``switch`` for a move
between servers in flight.
"""
