"""The backend-mod: login verification and the proxy-command bridge, for any host server.

It owns no sockets.  A host (the limbo, or any Twisted Minecraft server) asks it what to
send at login and whether the answer is good, and hands it the proxy commands players type.
The control-plane link is injected; :class:`NoLink` stands in when messaging is off.
"""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass
from typing import Sequence

from prometheus_client import CollectorRegistry, Counter
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mcproxy.backend.forwarding import (
    MAX_FORWARDING_VERSION,
    ForwardedPlayer,
    Refused,
    request_data,
    verify_modern_forwarding,
)
from mcproxy.interfaces import IBackendLink, IBackendModule

UNSYNCHRONIZED_REGISTRY = "UNSYNCHRONIZED_REGISTRY"
MESSAGING_DISABLED = "MESSAGING_DISABLED"

#: What a player sees while the registry is not synchronized (see the runbook's
#: "Registry Desync" scenario): the refusal names its reason so operators can match it.
UNSYNCHRONIZED_MESSAGE = (
    "Proxy commands are unavailable right now: this server's copy of the proxy command "
    "registry is not synchronized (UNSYNCHRONIZED_REGISTRY). Try again shortly."
)

#: The disconnect text for each forwarding refusal; the reason name is appended.
REFUSAL_MESSAGES = {
    "NOT_VIA_PROXY": "This server only accepts connections through its proxy.",
    "BAD_FORWARDING_SIGNATURE": "Unable to verify player details: bad forwarding signature.",
    "MALFORMED_FORWARDING": "Unable to verify player details: malformed forwarding data.",
    "UNSUPPORTED_FORWARDING_VERSION":
        "Unable to verify player details: unsupported forwarding version.",
    "UNAUTHENTICATED_PLAYER": "This server requires an authenticated (online-mode) account.",
}


@dataclass(frozen=True)
class CommandOutcome:
    """What became of a bridged command or transfer; ``reason`` is set when refused."""

    ok: bool
    message: str = ""
    reason: str | None = None


@implementer(IBackendLink)
class NoLink:
    """The link when messaging is disabled: never synchronized, knows no commands."""

    synchronized = False
    commands: Sequence[str] = ()

    def execute_command(self, player: _uuid.UUID, line: str) -> Deferred:
        return succeed(CommandOutcome(False, "Messaging with the proxy is disabled.",
                                      MESSAGING_DISABLED))

    def request_transfer(self, player: _uuid.UUID, server: str) -> Deferred:
        return succeed(CommandOutcome(False, "Messaging with the proxy is disabled.",
                                      MESSAGING_DISABLED))


@implementer(IBackendModule)
class BackendModule:
    """Policy for logins (``enforce_proxy``, ``require_authenticated_mode``) and commands."""

    log = Logger()

    def __init__(
        self,
        *,
        enforce_proxy: bool,
        require_authenticated_mode: bool,
        secrets: Sequence[tuple[str, bytes]],
        registry: CollectorRegistry,
        link: IBackendLink | None = None,
        log: Logger | None = None,
    ) -> None:
        if enforce_proxy and not any(secret for _, secret in secrets):
            raise ValueError("enforce_proxy needs a proxy_secret")
        self.enforce_proxy = enforce_proxy
        self.require_authenticated_mode = require_authenticated_mode
        self._secrets = [(label, secret) for label, secret in secrets if secret]
        self.link: IBackendLink = link if link is not None else NoLink()
        if log is not None:
            self.log = log
        self._refusals = Counter(
            "mcproxy_backend_login_refusals", "Logins refused, by reason.", ["reason"],
            registry=registry)
        self._verified = Counter(
            "mcproxy_backend_forwarding_verified", "Forwarded logins accepted, by secret.",
            ["secret"], registry=registry)
        self._commands = Counter(
            "mcproxy_backend_proxy_commands", "Bridged proxy commands, by result.", ["result"],
            registry=registry)

    def forwarding_request(self) -> bytes | None:
        return request_data(MAX_FORWARDING_VERSION) if self.enforce_proxy else None

    def verify_login(self, data: bytes | None) -> ForwardedPlayer | Refused:
        result = verify_modern_forwarding(
            data, self._secrets, MAX_FORWARDING_VERSION, self.require_authenticated_mode)
        if isinstance(result, Refused):
            self.record_refusal(result.reason.value)
            self.log.warn("login refused: {reason} ({detail})", reason=result.reason.value,
                          detail=result.detail)
        else:
            self._verified.labels(result.secret_label).inc()
        return result

    def record_refusal(self, reason: str) -> None:
        """Count a login refusal the host decided on (server full, bad version, ...)."""
        self._refusals.labels(reason).inc()

    def refusal_message(self, reason: str) -> str:
        text = REFUSAL_MESSAGES.get(reason, "Login refused.")
        return f"{text} ({reason})"

    def is_proxy_command(self, name: str) -> bool:
        return name in self.link.commands

    def proxy_commands(self) -> Sequence[str]:
        return tuple(self.link.commands)

    def execute_command(self, player: _uuid.UUID, line: str) -> Deferred:
        if not self.link.synchronized:
            self._commands.labels(UNSYNCHRONIZED_REGISTRY).inc()
            return succeed(CommandOutcome(False, UNSYNCHRONIZED_MESSAGE, UNSYNCHRONIZED_REGISTRY))
        d = self.link.execute_command(player, line)
        d.addCallbacks(self._outcome, self._failed)
        d.addCallback(self._count)
        return d

    def request_transfer(self, player: _uuid.UUID, server: str) -> Deferred:
        d = self.link.request_transfer(player, server)
        d.addCallbacks(self._outcome, self._failed)
        return d

    def _outcome(self, result: object) -> CommandOutcome:
        if isinstance(result, CommandOutcome):
            return result
        ok = bool(getattr(result, "ok", True))
        return CommandOutcome(ok, str(getattr(result, "message", "") or ""),
                              getattr(result, "reason", None))

    def _failed(self, failure: Failure) -> CommandOutcome:
        reason = getattr(failure.value, "reason", None) or type(failure.value).__name__
        self.log.warn("proxy refused a bridged request: {reason}", reason=reason)
        return CommandOutcome(False, f"The proxy refused the request ({reason}).", str(reason))

    def _count(self, outcome: CommandOutcome) -> CommandOutcome:
        self._commands.labels("ok" if outcome.ok else (outcome.reason or "refused")).inc()
        return outcome
