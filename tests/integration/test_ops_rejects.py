"""Every refusal an operator reads off ``/metrics``, provoked against real processes, and no
secret anywhere an operator or an attacker can read while that happens.

The control-plane refusals are provoked over TCP on the proxy's messaging port by a test-side
AMP client that signs like a backend but with the wrong secret, sender, clock, nonces, version,
size or arguments (``tests/test_control_link.py`` proves the same reasons in memory);
``REPLAYED_SNAPSHOT`` is refused by a backend, so it is provoked by a test-side proxy. The front
door's refusals are provoked with raw bytes on the game port.
"""

from __future__ import annotations

import secrets

from prometheus_client import CollectorRegistry
from twisted.internet import defer, reactor
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SkipTest, TestCase

from mcproxy import __version__
from mcproxy.control.commands import ExecuteProxyCommand, Hello, RequestRegistrySnapshot, TransferPlayer
from mcproxy.control.envelope import CONTROL_PROTOCOL_VERSION
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.reasons import RejectReason
from mcproxy.control.registry import CommandRegistry, CommandSpec
from mcproxy.testing import InMemoryPlayerDirectory
from tests.integration.deployment import wait_until
from tests.integration.harness import NodePeer, node_missing, temp_dir
from tests.integration.operations import (
    FRONT_DOOR_REFUSALS,
    Network,
    admin_request,
    control_client,
    outcome,
    send_raw,
)

PLAYER = "Steve"
PROXY_SIDE_REASONS = {reason.value for reason in RejectReason} - {RejectReason.REPLAYED_SNAPSHOT.value}


def hello(client, server_id: str = "ghost", control_version: int = CONTROL_PROTOCOL_VERSION) -> defer.Deferred:
    return outcome(client.call(Hello, server_id=server_id, artifact_version=__version__,
                               control_version=control_version))


@defer.inlineCallbacks
def provoke_control_refusals(net: Network, player: str):
    """One message per proxy-side reason; ``{reason: what the client was answered}``."""
    port, secret = net.messaging_port, net.secret
    seen: dict[str, str | None] = {}

    wrong = yield control_client(port, secrets.token_hex(32))
    seen["BAD_SIGNATURE"] = (yield hello(wrong)).reason
    intruder = yield control_client(port, secret, sender="intruder")
    seen["UNEXPECTED_SENDER"] = (yield hello(intruder)).reason
    stale = Clock()
    stale.advance(reactor.seconds() - 600)
    late = yield control_client(port, secret, clock=stale)
    seen["INVALID_TIMESTAMP"] = (yield hello(late)).reason
    future = yield control_client(port, secret)
    seen["VERSION_MISMATCH"] = (yield hello(future, control_version=CONTROL_PROTOCOL_VERSION + 1)).reason
    repeating = yield control_client(port, secret, random_bytes=lambda n: b"\x5a" * n)
    yield hello(repeating)
    seen["REPLAYED_NONCE"] = (yield outcome(repeating.call(RequestRegistrySnapshot))).reason

    ghost = yield control_client(port, secret)
    welcome = yield hello(ghost)
    assert welcome.failure is None, welcome.failure
    seen["UNSYNCHRONIZED_REGISTRY"] = (yield outcome(ghost.call(
        ExecuteProxyCommand, player=player, command_line="glist", registry_digest="stale"))).reason
    seen["UNKNOWN_PLAYER"] = (yield outcome(ghost.call(TransferPlayer, player="Nobody", server="lobby"))).reason
    seen["UNKNOWN_SERVER"] = (yield outcome(ghost.call(TransferPlayer, player=player, server="nowhere"))).reason
    seen["UNKNOWN_COMMAND"] = (yield outcome(ghost.callRemoteString(b"mcproxy.control.NoSuchThing"))).reason
    seen["PAYLOAD_TOO_LARGE"] = (yield outcome(ghost.call(
        ExecuteProxyCommand, player=player, command_line="x" * 65400, registry_digest=""))).reason
    for client in (wrong, intruder, late, future, repeating, ghost):
        if client.transport is not None:
            client.transport.loseConnection()
    return seen


@defer.inlineCallbacks
def provoke_front_door_refusals(net: Network):
    for data in FRONT_DOOR_REFUSALS.values():
        yield send_raw(net.proxy_port, data)


@defer.inlineCallbacks
def provoke_replayed_snapshot(net: Network, case: TestCase):
    """Stand in for the proxy on the backend's messaging port, let the backend sync, then push
    the same snapshot again: the backend refuses it as REPLAYED_SNAPSHOT."""
    factory = ControlServerFactory(
        "proxy", net.secret.encode(), ["lobby"], CommandRegistry([CommandSpec("hub")], initial_serial=7),
        InMemoryPlayerDirectory(), reactor, CollectorRegistry(), Logger(observer=lambda event: None))
    port = reactor.listenTCP(net.messaging_port, factory, interface="127.0.0.1")
    case.addCleanup(port.stopListening)
    net.backend.start()
    case.addCleanup(net.backend.stop)
    yield wait_until(lambda: factory.is_synchronized("lobby"), 20, what="backend synchronized with the test proxy")
    yield outcome(factory.push_snapshot("lobby"))


class RejectCounterTests(TestCase):
    timeout = 180

    def setUp(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)

    def player(self, net: Network) -> NodePeer:
        """A player online through the proxy, so refusals about *other* players and servers are
        the only reason left."""
        peer = NodePeer("chat_client.js", "127.0.0.1", net.proxy_port, "1.21.4", PLAYER, "hello",
                        env={"LINGER_MS": "90000", "CLIENT_TIMEOUT_MS": "100000"})
        self.addCleanup(peer.stop)
        return peer

    @defer.inlineCallbacks
    def test_each_control_reject_counted_by_the_proxy(self):
        """Each proxy-side reason, provoked once over the messaging port, answers the client with
        that reason and shows as exactly 1 in mcproxy_control_rejects_total{reason} and /status."""
        net = Network(temp_dir(self), probe_interval=0.5, ghost=True)
        net.start(self)
        yield net.wait_health(net.proxy_admin, "DEGRADED", check=lambda b: b["checks"]["listener"]["state"] == "OK")
        yield self.player(net).wait_for("done", timeout=60)

        before = yield net.metric_samples(net.proxy_admin, "mcproxy_control_rejects_total")
        self.assertEqual(before, {reason.value: 0.0 for reason in RejectReason})
        seen = yield provoke_control_refusals(net, PLAYER)
        after = yield net.metric_samples(net.proxy_admin, "mcproxy_control_rejects_total")

        self.assertEqual({reason: seen[reason] for reason in sorted(seen)},
                         {reason: reason for reason in sorted(PROXY_SIDE_REASONS)})
        expected = {reason: 1.0 for reason in PROXY_SIDE_REASONS}
        expected[RejectReason.REPLAYED_SNAPSHOT.value] = 0.0
        self.assertEqual(after, expected)
        _, status = yield net.admin(net.proxy_admin, "/status")
        self.assertEqual(status["rejects"]["mcproxy_control_rejects_total"], {k: int(v) for k, v in expected.items()})

    @defer.inlineCallbacks
    def test_replayed_snapshot_counted_by_the_backend(self):
        """A snapshot that is not newer than the installed one is refused by the backend and counted
        as REPLAYED_SNAPSHOT on the backend's /metrics."""
        net = Network(temp_dir(self))
        yield provoke_replayed_snapshot(net, self)

        @defer.inlineCallbacks
        def counted():
            samples = yield net.metric_samples(net.backend_admin, "mcproxy_control_rejects_total")
            return samples if samples.get("REPLAYED_SNAPSHOT") == 1.0 else None
        samples = yield wait_until(counted, 10, what="REPLAYED_SNAPSHOT on the backend")
        self.assertEqual({reason for reason, value in samples.items() if value}, {"REPLAYED_SNAPSHOT"})

    @defer.inlineCallbacks
    def test_front_door_refusals_counted(self):
        """Malformed handshakes, an unsupported version and a bad username are each counted under
        their reason in mcproxy_refusals_total."""
        net = Network(temp_dir(self), probe_interval=0.5)
        net.start(self, backend=False)
        yield net.wait_health(net.proxy_admin, "DEGRADED", check=lambda b: b["checks"]["listener"]["state"] == "OK")
        yield provoke_front_door_refusals(net)
        samples = yield net.metric_samples(net.proxy_admin, "mcproxy_refusals_total")
        self.assertEqual(samples, {reason: 1.0 for reason in FRONT_DOOR_REFUSALS})


class SecretLeakTests(TestCase):
    timeout = 180

    def setUp(self):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)

    @defer.inlineCallbacks
    def test_no_secret_in_logs_status_or_metrics(self):
        """With proxy_secret, proxy_secret_previous and an admin token configured, provoking every
        refusal (control plane, front door, admin 401s) puts none of them in either process's log
        lines or JSON log file, /status, /health, /metrics or an error answer."""
        net = Network(temp_dir(self), probe_interval=0.5, ghost=True, token=True, previous_secret=True,
                      log_file=True)
        net.start(self)
        yield net.wait_health(net.proxy_admin, "DEGRADED", check=lambda b: b["checks"]["listener"]["state"] == "OK")
        player = NodePeer("chat_client.js", "127.0.0.1", net.proxy_port, "1.21.4", PLAYER, "hello",
                          env={"LINGER_MS": "90000", "CLIENT_TIMEOUT_MS": "100000"})
        self.addCleanup(player.stop)
        yield player.wait_for("done", timeout=60)

        seen = yield provoke_control_refusals(net, PLAYER)
        self.assertEqual(set(seen.values()), PROXY_SIDE_REASONS)
        yield provoke_front_door_refusals(net)
        answers = []
        for token in (None, "wrong-" + net.token, net.previous, net.secret):
            answers.append((yield admin_request(f"http://127.0.0.1:{net.proxy_admin}/status", token)))
        self.assertEqual({code for code, _ in answers}, {401})

        texts = {f"401 answer {i}": str(body) for i, (_, body) in enumerate(answers)}
        for name, port in (("proxy", net.proxy_admin), ("backend", net.backend_admin)):
            for path in ("/status", "/health", "/metrics"):
                code, body = yield net.admin(port, path)
                self.assertEqual(code, 200, (name, path, body))
                texts[f"{name} {path}"] = body if isinstance(body, str) else repr(body)
        yield net.proxy.stop()
        yield net.backend.stop()
        json_logs = {f"{name} log file": (net.directory / f"{name}-json.log").read_text()
                     for name in ("proxy", "backend")}
        texts.update(json_logs)
        texts["proxy output"] = net.proxy.log_path.read_text()
        texts["backend output"] = net.backend.log_path.read_text()

        for reason in PROXY_SIDE_REASONS:
            self.assertIn(f'"reason": "{reason}"', json_logs["proxy log file"], "refusals must be logged")
        for reason in FRONT_DOOR_REFUSALS:
            self.assertIn(reason, json_logs["proxy log file"])
        for where, text in texts.items():
            for secret in net.configured_secrets():
                self.assertNotIn(secret, text, f"a configured secret appears in {where}")
