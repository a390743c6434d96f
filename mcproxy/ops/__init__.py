"""The operations surface both processes mount: health (``health``, ``probe``), ``/status``
(``status``), Prometheus metrics (``metrics``), the admin HTTP tree (``admin``), structured logs
(``logging``) and secret scrubbing (``redaction``).  Everything takes its reactor, registry and
logger as arguments; see ``docs/operations.md``."""
