"""The backend-mod: login verification and the proxy-command bridge, for any host server.

It owns no sockets.  A host (the limbo, or any Twisted Minecraft server) asks it what to
send at login and whether the answer is good, and hands it the proxy commands players type.
The control-plane link is injected; :class:`NoLink` stands in when messaging is off.
"""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mcproxy.wire.forwarding import (
    BACKEND_FORWARDING_MODES,
    MAX_FORWARDING_VERSION,
    ForwardedPlayer,
    ForwardingRefusal,
    Refused,
    is_authenticated_identity,
    offline_uuid,
    request_data,
    verify_modern_forwarding,
)
from mcproxy.wire.legacy_forwarding import verify_legacy_forwarding
from mcproxy.interfaces import IBackendLink, IBackendModule
from mcproxy.ops.metrics import BackendMetrics

UNSYNCHRONIZED_REGISTRY = "UNSYNCHRONIZED_REGISTRY"
UNAUTHENTICATED_PLAYER = ForwardingRefusal.UNAUTHENTICATED_PLAYER.value
#: ``ForwardedPlayer.version`` of a login that carried no forwarding at all.
DIRECT_LOGIN = 0
MESSAGING_DISABLED = "MESSAGING_DISABLED"
#: A client too old for login plugin messages (before 1.13) on a backend that accepts
#: modern forwarding only: it can never be verified, so it is told why at once (the
#: proxy counts the same refusal under the same name).
FORWARDING_UNSUPPORTED = "FORWARDING_UNSUPPORTED"

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
    FORWARDING_UNSUPPORTED:
        "This server accepts modern (Velocity) forwarding only, which needs Minecraft 1.13 or "
        "newer: join with a newer client, or ask the operator for legacy or BungeeGuard "
        "forwarding.",
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

    def add_observer(self, callback: Callable[[object], None]) -> Callable[[], None]:
        return lambda: None


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
        metrics: BackendMetrics,
        link: IBackendLink | None = None,
        log: Logger | None = None,
        forwarding: str = "modern",
    ) -> None:
        if forwarding not in BACKEND_FORWARDING_MODES:
            raise ValueError(f"unknown forwarding mode {forwarding!r}")
        if enforce_proxy and forwarding != "legacy" and not any(secret for _, secret in secrets):
            raise ValueError("enforce_proxy needs a proxy_secret")
        self.enforce_proxy = enforce_proxy
        #: Which forwarding an enforcing backend reads: ``modern`` (a login plugin
        #: exchange, 1.13+), ``legacy`` or ``bungeeguard`` (the handshake host field).
        self.forwarding = forwarding
        self.require_authenticated_mode = require_authenticated_mode
        self._secrets = [(label, secret) for label, secret in secrets if secret]
        self.link: IBackendLink = link if link is not None else NoLink()
        if log is not None:
            self.log = log
        self.metrics = metrics
        metrics.bridge_enabled.set(0 if isinstance(self.link, NoLink) else 1)
        self._listeners: list[Callable[[], None]] = []
        self._declared = (bool(self.link.synchronized), tuple(self.proxy_commands()))
        self.link.add_observer(self._link_changed)

    def forwarding_request(self) -> bytes | None:
        """The login plugin request's data when modern forwarding is expected, else None."""
        if self.enforce_proxy and self.forwarding == "modern":
            return request_data(MAX_FORWARDING_VERSION)
        return None

    @property
    def reads_host_field(self) -> bool:
        """Whether logins carry the identity in the handshake host field."""
        return self.enforce_proxy and self.forwarding != "modern"

    def refuse_modern_for_old_client(self) -> str:
        """Count and log a pre-1.13 login to a modern-only backend; the reason name."""
        self.metrics.forwarding_refusals.labels(FORWARDING_UNSUPPORTED).inc()
        self.record_login(FORWARDING_UNSUPPORTED)
        self.log.warn("login refused: {reason} (client before 1.13, no login plugin messages)",
                      reason=FORWARDING_UNSUPPORTED)
        return FORWARDING_UNSUPPORTED

    def verify_host_field(self, host_field: str, name: str) -> ForwardedPlayer | Refused:
        """The identity a legacy or BungeeGuard proxy wrote into the handshake host field."""
        result = verify_legacy_forwarding(host_field, name, self._secrets,
                                          bungeeguard=self.forwarding == "bungeeguard")
        if isinstance(result, ForwardedPlayer) and self.require_authenticated_mode \
                and not is_authenticated_identity(result.uuid, result.name):
            result = Refused(ForwardingRefusal.UNAUTHENTICATED_PLAYER,
                             f"uuid {result.uuid} is not a Mojang account id")
        if isinstance(result, Refused):
            self._refused(result)
        else:
            self.log.info("{mode} forwarding for {name} accepted", mode=self.forwarding,
                          name=result.name)
        return result

    def _refused(self, result: Refused) -> None:
        """Count, record and log a forwarded login this backend turned away."""
        self.metrics.forwarding_refusals.labels(result.reason.value).inc()
        self.record_login(result.reason.value)
        self.log.warn("login refused: {reason} ({detail})", reason=result.reason.value,
                      detail=result.detail)

    def verify_direct_login(self, name: str) -> ForwardedPlayer | Refused:
        """The identity of a login without forwarding (``enforce_proxy = false``).

        Such a player gets the offline UUID for their name, as on an offline-mode server.
        Nobody authenticated them, so ``require_authenticated_mode`` refuses them: the two
        settings together fail closed rather than quietly admitting offline identities.
        """
        if self.require_authenticated_mode:
            self.metrics.forwarding_refusals.labels(UNAUTHENTICATED_PLAYER).inc()
            self.record_login(UNAUTHENTICATED_PLAYER)
            self.log.warn("login refused: {reason} (direct login, no proxy forwarding)",
                          reason=UNAUTHENTICATED_PLAYER)
            return Refused(ForwardingRefusal.UNAUTHENTICATED_PLAYER,
                           "direct login while authenticated mode is required")
        return ForwardedPlayer(offline_uuid(name), name, "", (), DIRECT_LOGIN, "")

    def verify_login(self, data: bytes | None) -> ForwardedPlayer | Refused:
        result = verify_modern_forwarding(
            data, self._secrets, MAX_FORWARDING_VERSION, self.require_authenticated_mode)
        if isinstance(result, Refused):
            self._refused(result)
        else:
            self.log.info("forwarding for {name} verified with the {secret} secret",
                          name=result.name, secret=result.secret_label)
        return result

    def record_login(self, result: str) -> None:
        """Count a login's result: ``ok``, or the reason it was refused (forwarding
        reasons, and the host's own: ``SERVER_FULL``, ``UNSUPPORTED_VERSION``, ...)."""
        self.metrics.logins.labels(result).inc()

    def refusal_message(self, reason: str) -> str:
        """The disconnect text for a forwarding refusal, ending with its reason name."""
        text = REFUSAL_MESSAGES.get(reason, "Login refused.")
        return f"{text} ({reason})"

    def on_commands_changed(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def _link_changed(self, link: object) -> None:
        """Mirror the link's state into the bridge gauges and tell hosts about changes."""
        synchronized = bool(self.link.synchronized)
        self.metrics.bridge_synchronized.set(1 if synchronized else 0)
        self.metrics.bridge_enabled.set(1 if getattr(self.link, "bridge_enabled", True) else 0)
        declared = (synchronized, tuple(self.proxy_commands()))
        if declared != self._declared:
            self._declared = declared
            for callback in list(self._listeners):
                callback()

    def _command_names(self) -> dict[str, str]:
        """Every name (and alias) of the link's commands, lower-cased, to its command."""
        names: dict[str, str] = {}
        for command in self.link.commands:
            name = getattr(command, "name", command)
            names[str(name).lower()] = str(name)
            for alias in getattr(command, "aliases", ()):
                names[str(alias).lower()] = str(name)
        return names

    def is_proxy_command(self, name: str) -> bool:
        return name.lower() in self._command_names()

    def proxy_commands(self) -> Sequence[str]:
        return sorted(set(self._command_names()))

    def execute_command(self, player: _uuid.UUID, line: str) -> Deferred:
        self.metrics.bridge_synchronized.set(1 if self.link.synchronized else 0)
        if not self.link.synchronized:
            self.log.info("proxy command refused: {reason}", reason=UNSYNCHRONIZED_REGISTRY)
            return succeed(CommandOutcome(False, UNSYNCHRONIZED_MESSAGE, UNSYNCHRONIZED_REGISTRY))
        d = self.link.execute_command(str(player), line)
        d.addCallbacks(self._outcome, self._failed)
        return d

    def request_transfer(self, player: _uuid.UUID, server: str) -> Deferred:
        d = self.link.request_transfer(str(player), server)
        d.addCallbacks(self._outcome, self._failed)
        return d

    def _outcome(self, result: object) -> CommandOutcome:
        """Normalise the link's answer (``CommandResult(ok, output)`` or
        ``TransferResult(done, reason)``) into a :class:`CommandOutcome`."""
        if isinstance(result, CommandOutcome):
            return result
        if hasattr(result, "done"):
            done = bool(getattr(result, "done"))
            reason = str(getattr(result, "reason", "") or "")
            return CommandOutcome(done, "" if done else f"Transfer refused: {reason}",
                                  None if done else reason or "REFUSED")
        ok = bool(getattr(result, "ok", False))
        return CommandOutcome(ok, str(getattr(result, "output", "") or ""),
                              None if ok else "REFUSED")

    def _failed(self, failure: Failure) -> CommandOutcome:
        reason = getattr(failure.value, "reason", None)
        name = str(getattr(reason, "value", reason) or type(failure.value).__name__)
        self.log.warn("proxy refused a bridged request: {reason}", reason=name)
        if name == UNSYNCHRONIZED_REGISTRY:
            return CommandOutcome(False, UNSYNCHRONIZED_MESSAGE, name)
        return CommandOutcome(False, f"The proxy refused the request ({name}).", name)
