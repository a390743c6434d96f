"""The backend's verified copy of the proxy's command registry, and how it is kept current.

A snapshot arrives in signed chunks; the copy installs only a whole, digest-checked
snapshot that is newer than (or, when asked for, equal to) what it holds, so a replayed
or stale chunk never rolls it back. Whoever waits for the copy to be current hears of
the install, or of the refusal that stopped it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy.control.peer import ControlPeer
from mcproxy.control.reasons import ControlRejected, RejectReason
from mcproxy.control.registry import CommandSpec, decode_commands, payload_digest


@dataclass
class _Assembly:
    key: tuple[str, int, str, int, int]
    parts: list[bytes] = field(default_factory=list)
    size: int = 0


class RegistryReplica:
    """The registry as this backend last verified it.

    @param changed: called after every change an operator could see (sync state, serial).
    """

    def __init__(self, peer: ControlPeer, sender: str, log: Logger, changed: Callable[[], None]) -> None:
        self.peer = peer
        self.sender = sender
        self.log = log
        self._changed = changed
        self.serial: int | None = None
        self.digest = ""
        self.commands: tuple[CommandSpec, ...] = ()
        self.synchronized = False
        #: Why the last sync attempt failed, for operators ("" once a snapshot installs).
        self.sync_error = ""
        #: The correlation id of the snapshot request in flight, if any.
        self.request: str | None = None
        self._assembly: _Assembly | None = None
        self._waiters: list[defer.Deferred[None]] = []

    def when_synchronized(self) -> defer.Deferred[None]:
        """Fires when the copy is (or next becomes) current; fails with the refusal that
        stopped the sync attempt in flight, so a waiting operator hears why."""
        if self.synchronized:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiters.append(d)
        return d

    def mark_unsynchronized(self) -> None:
        if self.synchronized:
            self.synchronized = False
            self.log.info("registry unsynchronized; command bridge disabled")
        self._changed()

    def link_lost(self) -> None:
        """A snapshot half received or asked for on a lost link will never complete."""
        self.request = None
        self._assembly = None
        self.mark_unsynchronized()

    def is_current(self, serial: int, digest: str) -> bool:
        return serial == self.serial and digest == self.digest

    def failed(self, failure: Failure, why: str) -> None:
        """Remember why a sync failed and tell whoever waits for it."""
        self.sync_error = why
        self._changed()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(failure)

    def accept_chunk(self, cid: str, request_id: str, serial: int, digest: str,
                     index: int, count: int, total: int, data: bytes) -> None:
        """Take one verified chunk; install the snapshot on the last one.

        Raises L{ControlRejected} (after telling the waiters) for a chunk that is
        unsolicited, stale, out of order, oversized or does not match its digest.
        """
        def refuse(reason: RejectReason) -> ControlRejected:
            self._assembly = None
            refusal = self.peer.refuse(reason, "RegistrySnapshot", cid, self.sender)
            self.failed(Failure(refusal), f"this backend refused the proxy's snapshot: {reason.value}")
            return refusal

        solicited = bool(request_id) and request_id == self.request
        if request_id and not solicited:
            raise refuse(RejectReason.REPLAYED_SNAPSHOT)
        if self.serial is not None and (
            serial < self.serial
            or (serial == self.serial and (not solicited or digest != self.digest))
        ):
            raise refuse(RejectReason.REPLAYED_SNAPSHOT)
        if total > self.peer.max_payload or len(data) > total or count > total + 1:
            raise refuse(RejectReason.PAYLOAD_TOO_LARGE)
        key = (request_id, serial, digest, count, total)
        if index == 0:
            self._assembly = _Assembly(key)
        assembly = self._assembly
        if assembly is None or assembly.key != key or len(assembly.parts) != index:
            raise refuse(RejectReason.REPLAYED_SNAPSHOT)
        assembly.parts.append(data)
        assembly.size += len(data)
        if assembly.size > total:
            raise refuse(RejectReason.PAYLOAD_TOO_LARGE)
        if index < count - 1:
            return
        self._assembly = None
        payload = b"".join(assembly.parts)
        if len(payload) != total or payload_digest(payload) != digest:
            raise refuse(RejectReason.BAD_SIGNATURE)
        try:
            commands = decode_commands(payload)
        except ValueError:
            raise refuse(RejectReason.BAD_SIGNATURE) from None
        self._install(serial, digest, commands, cid)

    def _install(self, serial: int, digest: str, commands: tuple[CommandSpec, ...], cid: str) -> None:
        self.serial, self.digest, self.commands = serial, digest, commands
        self.synchronized = True
        self.sync_error = ""
        self._changed()
        self.log.info(
            "registry synchronized at serial {serial} ({count} commands, digest {digest})"
            " (correlation_id={correlation_id})",
            serial=serial,
            count=len(commands),
            digest=digest[:16],
            correlation_id=cid,
        )
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)
