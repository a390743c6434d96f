"""Proxy and backend sides talking over in-memory connections on a Clock."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from twisted.internet.defer import succeed
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.logger import Logger, formatEvent
from twisted.protocols import amp
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mcproxy.control.backend_side import BackendControlLink
from mcproxy.control.commands import (
    ExecuteProxyCommand,
    Heartbeat,
    Hello,
    RequestRegistrySnapshot,
)
from mcproxy.control.peer import ControlPeer, ControlProtocol
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.reasons import (
    BadSignature,
    InvalidTimestamp,
    PayloadTooLarge,
    RejectReason,
    ReplayedNonce,
    UnexpectedSender,
    UnknownCommand,
    UnknownPlayer,
    UnknownServer,
    UnsynchronizedRegistry,
    VersionMismatch,
)
from mcproxy.control.registry import CommandRegistry, CommandSpec, encode_commands
from mcproxy.control.results import CommandResult, TransferResult
from mcproxy.interfaces import ICommandRegistry, IPlayerDirectory
from mcproxy.testing import InMemoryPlayerDirectory, LoopbackEndpoint

SECRET = b"link-test-secret-current-0123456789"
OLD_SECRET = b"link-test-secret-previous-987654321"
START = 1_700_000_000.0


def rejects(registry: CollectorRegistry, reason: RejectReason) -> float:
    value = registry.get_sample_value("mcproxy_control_rejects_total", {"reason": reason.value})
    return value or 0.0


def total_rejects(registry: CollectorRegistry) -> float:
    return sum(rejects(registry, r) for r in RejectReason)


def gauge(registry: CollectorRegistry, name: str, peer: str | None = None) -> float | None:
    return registry.get_sample_value(name, {"peer": peer} if peer else {})


def registry_of_size(size: int, serial: int = 100) -> CommandRegistry:
    """A registry whose encoded snapshot is exactly C{size} bytes."""
    base = len(encode_commands([CommandSpec("big")]))
    return CommandRegistry([CommandSpec("big", description="x" * (size - base))], serial)


class Network:
    """One proxy factory and one backend link, wired through a LoopbackEndpoint."""

    def __init__(
        self,
        registry: CommandRegistry | None = None,
        proxy_kw: dict[str, Any] | None = None,
        link_kw: dict[str, Any] | None = None,
        backend_clock: Clock | None = None,
    ) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.events: list[dict[str, Any]] = []
        self.log = Logger(observer=self.events.append)
        self.registry = registry or CommandRegistry(
            [CommandSpec("hub", "Back to the hub"), CommandSpec("server", aliases=("srv",))],
            initial_serial=100,
        )
        self.directory = InMemoryPlayerDirectory(
            {"alice": "lobby", "bob": "games"}, servers=["lobby", "games"]
        )
        self.proxy_metrics = CollectorRegistry()
        self.backend_metrics = CollectorRegistry()
        self.factory = self.make_factory(self.registry, **(proxy_kw or {}))
        self.endpoint = LoopbackEndpoint(self.factory, self.clock)
        options: dict[str, Any] = {"retry_jitter": lambda: 0.0}
        options.update(link_kw or {})
        self.link = BackendControlLink(
            options.pop("server_id", "lobby"),
            options.pop("proxy_secret", SECRET),
            self.endpoint,
            backend_clock or self.clock,
            self.backend_metrics,
            self.log,
            **options,
        )

    def make_factory(self, registry: CommandRegistry, **kw: Any) -> ControlServerFactory:
        options: dict[str, Any] = {"proxy_secret": SECRET}
        options.update(kw)
        metrics = options.pop("metrics_registry", self.proxy_metrics)
        return ControlServerFactory(
            options.pop("sender_id", "proxy"),
            options.pop("proxy_secret"),
            options.pop("backend_ids", ["lobby", "games"]),
            registry,
            self.directory,
            self.clock,
            metrics,
            self.log,
            **options,
        )

    def start(self) -> None:
        self.link.startService()
        self.endpoint.flush()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.endpoint.flush()

    def result(self, d: Any) -> Any:
        self.endpoint.flush()
        return d

    def log_text(self) -> str:
        return "\n".join(formatEvent(e) for e in self.events)


class RawBackend(ControlProtocol):
    """A hand-driven backend connection, for sending exactly what a test wants."""

    def __init__(self, peer: ControlPeer, expected: tuple[str, ...] = ("proxy",)) -> None:
        super().__init__()
        self.peer = peer
        self.expected = expected

    def expected_senders(self) -> tuple[str, ...]:
        return self.expected


class HangUp(Protocol):
    """A server that closes the connection as soon as anything arrives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.loseConnection()


class LinkTestCase(SynchronousTestCase):
    def network(self, **kw: Any) -> Network:
        net = Network(**kw)
        self.addCleanup(net.link.stopService)
        return net

    def raw(
        self,
        net: Network,
        sender: str = "lobby",
        secret: bytes = SECRET,
        clock: Clock | None = None,
        **kw: Any,
    ) -> tuple[RawBackend, iosim.IOPump]:
        peer = ControlPeer(sender, secret, None, clock or net.clock, CollectorRegistry(), net.log, **kw)
        client = RawBackend(peer)
        server = net.factory.buildProtocol(None)
        pump = iosim.connect(
            server,
            iosim.makeFakeServer(server),
            client,
            iosim.makeFakeClient(client),
            greet=False,
            clock=net.clock,
        )
        return client, pump

    def hello(self, client: RawBackend, pump: iosim.IOPump, server_id: str = "lobby") -> Any:
        d = client.call(
            Hello, server_id=server_id, artifact_version="0.4.0", control_version=1
        )
        pump.flush()
        return d


class SyncTests(LinkTestCase):
    def test_interfaces(self) -> None:
        """The shipped registry and fake directory provide the interfaces the factory needs."""
        verifyObject(ICommandRegistry, CommandRegistry())
        verifyObject(IPlayerDirectory, InMemoryPlayerDirectory())

    def test_connect_hello_snapshot_synchronized(self) -> None:
        """On connect the backend says Hello, fetches the registry and marks itself synchronized."""
        net = self.network()
        self.assertFalse(net.link.synchronized)
        net.start()
        self.assertTrue(net.link.link_up)
        self.assertTrue(net.link.synchronized)
        self.assertEqual(net.link.serial, net.registry.serial)
        self.assertEqual(net.link.digest, net.registry.digest)
        self.assertEqual([c.name for c in net.link.commands], ["hub", "server"])
        self.assertTrue(net.factory.links["lobby"].synchronized)
        self.assertEqual(gauge(net.proxy_metrics, "mcproxy_control_link_up", "lobby"), 1)
        self.assertEqual(gauge(net.proxy_metrics, "mcproxy_registry_synchronized", "lobby"), 1)
        self.assertEqual(gauge(net.proxy_metrics, "mcproxy_registry_serial"), 100)
        self.assertEqual(gauge(net.proxy_metrics, "mcproxy_control_link_up", "games"), 0)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_control_link_up", "proxy"), 1)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_bridge_synchronized"), 1)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_bridge_enabled"), 1)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_registry_serial"), 100)
        self.assertEqual(total_rejects(net.proxy_metrics), 0)
        self.assertEqual(total_rejects(net.backend_metrics), 0)

    def test_registry_change_pushes_newer_snapshot(self) -> None:
        """A change on the proxy reaches the backend without it asking."""
        net = self.network()
        net.start()
        net.registry.register(CommandSpec("lobby", "Go to the lobby"))
        net.endpoint.flush()
        self.assertEqual(net.link.serial, 101)
        self.assertIn("lobby", [c.name for c in net.link.commands])
        self.assertTrue(net.link.synchronized)
        self.assertTrue(net.factory.links["lobby"].synchronized)

    def test_burst_of_changes_is_one_push(self) -> None:
        """Many changes in one turn reach the backend as a single newer snapshot."""
        net = self.network()
        net.start()
        installed: list[int | None] = []
        net.link.add_observer(lambda link: installed.append(link.serial) if link.synchronized else None)
        for i in range(20):
            net.registry.register(CommandSpec(f"cmd{i}"))
        net.endpoint.flush()
        self.assertEqual(installed, [120])
        self.assertEqual(len(net.link.commands), 22)

    def test_digest_mismatch_forces_resync(self) -> None:
        """A heartbeat whose digest differs from the proxy's makes the backend resync."""
        net = self.network(link_kw={"heartbeat_interval": 5.0})
        net.start()
        net.factory.stopFactory()
        net.registry.register(CommandSpec("quiet", "changed without a push"))
        net.endpoint.flush()
        self.assertNotEqual(net.link.digest, net.registry.digest)
        net.advance(5.0)
        self.assertEqual(net.link.digest, net.registry.digest)
        self.assertTrue(net.link.synchronized)
        self.assertTrue(net.factory.links["lobby"].synchronized)

    def test_operator_requested_snapshot(self) -> None:
        """request_snapshot resyncs on demand, even at an unchanged serial."""
        net = self.network()
        net.start()
        d = net.link.request_snapshot()
        net.endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertTrue(net.link.synchronized)
        self.assertEqual(total_rejects(net.backend_metrics), 0)

    def test_reconnect_and_resync_after_proxy_restart(self) -> None:
        """The link survives the proxy going away and syncs the new proxy's registry."""
        net = self.network(link_kw={"retry_initial_delay": 1.0, "retry_max_delay": 4.0})
        net.start()
        net.endpoint.server_factory = None
        net.endpoint.drop_all()
        self.assertFalse(net.link.link_up)
        self.assertFalse(net.link.synchronized)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_control_link_up", "proxy"), 0)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_bridge_synchronized"), 0)
        refused = net.link.execute_command("alice", "hub")
        self.failureResultOf(refused, UnsynchronizedRegistry)
        for _ in range(5):
            net.advance(4.0)
        self.assertGreater(net.endpoint.attempts, 3)
        restarted = CommandRegistry.seeded_from(net.clock.seconds(), [CommandSpec("spawn")])
        net.endpoint.server_factory = net.make_factory(restarted, metrics_registry=CollectorRegistry())
        net.advance(4.0)
        self.assertTrue(net.link.link_up)
        self.assertTrue(net.link.synchronized)
        self.assertEqual(net.link.digest, restarted.digest)
        self.assertEqual([c.name for c in net.link.commands], ["spawn"])

    def test_connection_lost_during_hello_retries(self) -> None:
        """A peer that hangs up before answering Hello does not wedge the link; it backs off and retries."""
        net = self.network(link_kw={"retry_initial_delay": 1.0, "retry_max_delay": 8.0})
        net.endpoint.server_factory = Factory.forProtocol(HangUp)
        net.start()
        times = [0]
        for second in range(1, 40):
            before = net.endpoint.attempts
            net.advance(1.0)
            if net.endpoint.attempts > before:
                times.append(second)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertEqual(gaps[:5], [2, 4, 8, 8, 8])
        self.assertFalse(net.link.link_up)
        net.endpoint.server_factory = net.factory
        net.advance(9.0)
        self.assertTrue(net.link.synchronized)

    def test_backoff_is_capped(self) -> None:
        """Reconnect delays grow but never beyond retry_max_delay."""
        net = self.network(link_kw={"retry_initial_delay": 1.0, "retry_max_delay": 8.0})
        net.endpoint.server_factory = None
        net.start()
        attempts = []
        for _ in range(40):
            net.advance(1.0)
            attempts.append(net.endpoint.attempts)
        late = attempts[20:]
        gaps = {b - a for a, b in zip(late, late[8:])}
        self.assertEqual(gaps, {1})

    def test_chunked_snapshot_just_under_limit(self) -> None:
        """A snapshot of exactly control_max_payload bytes travels in 64 KiB-safe chunks."""
        limit = 200_000
        net = self.network(
            registry=registry_of_size(limit),
            proxy_kw={"max_payload": limit},
            link_kw={"max_payload": limit + 4096},
        )
        self.assertEqual(len(net.registry.encoded()), limit)
        net.start()
        self.assertTrue(net.link.synchronized)
        self.assertEqual(net.link.digest, net.registry.digest)
        self.assertEqual(len(net.link.commands[0].description), len(net.registry.snapshot()[0].description))
        self.assertGreater(limit, 3 * amp.MAX_VALUE_LENGTH)

    def test_chunked_snapshot_just_over_limit(self) -> None:
        """One byte over control_max_payload is refused at encode, counted and logged."""
        limit = 200_000
        net = self.network(registry=registry_of_size(limit + 1), proxy_kw={"max_payload": limit})
        net.start()
        self.assertTrue(net.link.link_up)
        self.assertFalse(net.link.synchronized)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.PAYLOAD_TOO_LARGE), 1)
        self.assertIn("PAYLOAD_TOO_LARGE", net.log_text())

    def test_backend_refuses_snapshot_over_its_limit(self) -> None:
        """A backend with a smaller limit refuses the snapshot itself as PAYLOAD_TOO_LARGE."""
        net = self.network(registry=registry_of_size(100_000), link_kw={"max_payload": 50_000})
        net.start()
        self.assertFalse(net.link.synchronized)
        self.assertGreaterEqual(rejects(net.backend_metrics, RejectReason.PAYLOAD_TOO_LARGE), 1)

    def test_observers_see_state_changes(self) -> None:
        """Observers on both sides hear about link and sync changes, until removed."""
        net = self.network()
        backend_seen: list[tuple[bool, bool]] = []
        proxy_seen: list[tuple[str, bool, bool]] = []
        net.link.add_observer(lambda link: backend_seen.append((link.link_up, link.synchronized)))
        remove = net.factory.add_observer(
            lambda state: proxy_seen.append((state.server_id, state.link_up, state.synchronized))
        )
        net.start()
        self.assertEqual(backend_seen[-1], (True, True))
        self.assertIn((True, False), backend_seen)
        self.assertEqual(proxy_seen[-1], ("lobby", True, True))
        remove()
        net.endpoint.drop_all()
        self.assertEqual(backend_seen[-1], (False, False))
        self.assertEqual(proxy_seen[-1], ("lobby", True, True))

    def test_state_gauges_can_be_left_to_the_process(self) -> None:
        """With state_gauges=False only the control counters are registered, so a process's
        own metrics can own the gauge names on the same registry."""
        shared = CollectorRegistry()
        Gauge("mcproxy_control_link_up", "owned elsewhere", ["peer"], registry=shared)
        Gauge("mcproxy_registry_synchronized", "owned elsewhere", ["peer"], registry=shared)
        Gauge("mcproxy_registry_serial", "owned elsewhere", registry=shared)
        net = self.network(proxy_kw={"metrics_registry": shared, "state_gauges": False})
        net.start()
        self.assertTrue(net.link.synchronized)
        self.assertEqual(shared.get_sample_value("mcproxy_control_rejects_total", {"reason": "BAD_SIGNATURE"}), 0)

    def test_status_reports_links_and_registry(self) -> None:
        """Both sides report what /status shows: link, sync, serial, digest, secret use."""
        net = self.network()
        net.start()
        proxy = net.factory.status()
        self.assertEqual(proxy["registry"]["serial"], 100)
        self.assertTrue(proxy["links"]["lobby"]["synchronized"])
        self.assertFalse(proxy["links"]["games"]["link_up"])
        self.assertEqual(proxy["secret_usage"]["lobby"], {"current": 3})
        backend = net.link.status()
        self.assertTrue(backend["synchronized"])
        self.assertEqual(backend["digest"], net.registry.digest)


class BridgeTests(LinkTestCase):
    def test_refuses_while_unsynchronized(self) -> None:
        """Before the registry is synchronized both bridge calls fail with UNSYNCHRONIZED_REGISTRY."""
        net = self.network()
        self.failureResultOf(net.link.execute_command("alice", "hub"), UnsynchronizedRegistry)
        self.failureResultOf(net.link.request_transfer("alice", "games"), UnsynchronizedRegistry)
        self.assertEqual(rejects(net.backend_metrics, RejectReason.UNSYNCHRONIZED_REGISTRY), 2)

    def test_execute_and_transfer_when_synchronized(self) -> None:
        """A synchronized bridge runs proxy commands and transfers through the proxy."""
        net = self.network()
        net.start()
        ran = net.result(net.link.execute_command("alice", "/srv games"))
        self.assertEqual(self.successResultOf(ran), CommandResult(True, "ran '/srv games' for alice"))
        moved = net.result(net.link.request_transfer("alice", "games"))
        self.assertEqual(self.successResultOf(moved), TransferResult(True))
        self.assertEqual(net.directory.players["alice"], "games")
        again = net.result(net.link.request_transfer("alice", "games"))
        self.assertEqual(
            self.successResultOf(again), TransferResult(False, "already connected to that server")
        )

    def test_directory_failure_is_an_answer(self) -> None:
        """A bug behind the directory answers "not done" and keeps the link up."""
        net = self.network()
        net.start()

        def broken(player: str, server: str) -> Any:
            raise RuntimeError("directory bug")

        net.directory.transfer = broken
        moved = net.result(net.link.request_transfer("alice", "games"))
        self.assertEqual(self.successResultOf(moved), TransferResult(False, "internal error"))
        failures = [e["log_failure"] for e in net.events if "log_failure" in e]
        self.assertEqual([f.type for f in failures], [RuntimeError])
        self.assertTrue(net.link.link_up)

    def test_long_output_is_bounded(self) -> None:
        """Command output longer than one AMP value is cut, not a dropped link."""
        net = self.network()
        net.start()
        net.directory.execute = lambda player, line: succeed(CommandResult(True, "y" * 100_000))
        ran = self.successResultOf(net.result(net.link.execute_command("alice", "hub")))
        self.assertEqual(len(ran.output), 32767)
        self.assertTrue(net.link.link_up)

    def test_operator_switch(self) -> None:
        """Disabling the bridge refuses with UNSYNCHRONIZED_REGISTRY; enabling restores it."""
        net = self.network()
        net.start()
        net.link.disable_bridge()
        self.assertFalse(net.link.bridge_active)
        self.assertEqual(gauge(net.backend_metrics, "mcproxy_bridge_enabled"), 0)
        self.failureResultOf(net.link.request_transfer("alice", "games"), UnsynchronizedRegistry)
        net.link.enable_bridge()
        moved = net.result(net.link.request_transfer("alice", "games"))
        self.assertTrue(self.successResultOf(moved).done)

    def test_proxy_side_transfer(self) -> None:
        """The proxy itself (or mcproxyctl) asks for a transfer through the same checks."""
        net = self.network()
        self.assertTrue(self.successResultOf(net.factory.transfer("bob", "lobby")).done)
        self.failureResultOf(net.factory.transfer("bob", "nowhere"), UnknownServer)
        self.failureResultOf(net.factory.transfer("nobody", "lobby"), UnknownPlayer)


class LivenessTests(LinkTestCase):
    def test_silent_backend_is_dropped(self) -> None:
        """A linked backend that stops talking is closed after link_timeout."""
        net = self.network(proxy_kw={"link_timeout": 35.0})
        client, pump = self.raw(net)
        self.successResultOf(self.hello(client, pump))
        self.assertTrue(net.factory.links["lobby"].link_up)
        net.clock.advance(34)
        pump.flush()
        self.assertTrue(net.factory.links["lobby"].link_up)
        net.clock.advance(1)
        pump.flush()
        self.assertFalse(net.factory.links["lobby"].link_up)
        self.assertIn("control link from lobby is down", net.factory.problems())

    def test_heartbeats_keep_link(self) -> None:
        """Heartbeats well inside link_timeout keep the link up and synchronized."""
        net = self.network(link_kw={"heartbeat_interval": 10.0})
        net.start()
        for _ in range(10):
            net.advance(10.0)
        self.assertTrue(net.link.synchronized)
        self.assertEqual(net.factory.problems(), ["control link from games is down"])
        self.assertEqual(net.link.problems(), [])

    def test_unanswered_heartbeat_reconnects(self) -> None:
        """A proxy that stops answering is treated as gone: the backend reconnects."""
        net = self.network(link_kw={"heartbeat_interval": 5.0})
        net.start()
        first = net.endpoint.pumps[0]
        first.serverIO.bufferReceived = lambda data: None
        net.clock.advance(5.0)
        net.endpoint.flush()
        net.clock.advance(5.0)
        net.endpoint.flush()
        self.assertFalse(net.link.link_up)
        net.advance(2.0)
        self.assertEqual(net.endpoint.attempts, 2)
        self.assertTrue(net.link.synchronized)

    def test_factory_restart_resubscribes(self) -> None:
        """Stopping and restarting the listener keeps registry pushes working."""
        net = self.network()
        net.start()
        net.factory.stopFactory()
        net.factory.startFactory()
        net.registry.register(CommandSpec("again"))
        net.endpoint.flush()
        self.assertEqual(net.link.digest, net.registry.digest)


class RejectReasonTests(LinkTestCase):
    """Each reason, provoked over a connection, counted on the refusing side."""

    def test_payload_too_large_incoming(self) -> None:
        """A message bigger than the receiver's control_max_payload is PAYLOAD_TOO_LARGE."""
        net = self.network(proxy_kw={"max_payload": 2000})
        client, pump = self.raw(net)
        self.successResultOf(self.hello(client, pump))
        d = client.call(ExecuteProxyCommand, player="alice", command_line="hub " + "x" * 3000, registry_digest="")
        pump.flush()
        self.failureResultOf(d, PayloadTooLarge)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.PAYLOAD_TOO_LARGE), 1)

    def test_payload_too_large_command_line(self) -> None:
        """A command line too long for one AMP value is refused before it is sent."""
        net = self.network()
        net.start()
        self.failureResultOf(net.link.execute_command("alice", "hub " + "é" * 20000), PayloadTooLarge)
        self.assertEqual(rejects(net.backend_metrics, RejectReason.PAYLOAD_TOO_LARGE), 1)

    def test_version_mismatch_artifact(self) -> None:
        """A backend of another release is refused at Hello and the link closed."""
        net = self.network()
        client, pump = self.raw(net)
        d = client.call(Hello, server_id="lobby", artifact_version="0.3.9", control_version=1)
        pump.flush()
        self.failureResultOf(d, VersionMismatch)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.VERSION_MISMATCH), 1)
        self.assertTrue(pump.serverIO.disconnected)

    def test_link_announcing_another_release_stays_down(self) -> None:
        """A BackendControlLink announcing another release (the seam rollout rehearsals use)
        is refused VERSION_MISMATCH and never links, while a current backend still does."""
        net = self.network(link_kw={"artifact_version": "0.3.9"})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.VERSION_MISMATCH), 1)
        self.assertFalse(net.factory.links["lobby"].synchronized)
        current = BackendControlLink("games", SECRET, net.endpoint, net.clock, CollectorRegistry(), net.log,
                                     retry_jitter=lambda: 0.0)
        current.startService()
        self.addCleanup(current.stopService)
        net.endpoint.flush()
        self.assertTrue(current.synchronized)
        self.assertEqual(total_rejects(net.proxy_metrics), 1)

    def test_version_mismatch_control_protocol(self) -> None:
        """Another control protocol version in Hello is a VERSION_MISMATCH."""
        net = self.network()
        client, pump = self.raw(net)
        d = client.call(Hello, server_id="lobby", artifact_version="0.4.0", control_version=2)
        pump.flush()
        self.failureResultOf(d, VersionMismatch)

    def test_unexpected_sender_unknown_backend(self) -> None:
        """A server id the proxy does not route to cannot link."""
        net = self.network(link_kw={"server_id": "rogue"})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.UNEXPECTED_SENDER), 1)

    def test_unexpected_sender_wrong_proxy(self) -> None:
        """A backend refuses answers from a proxy other than control_expected_sender_id."""
        net = self.network(proxy_kw={"sender_id": "other-proxy"})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.backend_metrics, RejectReason.UNEXPECTED_SENDER), 1)

    def test_unexpected_sender_before_hello(self) -> None:
        """Only Hello is answered before a backend has identified itself."""
        net = self.network()
        client, pump = self.raw(net)
        d = client.call(Heartbeat, serial=0, digest="")
        pump.flush()
        self.failureResultOf(d, UnexpectedSender)

    def test_unexpected_sender_hello_claims_other_id(self) -> None:
        """Hello must name the same server id as its signed sender."""
        net = self.network()
        client, pump = self.raw(net, sender="lobby")
        self.failureResultOf(self.hello(client, pump, server_id="games"), UnexpectedSender)

    def test_invalid_timestamp(self) -> None:
        """A backend whose clock is off by more than the skew is refused, and retries."""
        skewed = Clock()
        skewed.advance(START + 45)
        net = self.network(backend_clock=skewed)
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.INVALID_TIMESTAMP), 1)

    def test_invalid_timestamp_raw(self) -> None:
        """INVALID_TIMESTAMP is an error the caller sees by its reason."""
        net = self.network()
        late = Clock()
        late.advance(START - 31)
        client, pump = self.raw(net, clock=late)
        self.failureResultOf(self.hello(client, pump), InvalidTimestamp)

    def test_bad_signature(self) -> None:
        """A backend with the wrong secret is refused and the connection closed."""
        net = self.network()
        client, pump = self.raw(net, secret=b"guessed")
        self.failureResultOf(self.hello(client, pump), BadSignature)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.BAD_SIGNATURE), 1)
        self.assertTrue(pump.serverIO.disconnected)

    def test_bad_signature_on_answer(self) -> None:
        """Answers are verified too: a proxy with the wrong secret never links a backend."""
        net = self.network(link_kw={"proxy_secret": b"backend-thinks-this"}, proxy_kw={"proxy_secret": b"proxy-uses-that"})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.BAD_SIGNATURE), 1)

    def test_replayed_nonce(self) -> None:
        """The same signed bytes delivered twice are refused the second time."""
        net = self.network()
        client, pump = self.raw(net)
        self.successResultOf(self.hello(client, pump))
        client.call(Heartbeat, serial=0, digest="")
        wire = pump.clientIO.getOutBuffer()
        pump.serverIO.bufferReceived(wire)
        pump.serverIO.bufferReceived(wire)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.REPLAYED_NONCE), 1)

    def test_replayed_nonce_repeating_generator(self) -> None:
        """A peer that repeats nonces gets its second message refused."""
        net = self.network()
        client, pump = self.raw(net, random_bytes=lambda n: b"\x07" * n)
        self.successResultOf(self.hello(client, pump))
        d = client.call(RequestRegistrySnapshot)
        pump.flush()
        self.failureResultOf(d, ReplayedNonce)

    def test_replayed_snapshot(self) -> None:
        """An unsolicited snapshot that is not newer than the installed one is refused."""
        net = self.network()
        net.start()
        protocol = net.factory._connections["lobby"]
        protocol.send_snapshot(net.factory.encode_snapshot())
        net.endpoint.flush()
        self.assertEqual(rejects(net.backend_metrics, RejectReason.REPLAYED_SNAPSHOT), 1)
        self.assertTrue(net.link.synchronized)

    def test_replayed_snapshot_older_serial(self) -> None:
        """A proxy restarted with a smaller serial is refused, even for a requested snapshot."""
        net = self.network()
        net.start()
        net.endpoint.drop_all()
        net.endpoint.server_factory = net.make_factory(
            CommandRegistry([CommandSpec("spawn")], initial_serial=5),
            metrics_registry=CollectorRegistry(),
        )
        net.advance(2.0)
        self.assertTrue(net.link.link_up)
        self.assertFalse(net.link.synchronized)
        self.assertEqual(net.link.serial, 100)
        self.assertEqual(rejects(net.backend_metrics, RejectReason.REPLAYED_SNAPSHOT), 1)

    def test_unsynchronized_registry_at_proxy(self) -> None:
        """The proxy refuses a command from a backend whose registry digest is stale."""
        net = self.network()
        client, pump = self.raw(net)
        self.successResultOf(self.hello(client, pump))
        d = client.call(ExecuteProxyCommand, player="alice", command_line="hub", registry_digest="stale")
        pump.flush()
        self.failureResultOf(d, UnsynchronizedRegistry)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.UNSYNCHRONIZED_REGISTRY), 1)

    def test_unknown_player(self) -> None:
        """Commands and transfers for a player the proxy does not know are refused."""
        net = self.network()
        net.start()
        self.failureResultOf(net.result(net.link.request_transfer("nobody", "games")), UnknownPlayer)
        self.failureResultOf(net.result(net.link.execute_command("nobody", "hub")), UnknownPlayer)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.UNKNOWN_PLAYER), 2)

    def test_unknown_server(self) -> None:
        """A transfer to a server the proxy does not route to is refused."""
        net = self.network()
        net.start()
        self.failureResultOf(net.result(net.link.request_transfer("alice", "nowhere")), UnknownServer)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.UNKNOWN_SERVER), 1)

    def test_unknown_command_local(self) -> None:
        """A command missing from the synchronized registry is refused by the backend."""
        net = self.network()
        net.start()
        self.failureResultOf(net.link.execute_command("alice", "/nosuch"), UnknownCommand)
        self.assertEqual(rejects(net.backend_metrics, RejectReason.UNKNOWN_COMMAND), 1)

    def test_unknown_command_at_proxy(self) -> None:
        """The proxy checks the command against its own registry as well."""
        net = self.network()
        net.start()
        client, pump = self.raw(net)
        self.successResultOf(self.hello(client, pump, server_id="lobby"))
        net.factory.links["lobby"].synchronized = True
        d = client.call(
            ExecuteProxyCommand, player="alice", command_line="nosuch", registry_digest=net.registry.digest
        )
        pump.flush()
        self.failureResultOf(d, UnknownCommand)

    def test_unknown_amp_command(self) -> None:
        """A command name neither side defines is answered with UNKNOWN_COMMAND."""
        net = self.network()
        client, pump = self.raw(net)
        errors: list[Any] = []
        client.callRemoteString(b"mcproxy.control.NoSuchThing").addErrback(errors.append)
        pump.flush()
        self.assertEqual(errors[0].value.errorCode, b"UNKNOWN_COMMAND")
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.UNKNOWN_COMMAND), 1)


class RotationOverWireTests(LinkTestCase):
    def test_overlap_links_both_generations(self) -> None:
        """During an overlap a backend still signing with the old secret links and syncs."""
        net = self.network(
            proxy_kw={"proxy_secret": SECRET, "proxy_secret_previous": OLD_SECRET},
            link_kw={"proxy_secret": OLD_SECRET, "proxy_secret_previous": SECRET},
        )
        net.start()
        self.assertTrue(net.link.synchronized)
        usage = net.factory.status()["secret_usage"]["lobby"]
        self.assertEqual(set(usage), {"previous"})
        self.assertEqual(net.link.status()["secret_usage"]["proxy"], {"previous": 3})
        self.assertGreater(
            net.proxy_metrics.get_sample_value(
                "mcproxy_control_verified_total", {"sender": "lobby", "secret": "previous"}
            ),
            0,
        )

    def test_old_secret_refused_after_overlap(self) -> None:
        """Once the proxy drops the previous secret, the old-secret backend is BAD_SIGNATURE."""
        net = self.network(link_kw={"proxy_secret": OLD_SECRET, "proxy_secret_previous": SECRET})
        net.start()
        self.assertFalse(net.link.link_up)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.BAD_SIGNATURE), 1)


class LoggingTests(LinkTestCase):
    def test_each_refusal_logged_once_without_secrets(self) -> None:
        """Every refusal is one log line with reason and correlation id; no secret is ever logged."""
        net = self.network(link_kw={"proxy_secret": OLD_SECRET})
        net.start()
        net.advance(2.0)
        refusals = [e for e in net.events if e.get("log_format", "").startswith("control refused")]
        self.assertEqual(len(refusals), total_rejects(net.proxy_metrics) + total_rejects(net.backend_metrics))
        self.assertTrue(all(e["correlation_id"] for e in refusals))
        self.assertTrue(all(e["reason"] == "BAD_SIGNATURE" for e in refusals))
        text = net.log_text() + repr(net.events)
        text += repr(net.factory.status()) + repr(net.link.status())
        text += repr(net.factory) + repr(net.link) + repr(net.factory.peer.__dict__)
        text += repr(net.link.peer.__dict__)
        for secret in (SECRET, OLD_SECRET):
            self.assertNotIn(secret.decode(), text)
            self.assertNotIn(secret.hex(), text)
