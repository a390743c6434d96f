"""The backend's end of the control plane: a reconnecting, verifying link.

The link keeps a verified copy of the proxy's command registry and bridges
proxy commands and transfer requests to the proxy. It refuses to bridge
(UNSYNCHRONIZED_REGISTRY) whenever that copy is not known to be current or an
operator has switched the bridge off, so a sick control plane degrades to
"proxy commands unavailable" instead of acting on stale data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy import __version__
from mcproxy.control.commands import (
    ExecuteProxyCommand,
    Heartbeat,
    Hello,
    RegistryChanged,
    RegistrySnapshot,
    RequestRegistrySnapshot,
    TransferPlayer,
)
from mcproxy.control.envelope import (
    CONTROL_PROTOCOL_VERSION,
    DEFAULT_MAX_CLOCK_SKEW,
    DEFAULT_MAX_PAYLOAD,
    DEFAULT_REPLAY_CAPACITY,
    Envelope,
    new_correlation_id,
)
from mcproxy.control.metrics import BackendControlGauges
from mcproxy.control.peer import ControlPeer, ControlProtocol
from mcproxy.control.reasons import ControlRejected, RejectReason
from mcproxy.control.registry import CommandSpec, command_name, find_command
from mcproxy.control.replica import RegistryReplica
from mcproxy.control.trouble import LinkTrouble
from mcproxy.control.results import CommandResult, TransferResult


MAX_COMMAND_LINE_BYTES = 32767


class BackendControlProtocol(ControlProtocol):
    """The backend's AMP connection to the proxy."""

    def __init__(self, link: BackendControlLink) -> None:
        super().__init__()
        self.link = link
        self.peer = link.peer

    #: Set when this side refused one of the proxy's answers (not a refusal by the proxy).
    answer_refused = False

    def expected_senders(self) -> Container[str]:
        return (self.link.expected_sender_id,)

    def check_answer(self, command: type[Any], envelope: Envelope) -> None:
        try:
            super().check_answer(command, envelope)
        except ControlRejected:
            self.answer_refused = True
            raise

    def connectionMade(self) -> None:
        super().connectionMade()
        self.link._say_hello(self)

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        self.link._connection_lost(self)

    @RegistrySnapshot.responder
    def registry_snapshot(
        self,
        envelope: Envelope,
        request_id: str,
        serial: int,
        digest: str,
        index: int,
        count: int,
        total: int,
        data: bytes,
    ) -> dict[str, Any]:
        self.check_request(RegistrySnapshot, envelope)
        self.link.replica.accept_chunk(
            envelope.correlation_id, request_id, serial, digest, index, count, total, data
        )
        return {"envelope": envelope.correlation_id}

    @RegistryChanged.responder
    def registry_changed(self, envelope: Envelope, serial: int, digest: str) -> dict[str, Any]:
        self.check_request(RegistryChanged, envelope)
        self.link._registry_changed(serial, digest)
        return {"envelope": envelope.correlation_id}


class _ReportingEndpoint:
    """The proxy's endpoint, named by its config string and reporting each failed connect.

    ClientService logs its retries with the endpoint's repr, which for Twisted's
    endpoints is an object address; this one reads as the configured address.
    """

    def __init__(self, endpoint: IStreamClientEndpoint, description: str,
                 failed: Callable[[Failure], None]) -> None:
        self._endpoint = endpoint
        self._description = description
        self._failed = failed

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        d = self._endpoint.connect(factory)

        def report(failure: Failure) -> Failure:
            self._failed(failure)
            return failure

        return d.addErrback(report)

    def __repr__(self) -> str:
        return self._description


class _LinkFactory(Factory):
    def __init__(self, link: BackendControlLink) -> None:
        self.link = link

    def buildProtocol(self, addr: IAddress) -> BackendControlProtocol:
        return BackendControlProtocol(self.link)


class BackendControlLink(Service):
    """Connects to the proxy's [messaging] listener and keeps the registry in sync.

    @param endpoint: where the proxy listens (the caller parses C{tcp:}/C{ssl:}).
    @param retry_initial_delay: first reconnect delay; it doubles up to
        C{retry_max_delay}.
    @param retry_jitter: extra random delay per attempt; tests pass C{lambda: 0}.
    @param state_gauges: export link and bridge gauges on C{metrics_registry};
        False when the process's own metrics already export them.
    @param artifact_version: the release this backend announces in Hello
        (the proxy refuses any other than its own with VERSION_MISMATCH).
    @param control_version: the control protocol version it speaks and signs.
    @param endpoint_description: the configured address, for logs and /health.
    """

    def __init__(
        self,
        server_id: str,
        proxy_secret: bytes,
        endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        metrics_registry: CollectorRegistry,
        log: Logger,
        proxy_secret_previous: bytes | None = None,
        expected_sender_id: str = "proxy",
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
        replay_capacity: int = DEFAULT_REPLAY_CAPACITY,
        heartbeat_interval: float = 10.0,
        retry_initial_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        retry_jitter: Callable[[], float] | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        state_gauges: bool = True,
        artifact_version: str = __version__,
        control_version: int = CONTROL_PROTOCOL_VERSION,
        endpoint_description: str = "",
    ) -> None:
        self.artifact_version = artifact_version
        self.control_version = control_version
        self.peer = ControlPeer(
            server_id,
            proxy_secret,
            proxy_secret_previous,
            clock,
            metrics_registry,
            log,
            max_payload,
            max_clock_skew,
            replay_capacity,
            random_bytes,
            control_version,
        )
        self._gauges = BackendControlGauges(metrics_registry) if state_gauges else None
        self.server_id = server_id
        self.expected_sender_id = expected_sender_id
        self.clock = clock
        self.log = log
        self.replica = RegistryReplica(self.peer, expected_sender_id, log, self._publish)
        self._bridge_enabled = True
        self._protocol: BackendControlProtocol | None = None
        self._observers: list[Callable[[BackendControlLink], None]] = []
        self._heartbeat_pending = False
        self._heartbeat = LoopingCall(self._send_heartbeat)
        self._heartbeat.clock = clock
        self.heartbeat_interval = heartbeat_interval
        jitter = retry_jitter if retry_jitter is not None else _default_jitter
        backoff = backoffPolicy(retry_initial_delay, retry_max_delay, 2.0, jitter)
        self.address = endpoint_description or repr(endpoint)
        self.trouble = LinkTrouble(self.address, expected_sender_id, log, self.peer.metrics)
        self._client = ClientService(
            _ReportingEndpoint(endpoint, self.address, self._connect_failed),
            _LinkFactory(self),
            retryPolicy=lambda attempt: backoff(max(attempt, self.trouble.refused_hellos)),
            clock=clock,
        )
        self._publish()

    # State an operator (and /health, /status) looks at.

    @property
    def link_up(self) -> bool:
        return self._protocol is not None

    @property
    def link_error(self) -> str:
        """Why the link is not up, for operators ("" while it is)."""
        return self.trouble.error

    @property
    def synchronized(self) -> bool:
        return self.replica.synchronized

    @property
    def serial(self) -> int | None:
        return self.replica.serial

    @property
    def digest(self) -> str:
        return self.replica.digest

    @property
    def commands(self) -> tuple[CommandSpec, ...]:
        return self.replica.commands

    @property
    def sync_error(self) -> str:
        return self.replica.sync_error

    @property
    def bridge_enabled(self) -> bool:
        return self._bridge_enabled

    @property
    def bridge_active(self) -> bool:
        """Whether proxy commands and transfers are routed right now."""
        return self._bridge_enabled and self.synchronized and self.link_up

    def enable_bridge(self) -> None:
        self._bridge_enabled = True
        self.log.info("command bridge enabled")
        self._publish()

    def disable_bridge(self) -> None:
        """Stop routing while messaging is sick; sync carries on underneath."""
        self._bridge_enabled = False
        self.log.info("command bridge disabled by operator")
        self._publish()

    def status(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id,
            "link_up": self.link_up,
            "synchronized": self.synchronized,
            "bridge_enabled": self._bridge_enabled,
            "bridge_active": self.bridge_active,
            "serial": self.serial,
            "digest": self.digest,
            "commands": len(self.commands),
            "sync_error": self.sync_error,
            "link_error": self.link_error,
            "secret_usage": self.peer.secret_usage(),
            "secret_last_seen": self.peer.secret_last_seen(),
        }

    def problems(self) -> list[str]:
        """Why /health should say DEGRADED; empty when the bridge is usable."""
        if not self.link_up:
            why = f": {self.link_error}" if self.link_error else ""
            return [f"control link to the proxy is down{why}"]
        out = []
        if not self.synchronized:
            why = f": {self.sync_error}" if self.sync_error else ""
            out.append(f"command registry is not synchronized{why}")
        if not self._bridge_enabled:
            out.append("command bridge disabled by operator")
        return out

    def when_synchronized(self) -> defer.Deferred[None]:
        """Fires when the registry copy is (or next becomes) current.

        It fails with the refusal (a L{ControlRejected}) when the sync attempt
        in flight is refused by either side, so a waiting operator hears why.
        """
        return self.replica.when_synchronized()

    def add_observer(
        self, callback: Callable[[BackendControlLink], None]
    ) -> Callable[[], None]:
        """Call C{callback(link)} on every link or sync state change; returns remove."""
        self._observers.append(callback)

        def remove() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return remove

    def _publish(self) -> None:
        if self._gauges is not None:
            self._gauges.set_state(
                self.expected_sender_id, self.link_up, self._bridge_enabled, self.synchronized
            )
            if self.serial is not None:
                self._gauges.serial.set(self.serial)
        for callback in list(self._observers):
            callback(self)

    # Service lifecycle.

    def startService(self) -> None:
        super().startService()
        self._client.startService()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._heartbeat.running:
            self._heartbeat.stop()
        return self._client.stopService()

    def restart(self) -> defer.Deferred[None]:
        """Drop the link and connect again at once (the runbook's "restart the bridge component").

        The registry copy is marked unsynchronized on the way down, so the new
        link resyncs from scratch; the operator's bridge switch is kept.
        """
        self.log.info("control link restart requested")
        self.trouble.refused_hellos = 0
        self.replica.sync_error = ""
        d = self._client.stopService()

        def start_again(_: object) -> None:
            self.replica.mark_unsynchronized()
            if self.running:
                self._client.startService()

        return d.addCallback(start_again)

    # Bridge: what the backend asks of the proxy.

    def execute_command(self, player: str, command_line: str) -> defer.Deferred[CommandResult]:
        """Run a proxy command for C{player}; refused while unsynchronized."""
        cid = new_correlation_id()
        refusal = self._bridge_refusal("ExecuteProxyCommand", cid)
        if refusal is None and len(command_line.encode("utf-8")) > MAX_COMMAND_LINE_BYTES:
            refusal = self.peer.refuse(
                RejectReason.PAYLOAD_TOO_LARGE, "ExecuteProxyCommand", cid, self.server_id
            )
        if refusal is None and find_command(self.commands, command_name(command_line)) is None:
            refusal = self.peer.refuse(
                RejectReason.UNKNOWN_COMMAND, "ExecuteProxyCommand", cid, self.server_id
            )
        if refusal is not None:
            return defer.fail(refusal)
        assert self._protocol is not None
        d = self._protocol.call(
            ExecuteProxyCommand,
            cid,
            player=player,
            command_line=command_line,
            registry_digest=self.digest,
        )
        return d.addCallback(lambda answer: CommandResult(answer["ok"], answer["output"]))

    def request_transfer(self, player: str, server: str) -> defer.Deferred[TransferResult]:
        """Ask the proxy to move C{player} to C{server}; the result says done or why not."""
        cid = new_correlation_id()
        refusal = self._bridge_refusal("TransferPlayer", cid)
        if refusal is not None:
            return defer.fail(refusal)
        assert self._protocol is not None
        d = self._protocol.call(TransferPlayer, cid, player=player, server=server)
        return d.addCallback(lambda answer: TransferResult(answer["done"], answer["reason"]))

    def request_snapshot(self) -> defer.Deferred[None]:
        """Resync now (the runbook's "trigger registry snapshot request")."""
        if self._protocol is None:
            return defer.fail(
                self.peer.refuse(
                    RejectReason.UNSYNCHRONIZED_REGISTRY, "RequestRegistrySnapshot", "", self.server_id
                )
            )
        self.replica.mark_unsynchronized()
        waiter = self.when_synchronized()
        self._resync()
        return waiter

    def _bridge_refusal(self, message: str, cid: str) -> ControlRejected | None:
        if self.bridge_active:
            return None
        return self.peer.refuse(RejectReason.UNSYNCHRONIZED_REGISTRY, message, cid, self.server_id)

    # Connection lifecycle.

    def _say_hello(self, protocol: BackendControlProtocol) -> None:
        """Introduce ourselves; without a welcome, close and back off.

        This is not ClientService's prepareConnection: ClientService cannot
        take a disconnect while preparing, which is exactly when a TLS name
        mismatch or a proxy closing on a fatal refusal happens. Failed Hellos
        are counted into the retry policy instead, for the same capped backoff.
        """
        refused = self.trouble.refused_answer
        extra = {"refused": refused} if refused else {}
        d = protocol.call(
            Hello,
            server_id=self.server_id,
            artifact_version=self.artifact_version,
            control_version=self.control_version,
            **extra,
        )

        self.trouble.connected()

        def welcomed(answer: dict[str, Any]) -> None:
            self.trouble.welcomed()
            self._protocol = protocol
            self._heartbeat_pending = False
            if not self._heartbeat.running:
                self._heartbeat.start(self.heartbeat_interval, now=False)
            self._publish()
            self.log.info(
                "control link up to {proxy}; proxy registry at serial {serial}",
                proxy=self.expected_sender_id,
                serial=answer["serial"],
            )
            self._resync()

        def refused(failure: Failure) -> None:
            self.trouble.hello_failed(failure, protocol.answer_refused)
            self._publish()
            protocol.transport.loseConnection()

        d.addCallbacks(welcomed, refused)

    def _connect_failed(self, failure: Failure) -> None:
        self.trouble.connect_failed(failure)
        self._publish()

    def _connection_lost(self, protocol: BackendControlProtocol) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        if self._heartbeat.running:
            self._heartbeat.stop()
        self.replica.link_lost()
        self.log.warn("control link down; command bridge disabled until resynchronized")

    def _send_heartbeat(self) -> None:
        protocol = self._protocol
        if protocol is None:
            return
        if self._heartbeat_pending:
            self.log.warn("control heartbeat unanswered; reconnecting")
            protocol.transport.loseConnection()
            return
        self._heartbeat_pending = True

        def answered(answer: dict[str, Any]) -> None:
            self._heartbeat_pending = False
            if not answer["synchronized"] or answer["digest"] != self.digest:
                self.replica.mark_unsynchronized()
                self._resync()

        def failed(failure: Failure) -> None:
            self._heartbeat_pending = False
            self.log.debug("heartbeat failed: {error}", error=str(failure.value)[:200])

        protocol.call(Heartbeat, serial=self.serial or 0, digest=self.digest).addCallbacks(
            answered, failed
        )

    # Registry sync.

    def _resync(self) -> None:
        protocol = self._protocol
        replica = self.replica
        if protocol is None or replica.request is not None:
            return
        cid = new_correlation_id()
        replica.request = cid

        def finished(answer: dict[str, Any]) -> None:
            if replica.request == cid:
                replica.request = None
            if not replica.synchronized:
                self.log.warn(
                    "snapshot {serial} announced but not installed (correlation_id={correlation_id})",
                    serial=answer["serial"],
                    correlation_id=cid,
                )

        def failed(failure: Failure) -> None:
            if replica.request == cid:
                replica.request = None
            if failure.check(ControlRejected):
                self.peer.metrics.peer_reject(self.expected_sender_id, failure.value.reason.value)
                why = f"the proxy refused the snapshot request: {failure.value}"
                if failure.value.reason is RejectReason.PAYLOAD_TOO_LARGE:
                    why += (" (its registry exceeds its control_max_payload: shrink the registry or"
                            " raise control_max_payload on the proxy and every backend)")
                replica.failed(failure, why)
            self.log.warn(
                "snapshot request failed: {error} (correlation_id={correlation_id})",
                error=str(failure.value)[:200],
                correlation_id=cid,
            )

        protocol.call(RequestRegistrySnapshot, cid, known_serial=self.serial).addCallbacks(
            finished, failed
        )

    def _registry_changed(self, serial: int, digest: str) -> None:
        if not self.replica.is_current(serial, digest):
            self.replica.mark_unsynchronized()
            self._resync()


def _default_jitter() -> float:
    return int.from_bytes(os.urandom(2), "big") / 65536
