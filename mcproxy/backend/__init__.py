"""The backend side of mcproxy.

- :mod:`mcproxy.wire.forwarding`: Velocity-compatible modern forwarding, encoded and
  verified (``encode_modern_forwarding``, ``verify_modern_forwarding``).
- :mod:`mcproxy.backend.module`: the backend-mod (``BackendModule``, ``IBackendModule``),
  login policy and the proxy-command bridge, for any Twisted Minecraft server to host.
- :mod:`mcproxy.backend.server`: the reference backend, a limbo server
  (``LimboFactory``, ``LimboSettings``); :mod:`mcproxy.backend.service` builds the process
  around it (``BackendProcess``), and :mod:`mcproxy.backend.tap` runs that under twistd.
"""
