"""Reachability of the proxy's backends: from events as they happen, and periodic probes
for the gaps.

What the proxy sees is the freshest evidence: a player's connect to a backend that worked
or failed is recorded at once (:meth:`BackendProber.observe`), and a backend whose control
link came up or went down is probed at once (:meth:`BackendProber.probe_now`), so ``/health``
follows a backend within a round trip instead of up to an interval later. A probe that was
already on its way when fresher evidence arrived is dropped, never let to overwrite it.

One ``LoopingCall`` drives every backend, so a proxy with many servers keeps one timer, not one
per server; a round waits for its slowest probe (bounded by ``timeout``) before the next is
scheduled, so rounds never overlap.  A probe is a plain TCP connect, closed as soon as it
succeeds: it proves the backend's listener accepts, which is what routing needs.
"""

from __future__ import annotations

import errno

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, error
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy.ops.health import Check, CheckResult, CheckState, HealthModel
from mcproxy.ops.metrics import ProxyMetrics

#: The Minecraft default, used when a backend address names no port.
DEFAULT_PORT = 25565


def parse_address(address: str) -> tuple[str, int]:
    """Split ``"host:port"``, ``"[v6]:port"`` or a bare host into host and port.

    Raises ``ValueError`` with a message fit for a config error.
    """
    host, port = address, ""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {address!r}")
        host, rest = address[1:end], address[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"expected ':port' after ']' in {address!r}")
            port = rest[1:]
    elif address.count(":") == 1:
        host, port = address.split(":")
    if not host:
        raise ValueError(f"no host in {address!r}")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in {address!r}")
    return host, int(port)


@dataclass(frozen=True)
class ProbeResult:
    """The last probe of one backend."""

    reachable: bool
    outcome: str
    latency_ms: float | None
    detail: str
    checked_at: float
    consecutive_failures: int


class _Probe(Protocol):
    """Connects and says nothing; the prober closes it as soon as the connect succeeded."""


class _ProbeFactory(Factory):
    protocol = _Probe
    # Otherwise every probe logs "Starting factory" and "Stopping factory".
    noisy = False


_PROBE_FACTORY = _ProbeFactory()


def _timed_out(result: object, timeout: float) -> None:
    """Turn whatever a timed-out connect ended with into a timeout, closing a connection that
    won the race against the cancellation."""
    if isinstance(result, Protocol) and result.transport is not None:
        result.transport.abortConnection()
    raise defer.TimeoutError(timeout, "backend probe")


def _classify(reason: Failure) -> tuple[str, str]:
    if reason.check(error.ConnectionRefusedError):
        return "refused", "connection refused"
    if reason.check(defer.TimeoutError, error.TimeoutError):
        return "timeout", "connect timed out"
    if reason.check(error.ConnectError) and reason.value.osError == errno.ECONNRESET:
        # A backend closing its listener drops what its backlog held: it is going away.
        return "error", "connection reset"
    if reason.check(error.DNSLookupError):
        return "error", "host name not resolved"
    return "error", f"connect failed: {reason.getErrorMessage()}"


class BackendProber(Service):
    """Probes every configured backend each ``interval`` seconds.

    Feeds three consumers: ``metrics`` (up gauge, latency, outcome counter), ``health``
    (one degrading check ``backend:<name>`` per backend, if a model is given) and ``status()``,
    meant to be registered as the ``backends`` section of ``/status``.
    """

    def __init__(
        self,
        reactor: Any,
        backends: Mapping[str, str],
        metrics: ProxyMetrics,
        log: Logger,
        *,
        health: HealthModel | None = None,
        interval: float = 10.0,
        timeout: float = 3.0,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive")
        self._reactor = reactor
        self._metrics = metrics
        self._log = log
        self._health = health
        self.interval = interval
        self.timeout = timeout
        self._addresses: dict[str, tuple[str, int]] = {}
        self._results: dict[str, ProbeResult] = {}
        self._inflight: dict[str, defer.Deferred[None]] = {}
        self._loop: LoopingCall | None = None
        self.set_backends(backends)

    def set_backends(self, backends: Mapping[str, str]) -> None:
        """Replace the probed set (e.g. on reload); removed backends lose series and checks."""
        parsed = {name: parse_address(address) for name, address in backends.items()}
        for name in list(self._addresses):
            if name not in parsed:
                del self._addresses[name]
                self._results.pop(name, None)
                self._metrics.forget_backend(name)
                if self._health is not None:
                    self._health.remove_check(self._check_name(name))
        for name, address in parsed.items():
            if self._addresses.get(name) != address:
                self._results.pop(name, None)
            if name not in self._addresses and self._health is not None:
                self._health.add_check(
                    self._check_name(name), self._make_check(name), critical=False)
            self._addresses[name] = address

    @staticmethod
    def _check_name(name: str) -> str:
        return f"backend:{name}"

    def _make_check(self, name: str) -> Check:
        return lambda: self.check(name)

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self.probe_all)
        self._loop.clock = self._reactor
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: self._log.failure("backend probe loop stopped", failure=f))

    def stopService(self) -> defer.Deferred[None] | None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        for d in list(self._inflight.values()):
            d.cancel()
        return None

    def probe_all(self) -> defer.Deferred[None]:
        """Probe every backend once; fires when all have answered or timed out, never fails."""
        probes = [self._probe(name, address) for name, address in self._addresses.items()]
        done: defer.Deferred[Any] = defer.gatherResults(probes, consumeErrors=True)
        return done.addBoth(lambda _: None)

    def _endpoint(self, host: str, port: int) -> IStreamClientEndpoint:
        if isIPAddress(host):
            return TCP4ClientEndpoint(self._reactor, host, port, timeout=self.timeout)
        if isIPv6Address(host):
            return TCP6ClientEndpoint(self._reactor, host, port, timeout=self.timeout)
        return HostnameEndpoint(self._reactor, host, port, timeout=self.timeout)

    def _probe(self, name: str, address: tuple[str, int]) -> defer.Deferred[None]:
        started = self._reactor.seconds()
        d = self._endpoint(*address).connect(_PROBE_FACTORY)
        d.addTimeout(self.timeout, self._reactor, onTimeoutCancel=_timed_out)

        def connected(protocol: Protocol) -> None:
            elapsed = self._reactor.seconds() - started
            protocol.transport.loseConnection()
            self._record(name, address, "ok", elapsed, f"{elapsed * 1000:.1f} ms", started)

        def failed(reason: Failure) -> None:
            if reason.check(defer.CancelledError, error.ConnectingCancelledError):
                # Cancelled by stopService, not timed out: nothing was learned.
                return
            outcome, detail = _classify(reason)
            self._record(name, address, outcome, None, detail, started)

        def forget(_: object) -> None:
            if self._inflight.get(name) is d:
                del self._inflight[name]

        # Registered before the callbacks so a synchronous answer still unregisters it.
        self._inflight[name] = d
        d.addCallbacks(connected, failed)
        d.addBoth(forget)
        return d

    def probe_now(self, name: str) -> None:
        """Probe ``name`` at once, outside the interval: something just happened to it."""
        address = self._addresses.get(name)
        if address is not None and self.running:
            self._probe(name, address)

    def observe(self, name: str, reachable: bool, detail: str) -> None:
        """Record what a player's connect to ``name`` just proved, as a probe would."""
        address = self._addresses.get(name)
        if address is None:
            return
        now = self._reactor.seconds()
        self._record(name, address, "ok" if reachable else "error", None, detail, now, observed=True)

    def _record(
        self, name: str, address: tuple[str, int], outcome: str, seconds: float | None,
        detail: str, started: float, observed: bool = False,
    ) -> None:
        if self._addresses.get(name) != address:
            return
        previous = self._results.get(name)
        if previous is not None and previous.checked_at > started:
            # Fresher evidence arrived while this probe was on its way.
            return
        reachable = outcome == "ok"
        failures = 0 if reachable else (previous.consecutive_failures if previous else 0) + 1
        self._results[name] = ProbeResult(
            reachable=reachable,
            outcome=outcome,
            latency_ms=None if seconds is None else round(seconds * 1000, 3),
            detail=detail,
            checked_at=self._reactor.seconds(),
            consecutive_failures=failures,
        )
        if observed:
            self._metrics.backend_up.labels(name).set(1 if reachable else 0)
        else:
            self._metrics.record_probe(name, outcome, seconds)
        if previous is None or previous.reachable != reachable:
            if reachable:
                self._log.info("backend {server} reachable ({detail})", server=name, detail=detail)
            else:
                self._log.warn(
                    "backend {server} unreachable: {reason}", server=name, reason=detail)

    def result(self, name: str) -> ProbeResult | None:
        """The last probe of backend ``name``, or ``None`` before its first probe ends."""
        return self._results.get(name)

    def check(self, name: str) -> CheckResult:
        """Health of backend ``name``: OK when its last probe connected."""
        if name not in self._addresses:
            return CheckResult(CheckState.FAILED, "not a configured backend")
        result = self._results.get(name)
        if result is None:
            return CheckResult(CheckState.DEGRADED, "not probed yet")
        if result.reachable:
            return CheckResult(CheckState.OK, result.detail)
        return CheckResult(CheckState.FAILED, result.detail)

    def status(self) -> dict[str, Any]:
        """The ``backends`` section of ``/status``."""
        out: dict[str, Any] = {}
        for name, (host, port) in self._addresses.items():
            result = self._results.get(name)
            out[name] = {
                "address": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "reachable": None if result is None else result.reachable,
                "outcome": None if result is None else result.outcome,
                "latency_ms": None if result is None else result.latency_ms,
                "detail": "not probed yet" if result is None else result.detail,
                "checked_at": None if result is None else result.checked_at,
                "consecutive_failures": 0 if result is None else result.consecutive_failures,
            }
        return out
