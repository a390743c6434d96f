"""Control-plane metrics, registered on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from mcproxy.control.envelope import SecretSlot
from mcproxy.control.reasons import RejectReason


class ControlMetrics:
    """Reject counters and link gauges for one side of the control plane.

    One instance per registry: prometheus-client refuses duplicate names, which
    is what keeps two sides from silently sharing a counter.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejects = Counter(
            "mcproxy_control_rejects",
            "Control messages and bridged requests refused, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in RejectReason:
            self.rejects.labels(reason=reason.value)
        self.verified = Counter(
            "mcproxy_control_verified",
            "Control messages verified, by sender and by which secret verified them.",
            ["sender", "secret"],
            registry=registry,
        )
        self.link_up = Gauge(
            "mcproxy_control_link_up",
            "1 while the control link to or from this server is connected.",
            ["server"],
            registry=registry,
        )
        self.synchronized = Gauge(
            "mcproxy_control_synchronized",
            "1 while this server's copy of the command registry matches the proxy's.",
            ["server"],
            registry=registry,
        )
        self.registry_serial = Gauge(
            "mcproxy_control_registry_serial",
            "Serial of the command registry this side holds.",
            registry=registry,
        )

    def reject(self, reason: RejectReason) -> None:
        self.rejects.labels(reason=reason.value).inc()

    def verified_with(self, sender: str, slot: SecretSlot) -> None:
        self.verified.labels(sender=sender, secret=slot.value).inc()

    def set_link(self, server: str, up: bool, synchronized: bool) -> None:
        self.link_up.labels(server=server).set(1 if up else 0)
        self.synchronized.labels(server=server).set(1 if synchronized else 0)
