"""The proxy's end of the control plane: a server factory for [messaging].

Backends connect, say Hello, fetch the registry and heartbeat with its digest;
the proxy tracks, per server id, whether the link is up and whether that
backend's copy is current, and pushes a new snapshot when the registry
changes. The caller builds the listening endpoint (tcp:, ssl:, unix:).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
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
from mcproxy.control.metrics import ProxyControlGauges
from mcproxy.control.peer import ControlPeer, ControlProtocol
from mcproxy.control.reasons import ControlRejected, RejectReason
from mcproxy.control.registry import command_name, payload_digest, split_chunks
from mcproxy.control.results import CommandResult, TransferResult
from mcproxy.interfaces import ICommandRegistry, IPlayerDirectory

DEFAULT_CHUNK_SIZE = 60000
DEFAULT_LINK_TIMEOUT = 35.0


@dataclass
class LinkState:
    """What the proxy knows about one backend's control link."""

    server_id: str
    link_up: bool = False
    synchronized: bool = False
    serial: int | None = None
    digest: str = ""
    last_heartbeat: float | None = None
    #: Versions the backend announced in its last verified Hello, accepted or not.
    artifact_version: str | None = None
    control_version: int | None = None
    #: Why its last verified Hello was refused ("" once one is accepted).
    refused: str = ""
    #: Why the last Hello claiming this id was refused, verified or not, and when.
    hello_refused: str = ""
    hello_refused_at: float | None = None
    #: The reason the backend says it refuses our messages ("" once it accepts them).
    peer_refusal: str = ""
    #: Why its copy is not current when the proxy knows (a snapshot refused at encode).
    sync_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "link_up": self.link_up,
            "synchronized": self.synchronized,
            "serial": self.serial,
            "digest": self.digest,
            "last_heartbeat": self.last_heartbeat,
            "artifact_version": self.artifact_version,
            "control_version": self.control_version,
            "refused": self.refused,
            "hello_refused": self.hello_refused,
            "hello_refused_at": self.hello_refused_at,
            "peer_refusal": self.peer_refusal,
            "sync_error": self.sync_error,
        }


@dataclass(frozen=True)
class EncodedSnapshot:
    serial: int
    digest: str
    chunks: list[bytes]
    total: int


class ProxyControlProtocol(ControlProtocol, TimeoutMixin):
    """One backend's connection; bound to its server id by Hello.

    A connection that sends no verified message for C{link_timeout} seconds
    (backends heartbeat well within it) is closed, so a backend that vanished
    without a FIN does not look linked forever.
    """

    factory: ControlServerFactory

    def __init__(self, factory: ControlServerFactory) -> None:
        super().__init__()
        self.factory = factory
        self.peer = factory.peer
        self.server_id: str | None = None
        self.callLater = factory.clock.callLater

    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.live.add(self)
        self.setTimeout(self.factory.link_timeout)

    def timeoutConnection(self) -> None:
        self.peer.log.warn(
            "control link from {server} silent for {timeout}s; closing",
            server=self.server_id or "an unidentified backend",
            timeout=self.factory.link_timeout,
        )
        self.transport.loseConnection()

    def check_request(self, command: type[Any], envelope: Envelope) -> str:
        probe = self.peer.is_probe(envelope.correlation_id)
        try:
            sender = super().check_request(command, envelope)
        except ControlRejected as refusal:
            # An armed probe's refusal says nothing about the backend whose id it borrowed.
            if command is Hello and not probe:
                self.factory.hello_refused(envelope.sender_id, refusal.reason)
            raise
        self.resetTimeout()
        return sender

    def expected_senders(self) -> Container[str]:
        if self.server_id is not None:
            return (self.server_id,)
        return self.factory.backend_ids

    def _check_linked(self, command: type[Any], envelope: Envelope) -> str:
        if self.server_id is None:
            raise self.peer.refuse(
                RejectReason.UNEXPECTED_SENDER,
                command.commandName.decode("ascii"),
                envelope.correlation_id,
                envelope.sender_id,
            )
        return self.check_request(command, envelope)

    def connectionLost(self, reason: Failure) -> None:
        self.setTimeout(None)
        super().connectionLost(reason)
        self.factory.live.discard(self)
        self.factory.link_lost(self)

    @Hello.responder
    def hello(
        self,
        envelope: Envelope,
        server_id: str,
        artifact_version: str,
        control_version: int,
        refused: str | None = None,
    ) -> dict[str, Any]:
        sender = self.check_request(Hello, envelope)
        cid = envelope.correlation_id
        if server_id != sender:
            self.factory.hello_refused(sender, RejectReason.UNEXPECTED_SENDER)
            raise self.peer.refuse(RejectReason.UNEXPECTED_SENDER, "Hello", cid, sender)
        if self.peer.is_probe(cid):
            # An operator's probe under a real backend's id: refused, and that backend's
            # recorded state (announced versions, refusals) is left alone.
            if control_version != CONTROL_PROTOCOL_VERSION or artifact_version != __version__:
                raise self.peer.refuse(RejectReason.VERSION_MISMATCH, "Hello", cid, sender)
        link = self.factory.links[sender]
        link.artifact_version, link.control_version = artifact_version, control_version
        if control_version != CONTROL_PROTOCOL_VERSION or artifact_version != __version__:
            link.refused = RejectReason.VERSION_MISMATCH.value
            self.factory.hello_refused(sender, RejectReason.VERSION_MISMATCH)
            raise self.peer.refuse(RejectReason.VERSION_MISMATCH, "Hello", cid, sender)
        link.refused = link.hello_refused = ""
        if refused:
            self.factory.peer_refuses(sender, refused)
        self.server_id = sender
        self.factory.link_made(self)
        registry = self.factory.registry
        return {
            "envelope": cid,
            "artifact_version": __version__,
            "control_version": CONTROL_PROTOCOL_VERSION,
            "serial": registry.serial,
            "digest": registry.digest,
        }

    @RequestRegistrySnapshot.responder
    def request_snapshot(self, envelope: Envelope, known_serial: int | None) -> dict[str, Any]:
        sender = self._check_linked(RequestRegistrySnapshot, envelope)
        cid = envelope.correlation_id
        snapshot = self.factory.encode_snapshot(cid, sender)
        self.send_snapshot(snapshot, request_id=cid)
        return {
            "envelope": cid,
            "serial": snapshot.serial,
            "digest": snapshot.digest,
            "count": len(snapshot.chunks),
        }

    def send_snapshot(self, snapshot: EncodedSnapshot, request_id: str = "") -> defer.Deferred[None]:
        """Send every chunk; fires once the backend accepted them all."""
        cid = request_id or new_correlation_id()
        calls = [
            self.call(
                RegistrySnapshot,
                cid,
                request_id=request_id,
                serial=snapshot.serial,
                digest=snapshot.digest,
                index=index,
                count=len(snapshot.chunks),
                total=snapshot.total,
                data=chunk,
            )
            for index, chunk in enumerate(snapshot.chunks)
        ]
        done = defer.gatherResults(calls, consumeErrors=True)

        def accepted(_: object) -> None:
            if self.server_id is not None:
                self.factory.mark_synchronized(self.server_id, snapshot.serial, snapshot.digest)

        def refused(failure: Failure) -> None:
            error = failure.value.subFailure
            if error.check(ControlRejected) and self.server_id is not None:
                self.factory.peer_refuses(self.server_id, error.value.reason.value)
            self.peer.log.info(
                "snapshot {serial} not accepted by {server}: {error}"
                " (correlation_id={correlation_id})",
                serial=snapshot.serial,
                server=self.server_id,
                error=str(error.value),
                correlation_id=cid,
            )

        done.addCallbacks(accepted, refused)
        return done

    @Heartbeat.responder
    def heartbeat(self, envelope: Envelope, serial: int, digest: str) -> dict[str, Any]:
        sender = self._check_linked(Heartbeat, envelope)
        registry = self.factory.registry
        in_sync = self.factory.record_heartbeat(sender, serial, digest)
        if not in_sync:
            self.call(RegistryChanged, serial=registry.serial, digest=registry.digest).addErrback(
                self._ignore_lost
            )
        return {
            "envelope": envelope.correlation_id,
            "serial": registry.serial,
            "digest": registry.digest,
            "synchronized": in_sync,
        }

    @ExecuteProxyCommand.responder
    def execute(
        self, envelope: Envelope, player: str, command_line: str, registry_digest: str
    ) -> defer.Deferred[dict[str, Any]]:
        sender = self._check_linked(ExecuteProxyCommand, envelope)
        cid = envelope.correlation_id
        factory = self.factory
        if registry_digest != factory.registry.digest or not factory.links[sender].synchronized:
            raise self.peer.refuse(
                RejectReason.UNSYNCHRONIZED_REGISTRY, "ExecuteProxyCommand", cid, sender
            )
        if factory.registry.lookup(command_name(command_line)) is None:
            raise self.peer.refuse(RejectReason.UNKNOWN_COMMAND, "ExecuteProxyCommand", cid, sender)
        if not factory.directory.has_player(player):
            raise self.peer.refuse(RejectReason.UNKNOWN_PLAYER, "ExecuteProxyCommand", cid, sender)
        d = defer.maybeDeferred(factory.directory.execute, player, command_line)
        d.addErrback(self._internal_error, cid, CommandResult(False, "internal error"))
        return d.addCallback(
            lambda result: {"envelope": cid, "ok": result.ok, "output": _bounded(result.output)}
        )

    @TransferPlayer.responder
    def transfer(
        self, envelope: Envelope, player: str, server: str
    ) -> defer.Deferred[dict[str, Any]]:
        sender = self._check_linked(TransferPlayer, envelope)
        cid = envelope.correlation_id
        d = self.factory.transfer(player, server, cid, sender)
        d.addErrback(self._internal_error, cid, TransferResult(False, "internal error"))
        return d.addCallback(
            lambda result: {"envelope": cid, "done": result.done, "reason": _bounded(result.reason)}
        )

    def _internal_error(self, failure: Failure, cid: str, answer: Any) -> Any:
        """Answer a failure of ours as "not done" instead of AMP's fatal unknown error."""
        failure.trap(Exception)
        if failure.check(ControlRejected):
            return failure
        self.peer.log.failure(
            "bridged request failed (correlation_id={correlation_id})", failure, correlation_id=cid
        )
        return answer

    def _ignore_lost(self, failure: Failure) -> None:
        self.peer.log.debug("control push not answered: {error}", error=str(failure.value))


_HINTS = {
    "BAD_SIGNATURE": " (proxy_secret / proxy_secret_previous differ between the two sides)",
    "UNEXPECTED_SENDER": " (control_expected_sender_id on the backend is not our control_sender_id {sender!r})",
    "VERSION_MISMATCH": " (the two sides run different releases or control protocols)",
    "INVALID_TIMESTAMP": " (the clocks differ by more than control_max_clock_skew)",
    "PAYLOAD_TOO_LARGE": " (control_max_payload differs between the two sides or is too small)",
}


def _hint(reason: str, sender: str) -> str:
    """Where an operator looks for a refusal's cause (names only, never a value)."""
    return _HINTS.get(reason, "").format(sender=sender)


def _bounded(text: str, limit: int = 32767) -> str:
    """Text that fits one AMP value whatever the directory returned."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


class ControlServerFactory(Factory):
    """Builds one L{ProxyControlProtocol} per backend connection.

    @param backend_ids: server ids allowed to link (the proxy's [servers]).
    @param registry: the command registry backends mirror.
    @param directory: players and servers, and the transfer/command actions.
    @param state_gauges: export link and sync gauges on C{metrics_registry};
        False when the process's own metrics already export them.
    """

    def __init__(
        self,
        sender_id: str,
        proxy_secret: bytes,
        backend_ids: Iterable[str],
        registry: ICommandRegistry,
        directory: IPlayerDirectory,
        clock: IReactorTime,
        metrics_registry: CollectorRegistry,
        log: Logger,
        proxy_secret_previous: bytes | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
        replay_capacity: int = DEFAULT_REPLAY_CAPACITY,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        link_timeout: float = DEFAULT_LINK_TIMEOUT,
        random_bytes: Callable[[int], bytes] | None = None,
        state_gauges: bool = True,
    ) -> None:
        extra = {} if random_bytes is None else {"random_bytes": random_bytes}
        self.peer = ControlPeer(
            sender_id,
            proxy_secret,
            proxy_secret_previous,
            clock,
            metrics_registry,
            log,
            max_payload,
            max_clock_skew,
            replay_capacity,
            **extra,
        )
        self._gauges = ProxyControlGauges(metrics_registry) if state_gauges else None
        self.clock = clock
        self.backend_ids = frozenset(backend_ids)
        self.registry = registry
        self.directory = directory
        self.chunk_size = chunk_size
        self.link_timeout = link_timeout
        self.links: dict[str, LinkState] = {s: LinkState(s) for s in sorted(self.backend_ids)}
        self._connections: dict[str, ProxyControlProtocol] = {}
        #: Every open connection, linked or still saying Hello.
        self.live: set[ProxyControlProtocol] = set()
        self._observers: list[Callable[[LinkState], None]] = []
        for server_id in self.backend_ids:
            self._publish(server_id)
        self._publish_serial()
        self._unsubscribe: Callable[[], None] | None = None
        self._pending_push: IDelayedCall | None = None
        self.startFactory()

    @property
    def log(self) -> Logger:
        return self.peer.log

    def buildProtocol(self, addr: IAddress) -> ProxyControlProtocol:
        return ProxyControlProtocol(self)

    def startFactory(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.registry.subscribe(self.registry_changed)

    def stopFactory(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pending_push is not None and self._pending_push.active():
            self._pending_push.cancel()
        self._pending_push = None

    def add_observer(self, callback: Callable[[LinkState], None]) -> Callable[[], None]:
        """Call C{callback(link_state)} whenever a backend link changes; returns remove."""
        self._observers.append(callback)

        def remove() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return remove

    def _publish_serial(self) -> None:
        if self._gauges is not None:
            self._gauges.serial.set(self.registry.serial)

    def _publish(self, server_id: str) -> None:
        link = self.links[server_id]
        if self._gauges is not None:
            self._gauges.set_backend(server_id, link.link_up, link.synchronized)
        for callback in list(self._observers):
            callback(link)

    def drop_links(self) -> int:
        """Close every control connection (restarting messaging); returns how many."""
        connections = list(self.live)
        for link in self.links.values():
            link.sync_error = ""
        for protocol in connections:
            protocol.transport.loseConnection()
        return len(connections)

    def link_made(self, protocol: ProxyControlProtocol) -> None:
        """A backend said Hello; an older connection for the same id is replaced."""
        assert protocol.server_id is not None
        server_id = protocol.server_id
        old = self._connections.get(server_id)
        self._connections[server_id] = protocol
        if old is not None and old is not protocol:
            old.server_id = None
            old.transport.loseConnection()
        link = self.links[server_id]
        link.link_up = True
        link.synchronized = False
        self._publish(server_id)
        # While the backend refuses us, its retries are not news: the refusal was logged once.
        level = self.log.debug if link.peer_refusal else self.log.info
        level("control link up: {server}", server=server_id)

    def link_lost(self, protocol: ProxyControlProtocol) -> None:
        server_id = protocol.server_id
        if server_id is None or self._connections.get(server_id) is not protocol:
            return
        del self._connections[server_id]
        link = self.links[server_id]
        link.link_up = False
        link.synchronized = False
        self._publish(server_id)
        level = self.log.debug if link.peer_refusal else self.log.info
        level("control link down: {server}", server=server_id)

    def mark_synchronized(self, server_id: str, serial: int, digest: str) -> None:
        link = self.links[server_id]
        link.serial, link.digest = serial, digest
        link.synchronized = serial == self.registry.serial and digest == self.registry.digest
        if link.synchronized:
            link.sync_error = ""
            if link.peer_refusal:
                link.peer_refusal = ""
                self.log.info("{server} accepts our messages again", server=server_id)
        self._publish(server_id)

    def hello_refused(self, claimed: str, reason: RejectReason) -> None:
        """Note a refused Hello under the server id it claimed (unverified unless the
        refusal came after the signature check), so /health can say why a link is down."""
        link = self.links.get(claimed)
        if link is None:
            return
        link.hello_refused = reason.value
        link.hello_refused_at = self.clock.seconds()
        self._publish(claimed)

    def peer_refuses(self, server_id: str, reason: str) -> None:
        """A backend told us it refused one of our messages: count it, log it once per change."""
        link = self.links[server_id]
        name = reason if reason in RejectReason.__members__ else "UNKNOWN_COMMAND"
        self.peer.metrics.peer_reject(server_id, name)
        if link.peer_refusal != name:
            self.log.warn(
                "{server} refuses our control messages: {reason}{hint}",
                server=server_id,
                reason=name,
                hint=_hint(name, self.peer.sender_id),
            )
        link.peer_refusal = name
        self._publish(server_id)

    def record_heartbeat(self, server_id: str, serial: int, digest: str) -> bool:
        """Note a backend's digest; True when it matches ours."""
        link = self.links[server_id]
        link.last_heartbeat = self.clock.seconds()
        self.mark_synchronized(server_id, serial, digest)
        return link.synchronized

    def is_synchronized(self, server_id: str) -> bool:
        link = self.links.get(server_id)
        return link is not None and link.synchronized

    def encode_snapshot(self, correlation_id: str = "", server_id: str = "") -> EncodedSnapshot:
        """The registry split into chunks; PAYLOAD_TOO_LARGE past max_payload.

        The refusal is ours, of our own message: it is logged as such, and each
        backend that will not get the snapshot is marked with why.
        """
        payload = self.registry.encoded()
        if len(payload) > self.peer.max_payload:
            correlation_id = correlation_id or new_correlation_id()
            why = (
                f"snapshot refused at encode: PAYLOAD_TOO_LARGE (registry {len(payload)} bytes,"
                f" control_max_payload {self.peer.max_payload}; shrink the registry or raise"
                " control_max_payload on the proxy and every backend)"
            )
            for name in [server_id] if server_id else list(self._connections):
                self.links[name].sync_error = why
                self._publish(name)
            raise self.peer.refuse_outgoing(
                RejectReason.PAYLOAD_TOO_LARGE,
                "RegistrySnapshot",
                correlation_id,
                server_id or "every linked backend",
                f"registry {len(payload)} bytes, control_max_payload {self.peer.max_payload}",
            )
        return EncodedSnapshot(
            serial=self.registry.serial,
            digest=payload_digest(payload),
            chunks=split_chunks(payload, self.chunk_size),
            total=len(payload),
        )

    def registry_changed(self) -> None:
        """Mark every backend stale and push the new snapshot on the next turn.

        Changes made in one go (a plugin registering fifty commands) become
        one push per backend instead of fifty.
        """
        self._publish_serial()
        for server_id in self._connections:
            self.links[server_id].synchronized = False
            self._publish(server_id)
        if self._pending_push is None or not self._pending_push.active():
            self._pending_push = self.clock.callLater(0, self._push_to_all)

    def _push_to_all(self) -> None:
        self._pending_push = None
        try:
            snapshot = self.encode_snapshot(new_correlation_id())
        except ControlRejected:
            return
        for protocol in list(self._connections.values()):
            protocol.send_snapshot(snapshot)

    def push_snapshot(self, server_id: str) -> defer.Deferred[None]:
        """Send the current snapshot to one backend (an operator's resync)."""
        protocol = self._connections.get(server_id)
        if protocol is None:
            return defer.fail(self.peer.refuse(RejectReason.UNKNOWN_SERVER, "push_snapshot"))
        try:
            snapshot = self.encode_snapshot(new_correlation_id(), server_id)
        except ControlRejected:
            return defer.fail()
        return protocol.send_snapshot(snapshot)

    def transfer(
        self, player: str, server: str, correlation_id: str = "", requester: str = ""
    ) -> defer.Deferred[TransferResult]:
        """Move a player, whoever asked (a backend, mcproxyctl, the proxy itself)."""
        correlation_id = correlation_id or new_correlation_id()
        requester = requester or self.peer.sender_id
        if not self.directory.has_player(player):
            return defer.fail(
                self.peer.refuse(RejectReason.UNKNOWN_PLAYER, "TransferPlayer", correlation_id, requester)
            )
        if not self.directory.has_server(server):
            return defer.fail(
                self.peer.refuse(RejectReason.UNKNOWN_SERVER, "TransferPlayer", correlation_id, requester)
            )
        self.log.info(
            "transfer {player} to {server} for {requester} (correlation_id={correlation_id})",
            player=player,
            server=server,
            requester=requester,
            correlation_id=correlation_id,
        )
        return defer.maybeDeferred(self.directory.transfer, player, server)

    def execute(self, player: str, command_line: str) -> defer.Deferred[CommandResult]:
        """Run a proxy command for a player through the same checks backends get."""
        if self.registry.lookup(command_name(command_line)) is None:
            return defer.fail(self.peer.refuse(RejectReason.UNKNOWN_COMMAND, "execute"))
        if not self.directory.has_player(player):
            return defer.fail(self.peer.refuse(RejectReason.UNKNOWN_PLAYER, "execute"))
        return defer.maybeDeferred(self.directory.execute, player, command_line)

    def problems(self) -> list[str]:
        """Why /health should say DEGRADED, one line per backend link."""
        out = []
        sender = self.peer.sender_id
        for server_id, link in sorted(self.links.items()):
            if link.peer_refusal:
                out.append(f"{server_id} refuses us: {link.peer_refusal}{_hint(link.peer_refusal, sender)}")
            elif not link.link_up and link.hello_refused:
                out.append(
                    f"control link from {server_id} is down: its Hello was refused:"
                    f" {link.hello_refused}{_hint(link.hello_refused, sender)}"
                )
            elif not link.link_up:
                out.append(f"control link from {server_id} is down")
            elif not link.synchronized:
                why = f": {link.sync_error}" if link.sync_error else ""
                out.append(f"{server_id} registry is not synchronized{why}")
        return out

    def settled(self) -> bool:
        """Whether every link reached its state: synchronized, or known to fail for a reason
        (a snapshot refused at encode), so a restart stops waiting for what cannot come."""
        return all(link.link_up and (link.synchronized or link.sync_error) for link in self.links.values())

    def status(self) -> dict[str, Any]:
        """For /status: links, registry serial/digest, and secret use per sender."""
        return {
            "registry": {"serial": self.registry.serial, "digest": self.registry.digest},
            "links": {s: link.as_dict() for s, link in sorted(self.links.items())},
            "secret_usage": self.peer.secret_usage(),
            "secret_last_seen": self.peer.secret_last_seen(),
        }
