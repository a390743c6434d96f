"""Control-plane metrics, registered on a registry the caller owns.

The control plane always owns C{mcproxy_control_rejects_total{reason}} and
C{mcproxy_control_verified_total{sender,secret}}. The link and sync gauges use
the names the operations layer's C{ProxyMetrics}/C{BackendMetrics} export; a
process that already has those passes C{state_gauges=False} to the factory or
link and feeds its own gauges from C{add_observer}, since one registry cannot
hold a name twice.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from mcproxy.control.envelope import SecretSlot
from mcproxy.control.reasons import RejectReason


class ControlMetrics:
    """Refusals by reason and verified messages by sender and secret."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejects = Counter(
            "mcproxy_control_rejects",
            "Control messages and bridged requests refused, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in RejectReason:
            self.rejects.labels(reason=reason.value)
        self.probe_rejects = Counter(
            "mcproxy_control_probe_rejects",
            "Deliberately bad control messages of an operator's armed probe (mcproxyctl smoke),"
            " refused as expected, by reason; never counted in mcproxy_control_rejects_total.",
            ["reason"],
            registry=registry,
        )
        self.peer_rejects = Counter(
            "mcproxy_control_peer_rejects",
            "Our control messages the peer told us it refused, by peer and reason.",
            ["peer", "reason"],
            registry=registry,
        )
        self.verified = Counter(
            "mcproxy_control_verified",
            "Control messages verified, by sender and by which secret verified them.",
            ["sender", "secret"],
            registry=registry,
        )

    def reject(self, reason: RejectReason) -> None:
        self.rejects.labels(reason=reason.value).inc()

    def probe_reject(self, reason: RejectReason) -> None:
        self.probe_rejects.labels(reason=reason.value).inc()

    def peer_reject(self, peer: str, reason: str) -> None:
        self.peer_rejects.labels(peer=peer, reason=reason).inc()

    def verified_with(self, sender: str, slot: SecretSlot) -> None:
        self.verified.labels(sender=sender, secret=slot.value).inc()


class ProxyControlGauges:
    """The proxy's view of each backend link."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.link_up = Gauge(
            "mcproxy_control_link_up",
            "1 while the control link to the backend is connected.",
            ["peer"],
            registry=registry,
        )
        self.synchronized = Gauge(
            "mcproxy_registry_synchronized",
            "1 while the backend holds the proxy's current command registry.",
            ["peer"],
            registry=registry,
        )
        self.serial = Gauge(
            "mcproxy_registry_serial",
            "Serial of the proxy's current command registry.",
            registry=registry,
        )

    def set_backend(self, peer: str, up: bool, synchronized: bool) -> None:
        self.link_up.labels(peer=peer).set(1 if up else 0)
        self.synchronized.labels(peer=peer).set(1 if synchronized else 0)


class BackendControlGauges:
    """The backend's view of its link to the proxy and of its command bridge."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.link_up = Gauge(
            "mcproxy_control_link_up",
            "1 while the control link to the proxy is connected.",
            ["peer"],
            registry=registry,
        )
        self.bridge_enabled = Gauge(
            "mcproxy_bridge_enabled",
            "1 if the proxy command bridge is enabled.",
            registry=registry,
        )
        self.bridge_synchronized = Gauge(
            "mcproxy_bridge_synchronized",
            "1 while the backend holds a verified, current copy of the proxy's command registry.",
            registry=registry,
        )
        self.serial = Gauge(
            "mcproxy_registry_serial",
            "Serial of the command registry copy this backend holds.",
            registry=registry,
        )

    def set_state(self, peer: str, up: bool, enabled: bool, synchronized: bool) -> None:
        self.link_up.labels(peer=peer).set(1 if up else 0)
        self.bridge_enabled.set(1 if enabled else 0)
        self.bridge_synchronized.set(1 if synchronized else 0)
