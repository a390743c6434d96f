"""The front door against real peers on 127.0.0.1: mcstatus and minecraft-protocol's ping read
the status of a real ``ProxyProcess``, an old-style legacy ping is answered, and HAProxy in
front with PROXY protocol v2 hands the proxy the real client address."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from mcstatus import JavaServer, LegacyServer
from twisted.internet import defer, reactor, task, threads
from twisted.trial.unittest import TestCase

from mcproxy.wire.framing import encode_frame
from mcproxy.wire.packets import VERSION_NAMES, supported_range
from mcproxy.wire.types import encode_string, encode_ushort, encode_varint
from tests.integration.harness import NodePeer, free_port
from tests.integration.proxy_harness import scratch_folder, start_proxy

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "peers" / "node_modules"
PING_SCRIPT = REPO / "tests" / "peers" / "ping.js"
#: Tier-1 versions the peers ask for: the oldest, one in the middle and the newest.
VERSIONS = {"1.20.5": 766, "1.21.4": 769, "26.1": 775}


class McstatusTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.proxy = yield start_proxy(self)

    def status(self, version: int):
        server = JavaServer("127.0.0.1", self.proxy.port, timeout=5)
        return threads.deferToThread(server.status, version=version, tries=1)

    @defer.inlineCallbacks
    def test_tier1_versions(self):
        """mcstatus asking as each tier-1 version gets its protocol echoed with the
        configured MOTD, max players, online count and favicon, and a latency from the pong."""
        for name, protocol in VERSIONS.items():
            status = yield self.status(protocol)
            self.assertEqual(status.version.protocol, protocol, name)
            self.assertEqual(status.version.name, VERSION_NAMES[protocol])
            self.assertEqual(status.motd.to_plain(), "Front door test")
            self.assertEqual((status.players.online, status.players.max), (0, 321))
            self.assertTrue(status.icon.startswith("data:image/png;base64,"))
            self.assertGreaterEqual(status.latency, 0)

    @defer.inlineCallbacks
    def test_unsupported_version(self):
        """mcstatus asking as 1.7.10 (protocol 5) gets the "unsupported version" form."""
        status = yield self.status(5)
        self.assertEqual(status.version.protocol, -1)
        self.assertEqual(status.version.name, f"mcproxy {supported_range()}")
        self.assertEqual(status.motd.to_plain(), "Front door test")

    @defer.inlineCallbacks
    def test_legacy_ping(self):
        """mcstatus's pre-1.7 ping is answered in the legacy format."""
        server = LegacyServer("127.0.0.1", self.proxy.port, timeout=5)
        status = yield threads.deferToThread(server.status)
        self.assertEqual(status.motd.to_plain(), "Front door test")
        self.assertEqual((status.players.online, status.players.max), (0, 321))
        self.assertEqual(status.version.protocol, 127)


class MinecraftProtocolPingTests(TestCase):
    timeout = 60

    def setUp(self):
        if shutil.which("node") is None or not (NODE_MODULES / "minecraft-protocol").is_dir():
            raise self.skipTest("node and peers/node_modules are needed (scripts/setup)")
        return start_proxy(self).addCallback(lambda proxy: setattr(self, "proxy", proxy))

    def run_ping(self, versions: list[str]) -> defer.Deferred:
        env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
        command = [shutil.which("node"), str(PING_SCRIPT), "127.0.0.1", str(self.proxy.port), *versions]
        done = threads.deferToThread(subprocess.run, command, capture_output=True, text=True,
                                     env=env, timeout=45, check=True)
        return done.addCallback(lambda result: [json.loads(line) for line in result.stdout.splitlines()])

    @defer.inlineCallbacks
    def test_tier1_versions(self):
        """minecraft-protocol's ping, as 1.20.5, 1.21.4 and 26.1, reads our status: its
        protocol echoed, the MOTD and max players, and a pong it measured latency from."""
        results = yield self.run_ping(list(VERSIONS))
        self.assertEqual([r["version"] for r in results], list(VERSIONS))
        for result in results:
            self.assertNotIn("error", result, result)
            status = result["status"]
            self.assertEqual(status["version"]["protocol"], VERSIONS[result["version"]])
            self.assertEqual(status["description"], {"text": "Front door test"})
            self.assertEqual(status["players"]["max"], 321)
            self.assertIn("latency", status)


class StatusPassthroughTests(TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def setUp(self):
        if shutil.which("node") is None or not (NODE_MODULES / "minecraft-protocol").is_dir():
            raise self.skipTest("node and peers/node_modules are needed (scripts/setup)")
        backend_port = free_port()
        env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
        self.backend = subprocess.Popen(
            [shutil.which("node"), str(REPO / "tests" / "peers" / "echo_server.js"), str(backend_port), "1.21.4"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        self.addCleanup(self._stop_backend)
        line = yield threads.deferToThread(self.backend.stdout.readline)
        self.assertEqual(json.loads(line)["event"], "listening")
        self.proxy = yield start_proxy(self, extra_proxy='status_passthrough = "lobby"', backend_port=backend_port)

    def _stop_backend(self) -> None:
        self.backend.terminate()
        self.backend.wait(10)
        self.backend.stdout.close()

    @defer.inlineCallbacks
    def test_backend_status_shown(self):
        """With status_passthrough, mcstatus sees the minecraft-protocol backend's MOTD
        (read by the proxy over the real protocol) with the proxy's version echo and
        online count; a second ping within the cache period does not ask the backend again."""
        server = JavaServer("127.0.0.1", self.proxy.port, timeout=20)
        status = yield threads.deferToThread(server.status, version=775, tries=1)
        self.assertEqual(status.motd.to_plain(), "echo")
        self.assertEqual(status.version.protocol, 775)
        self.assertEqual(status.players.online, 0)
        again = yield threads.deferToThread(server.status, version=766, tries=1)
        self.assertEqual(again.motd.to_plain(), "echo")
        self.assertEqual(again.version.protocol, 766)
        self.assertEqual(self.proxy.process.core.status.queries, 1)


def haproxy_config(listen_port: int, proxy_port: int) -> str:
    return f"""\
global
    maxconn 512
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend players
    bind 127.0.0.1:{listen_port}
    default_backend mcproxy
backend mcproxy
    server proxy 127.0.0.1:{proxy_port} send-proxy-v2
"""


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def bad_handshake_from(source: str, port: int) -> None:
    """Connect from ``source`` and send a handshake with next state 9, which is refused."""
    frame = encode_frame(encode_varint(0) + encode_varint(775) + encode_string("x") + encode_ushort(1)
                         + encode_varint(9))
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(frame)
        sock.settimeout(5)
        while sock.recv(1024):
            pass


class HAProxyTests(TestCase):
    """HAProxy in front of the second listener of ``bind = [plain, haproxy:]``."""

    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
        if haproxy is None:
            raise self.skipTest("haproxy is not installed (scripts/setup installs it)")
        self.proxy = yield start_proxy(
            self, bind=["tcp:0:interface=127.0.0.1", "haproxy:tcp:0:interface=127.0.0.1"],
            rate_limits="connections_per_address_burst = 2\nconnections_per_address_rate = 0.01")
        self.listen_port = free_port()
        config = scratch_folder(self) / "haproxy.cfg"
        config.write_text(haproxy_config(self.listen_port, self.proxy.listener_port(1)))
        self.haproxy = subprocess.Popen([haproxy, "-db", "-f", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(self._stop_haproxy)
        yield threads.deferToThread(wait_listening, self.listen_port, time.monotonic() + 30)

    def _stop_haproxy(self) -> None:
        self.haproxy.terminate()
        try:
            self.haproxy.wait(5)
        except subprocess.TimeoutExpired:
            self.haproxy.kill()
            self.haproxy.wait()
        self.haproxy.stderr.close()

    @defer.inlineCallbacks
    def wait_for_refusal(self, peer: str, count: int = 1):
        """The refusals logged for ``peer``, once there are ``count`` of them."""
        for _ in range(100):
            found = [e for e in self.proxy.refusals() if e.get("peer") == peer]
            if len(found) >= count:
                return found
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail(f"fewer than {count} refusals logged for {peer}: {self.proxy.refusals()}")

    @defer.inlineCallbacks
    def test_status_through_haproxy(self):
        """A status ping through HAProxy (PROXY v2) is answered like a direct one."""
        server = JavaServer("127.0.0.1", self.listen_port, timeout=5)
        status = yield threads.deferToThread(server.status, version=775, tries=1)
        self.assertEqual(status.version.protocol, 775)
        self.assertEqual(status.motd.to_plain(), "Front door test")

    @defer.inlineCallbacks
    def test_plain_listener_beside(self):
        """The plain listener from the same bind array serves direct clients, whose own
        address is the socket's."""
        server = JavaServer("127.0.0.1", self.proxy.port, timeout=5)
        status = yield threads.deferToThread(server.status, version=766, tries=1)
        self.assertEqual(status.version.protocol, 766)
        yield threads.deferToThread(bad_handshake_from, "127.0.0.4", self.proxy.port)
        (refusal,) = yield self.wait_for_refusal("127.0.0.4")
        self.assertEqual(refusal["reason"], "BAD_INTENT")

    @defer.inlineCallbacks
    def test_real_client_address(self):
        """The proxy logs and limits the client's own address from the PROXY header: a
        client on 127.0.0.2 is named in its refusal, and uses up its own per-address
        allowance, not that of HAProxy's 127.0.0.1 or of another client."""
        yield threads.deferToThread(bad_handshake_from, "127.0.0.2", self.listen_port)
        (refusal,) = yield self.wait_for_refusal("127.0.0.2")
        self.assertEqual(refusal["reason"], "BAD_INTENT")
        self.assertTrue(refusal["correlation_id"])
        yield threads.deferToThread(bad_handshake_from, "127.0.0.2", self.listen_port)
        yield threads.deferToThread(bad_handshake_from, "127.0.0.2", self.listen_port)
        refusals = yield self.wait_for_refusal("127.0.0.2", 3)
        self.assertEqual([r["reason"] for r in refusals], ["BAD_INTENT", "BAD_INTENT", "CONNECTION_RATE"])
        yield threads.deferToThread(bad_handshake_from, "127.0.0.3", self.listen_port)
        (other,) = yield self.wait_for_refusal("127.0.0.3")
        self.assertEqual(other["reason"], "BAD_INTENT")
        self.assertEqual([e for e in self.proxy.refusals() if e.get("peer") == "127.0.0.1"], [])


class OldAndNewClientTests(TestCase):
    """Clients of 1.8 – 1.20.4, 26.2 and 26.3 see their own version in the server list;
    clients the proxy does not serve (1.7, or newer than 26.3) are told which versions work,
    at the list and at login."""

    timeout = 90
    #: minecraft-protocol versions too old to be served, to log in with.
    OLD_CLIENTS = ("1.7",)

    @defer.inlineCallbacks
    def setUp(self):
        self.proxy = yield start_proxy(self)

    @defer.inlineCallbacks
    def test_status_shows_own_version_or_the_range(self):
        """mcstatus asking as 1.8, 1.12.2, 1.16.5, 1.20.4, 26.2 or 26.3 sees its own version
        (compatible); asking as 1.7.10 or a protocol newer than 26.3 it sees the supported
        range as an incompatible version; the MOTD either way."""
        server = JavaServer("127.0.0.1", self.proxy.port, timeout=5)
        for protocol, name in ((47, "1.8.9"), (340, "1.12.2"), (754, "1.16.5"), (765, "1.20.4"),
                               (776, "26.2"), (777, "26.3")):
            status = yield threads.deferToThread(server.status, version=protocol, tries=1)
            self.assertEqual((status.version.protocol, status.version.name), (protocol, name))
            self.assertEqual(status.motd.to_plain(), "Front door test")
        for protocol in (5, 778):
            status = yield threads.deferToThread(server.status, version=protocol, tries=1)
            self.assertEqual(status.version.protocol, -1, protocol)
            self.assertEqual(status.version.name, "mcproxy 1.8-26.3")
            self.assertEqual(status.motd.to_plain(), "Front door test")

    @defer.inlineCallbacks
    def test_login_refused_with_the_range(self):
        """A real 1.7 client gets a login disconnect naming the supported versions (no
        hang), counted as UNSUPPORTED_VERSION."""
        if shutil.which("node") is None or not (NODE_MODULES / "minecraft-protocol").is_dir():
            raise self.skipTest("node and peers/node_modules are needed (scripts/setup)")
        peers = []
        for index, version in enumerate(self.OLD_CLIENTS):
            peer = NodePeer("chat_client.js", "127.0.0.1", self.proxy.port, version, f"Old{index}", "hi",
                            env={"CLIENT_TIMEOUT_MS": "40000"})
            self.addCleanup(peer.stop)
            peers.append(peer)
        for version, peer in zip(self.OLD_CLIENTS, peers):
            event = yield peer.wait_for("disconnected", timeout=45)
            self.assertEqual(event["reason"], "This server supports Minecraft 1.8-26.3.", version)
            yield peer.finished(30)
            self.assertFalse([e for e in peer.events if e["event"] in ("play", "timeout")], version)
        refusals = self.proxy.process.registry.get_sample_value(
            "mcproxy_refusals_total", {"reason": "UNSUPPORTED_VERSION"})
        self.assertEqual(refusals, len(self.OLD_CLIENTS))
