"""Refusals an operator must be told about, on the side where they look (Clock-driven)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from mcproxy.control.reasons import PayloadTooLarge, RejectReason
from tests.test_control_link import SECRET, LinkTestCase, registry_of_size


def peer_rejects(registry: CollectorRegistry, peer: str, reason: str) -> float:
    value = registry.get_sample_value(
        "mcproxy_control_peer_rejects_total", {"peer": peer, "reason": reason}
    )
    return value or 0.0


def lobby_problem(net) -> str:
    return [line for line in net.factory.problems() if "lobby" in line][0]


class SnapshotRefusedTests(LinkTestCase):
    def test_request_snapshot_fails_with_the_encode_refusal(self) -> None:
        """A snapshot refused at encode fails the operator's request with PAYLOAD_TOO_LARGE
        instead of waiting for a sync that never comes, and both sides say why."""
        net = self.network(registry=registry_of_size(5000), proxy_kw={"max_payload": 4096})
        net.start()
        self.assertTrue(net.link.link_up)
        self.assertFalse(net.link.synchronized)
        d = net.link.request_snapshot()
        net.endpoint.flush()
        self.failureResultOf(d, PayloadTooLarge)
        self.assertIn("PAYLOAD_TOO_LARGE", net.link.sync_error)
        self.assertIn("PAYLOAD_TOO_LARGE", net.link.problems()[0])
        self.assertEqual(peer_rejects(net.backend_metrics, "proxy", "PAYLOAD_TOO_LARGE"), 2)
        problem = lobby_problem(net)
        self.assertTrue(problem.startswith("lobby registry is not synchronized: snapshot refused at encode:"
                                           " PAYLOAD_TOO_LARGE (registry 5000 bytes, control_max_payload"
                                           " 4096"), problem)

    def test_encode_refusal_is_logged_as_our_own(self) -> None:
        """The proxy's log names its own refusal to send, with a correlation id, never
        "refused ... from proxy"."""
        net = self.network(registry=registry_of_size(5000), proxy_kw={"max_payload": 4096})
        net.start()
        text = net.log_text()
        self.assertNotIn("from proxy", text)
        self.assertIn("control refused to send RegistrySnapshot to lobby: PAYLOAD_TOO_LARGE", text)
        self.assertNotIn("(correlation_id=)", text)

    def test_sync_error_clears_once_installed(self) -> None:
        """Once a snapshot fits again, the error is gone on both sides."""
        net = self.network(registry=registry_of_size(5000), proxy_kw={"max_payload": 4096})
        net.start()
        net.factory.peer.validator.max_payload = 8192
        net.link.peer.validator.max_payload = 8192
        d = net.link.request_snapshot()
        net.endpoint.flush()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual((net.link.sync_error, net.factory.problems()), ("", ["control link from games is down"]))


    def test_restarts_stop_waiting_for_a_refused_sync(self) -> None:
        """A link whose snapshot is refused at encode has settled (with a reason): a restart's
        wait ends there; dropping the links forgets the old reason until it recurs."""
        net = self.network(registry=registry_of_size(5000),
                           proxy_kw={"max_payload": 4096, "backend_ids": ["lobby"]})
        net.start()
        self.assertTrue(net.factory.settled())
        self.assertTrue(net.factory.problems())
        net.factory.drop_links()
        self.assertFalse(net.factory.settled())
        net.endpoint.flush()
        d = net.link.restart()
        self.assertEqual(net.link.sync_error, "")
        net.endpoint.flush()
        net.advance(0)
        self.successResultOf(d)
        net.advance(0)
        self.assertTrue(net.link.sync_error)
        self.assertTrue(net.factory.settled())


class WrongExpectedSenderTests(LinkTestCase):
    def test_backend_refusal_travels_to_the_proxy(self) -> None:
        """A backend expecting another sender refuses the proxy's answers; its next Hello says
        so, and the proxy counts it per peer and reason and names it in its problems."""
        net = self.network(link_kw={"expected_sender_id": "proxx", "retry_initial_delay": 1.0,
                                    "retry_max_delay": 1.0})
        net.start()
        self.assertIn("UNEXPECTED_SENDER", net.link.link_error)
        self.assertIn("'proxx'", net.link.link_error)
        for _ in range(5):
            net.advance(1.0)
        self.assertGreaterEqual(peer_rejects(net.proxy_metrics, "lobby", "UNEXPECTED_SENDER"), 4)
        self.assertIn("lobby refuses us: UNEXPECTED_SENDER", lobby_problem(net))
        self.assertIn("control_sender_id 'proxy'", lobby_problem(net))
        self.assertEqual(net.factory.status()["links"]["lobby"]["peer_refusal"], "UNEXPECTED_SENDER")

    def test_logged_once_per_change_not_per_retry(self) -> None:
        """Retries of the same refusal add no warning and no link up/down lines at info."""
        net = self.network(link_kw={"expected_sender_id": "proxx", "retry_initial_delay": 1.0,
                                    "retry_max_delay": 1.0})
        net.start()
        for _ in range(6):
            net.advance(1.0)
        warnings = [e for e in net.events if e["log_level"].name == "warn"]
        text = [e["log_format"] for e in warnings]
        self.assertEqual(text.count("{server} refuses our control messages: {reason}{hint}"), 1)
        self.assertEqual(text.count("control link to {proxy} not established: {why}"), 1)
        infos = [e["log_format"] for e in net.events if e["log_level"].name == "info"]
        self.assertLessEqual(infos.count("control link up: {server}"), 1)

    def test_refusal_clears_when_the_backend_accepts_again(self) -> None:
        """Once the backend expects the right sender and syncs, the proxy forgets the refusal."""
        net = self.network(link_kw={"expected_sender_id": "proxx", "retry_initial_delay": 1.0,
                                    "retry_max_delay": 1.0})
        net.start()
        net.advance(1.0)
        net.link.expected_sender_id = "proxy"
        net.advance(1.0)
        net.advance(1.0)
        self.assertTrue(net.link.synchronized)
        self.assertEqual(net.factory.problems(), ["control link from games is down"])
        self.assertIn("lobby accepts our messages again", net.log_text())


class WrongSecretTests(LinkTestCase):
    def test_refused_hello_named_on_both_sides(self) -> None:
        """A backend with another secret: the proxy's health says its Hello was refused with
        BAD_SIGNATURE, the backend's says the proxy refused it; neither prints a secret."""
        net = self.network(link_kw={"proxy_secret": b"another-secret-entirely-0123456789",
                                    "retry_initial_delay": 1.0, "retry_max_delay": 1.0})
        net.start()
        for _ in range(3):
            net.advance(1.0)
        self.assertEqual(lobby_problem(net),
                         "control link from lobby is down: its Hello was refused: BAD_SIGNATURE"
                         " (proxy_secret / proxy_secret_previous differ between the two sides)")
        self.assertEqual(net.link.problems(),
                         ["control link to the proxy is down: the proxy refused our Hello: BAD_SIGNATURE"])
        self.assertGreaterEqual(peer_rejects(net.backend_metrics, "proxy", "BAD_SIGNATURE"), 3)
        self.assertNotIn(SECRET.decode(), net.log_text())
        warns = [e["log_format"] for e in net.events if e["log_level"].name == "warn"]
        self.assertEqual(warns.count("control link to {proxy} not established: {why}"), 1)
        self.assertEqual(RejectReason.BAD_SIGNATURE.value,
                         net.factory.status()["links"]["lobby"]["hello_refused"])


class ReconnectLogTests(LinkTestCase):
    def test_failed_connects_name_address_and_error(self) -> None:
        """Each failed connect names the configured address and the error, at warn from the
        second on, and the backend's health says why the link is down."""
        net = self.network(link_kw={"endpoint_description": "tcp:host=127.0.0.1:port=25580",
                                    "retry_initial_delay": 1.0, "retry_max_delay": 1.0})
        net.endpoint.server_factory = None
        net.start()
        for _ in range(3):
            net.advance(1.0)
        failed = [e for e in net.events if e.get("address") == "tcp:host=127.0.0.1:port=25580"]
        self.assertEqual([e["log_level"].name for e in failed[:3]], ["info", "warn", "warn"])
        self.assertIn("loopback server is down", net.log_text())
        self.assertEqual(net.link.problems(), ["control link to the proxy is down: cannot connect to"
                                               " tcp:host=127.0.0.1:port=25580: Connection was refused by"
                                               " other side: loopback server is down."])

    def test_retry_lines_name_the_configured_address(self) -> None:
        """ClientService's own retry line shows the endpoint's repr: the configured string."""
        from mcproxy.control.backend_side import _ReportingEndpoint

        endpoint = _ReportingEndpoint(object(), "tcp:host=10.0.0.1:port=25580", lambda failure: None)
        self.assertEqual(repr(endpoint), "tcp:host=10.0.0.1:port=25580")


class ArmedProbeTests(LinkTestCase):
    def test_probe_refusals_counted_apart(self) -> None:
        """A bad Hello carrying an armed id is refused as usual but counted under
        mcproxy_control_probe_rejects_total; the backend whose id it borrowed is untouched;
        the id is good for one refusal."""
        from tests.test_control_link import Hello, rejects

        net = self.network()
        net.start()
        net.factory.peer.arm_probes(["probe-0123456789"], 60.0)
        client, pump = self.raw(net, secret=b"not-the-secret-at-all-0123456789")
        d = client.call(Hello, "probe-0123456789", server_id="lobby", artifact_version="0.4.0",
                        control_version=1)
        pump.flush()
        self.failureResultOf(d)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.BAD_SIGNATURE), 0)
        self.assertEqual(net.proxy_metrics.get_sample_value(
            "mcproxy_control_probe_rejects_total", {"reason": "BAD_SIGNATURE"}), 1)
        self.assertEqual(net.factory.links["lobby"].hello_refused, "")
        self.assertFalse(net.factory.peer.is_probe("probe-0123456789"))
        client, pump = self.raw(net, secret=b"not-the-secret-at-all-0123456789")
        d = client.call(Hello, "probe-0123456789", server_id="lobby", artifact_version="0.4.0",
                        control_version=1)
        pump.flush()
        self.failureResultOf(d)
        self.assertEqual(rejects(net.proxy_metrics, RejectReason.BAD_SIGNATURE), 1)

    def test_version_probe_leaves_the_real_link_alone(self) -> None:
        """A correctly signed probe Hello announcing another release is VERSION_MISMATCH, and
        the real lobby link keeps its announced version and stays up."""
        from tests.test_control_link import Hello

        net = self.network()
        net.start()
        net.factory.peer.arm_probes(["probe-version-01"], 60.0)
        client, pump = self.raw(net)
        d = client.call(Hello, "probe-version-01", server_id="lobby", artifact_version="0.0.0+smoke",
                        control_version=1)
        pump.flush()
        self.failureResultOf(d)
        link = net.factory.links["lobby"]
        self.assertEqual((link.link_up, link.artifact_version, link.refused), (True, "0.4.0", ""))
        self.assertEqual(net.proxy_metrics.get_sample_value(
            "mcproxy_control_probe_rejects_total", {"reason": "VERSION_MISMATCH"}), 1)

    def test_armed_ids_bounded_and_expire(self) -> None:
        """At most 64 ids wait at once, and each expires after its ttl."""
        from mcproxy.control.peer import MAX_ARMED_PROBES

        net = self.network()
        net.factory.peer.arm_probes([f"probe-{n:08d}" for n in range(100)], 10.0)
        armed = [n for n in range(100) if net.factory.peer.is_probe(f"probe-{n:08d}")]
        self.assertEqual(len(armed), MAX_ARMED_PROBES)
        net.clock.advance(11)
        self.assertFalse(net.factory.peer.is_probe("probe-00000000"))
