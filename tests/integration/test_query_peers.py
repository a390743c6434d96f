"""The GameSpy4 query listener against mcstatus's ``query()`` and hostile UDP, on real sockets."""

from __future__ import annotations

import os
import socket
import struct

from twisted.internet import defer, threads
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.harness import (
    NodePeer, free_port, listening_peer, node_missing, temp_dir, write_proxy_config,
)
from tests.integration.proxy_harness import game_port, run_proxy


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exchange(port: int, *requests: bytes, timeout: float = 2.0) -> list[bytes | None]:
    """Send each request from one socket and collect its answer (None when none comes)."""
    answers: list[bytes | None] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        for request in requests:
            sock.sendto(request, ("127.0.0.1", port))
            try:
                answers.append(sock.recv(65536))
            except socket.timeout:
                answers.append(None)
    return answers


def flood(port: int, request: bytes, count: int) -> int:
    """Send ``count`` copies at once, then count the answers that come within a second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.bind(("127.0.0.1", 0))
        for _ in range(count):
            sock.sendto(request, ("127.0.0.1", port))
        answers = 0
        try:
            while True:
                sock.recv(65536)
                answers += 1
        except socket.timeout:
            return answers


def handshake(session: int = 1) -> bytes:
    return b"\xfe\xfd\x09" + struct.pack(">i", session)


def basic(token: int, session: int = 1) -> bytes:
    return b"\xfe\xfd\x00" + struct.pack(">ii", session, token)


class QueryPeerTests(TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def start(self, with_player: bool):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        ports = {"lobby": free_port()}
        if with_player:
            _, ports["lobby"] = yield listening_peer(self, "echo_server.js", "1.21.4")
        self.query_port = free_udp_port()
        path = write_proxy_config(
            temp_dir(self), 0, ports,
            extra=f'[query]\nenabled = true\nport = {self.query_port}\nmap = "lobby"\n')
        self.proxy = yield run_proxy(self, path)
        self.game_port = game_port(self.proxy)
        if with_player:
            client = NodePeer("chat_client.js", "127.0.0.1", self.game_port, "1.21.4", "Alice", "/glist",
                              env={"LINGER_MS": "20000"})
            self.addCleanup(client.stop)
            yield client.wait_for("done", 40)

    def counter(self, name: str, label: str, value: str) -> float:
        return self.proxy.registry.get_sample_value(f"{name}_total", {label: value}) or 0.0

    @defer.inlineCallbacks
    def test_mcstatus_full_query(self):
        """mcstatus's query() reads MOTD, map, counts, the player's name and the software."""
        from mcstatus import JavaServer

        yield self.start(with_player=True)
        answer = yield threads.deferToThread(lambda: JavaServer("127.0.0.1", self.query_port).query(tries=1))
        self.assertEqual(answer.motd.to_plain(), "A mcproxy network")
        self.assertEqual(answer.map_name, "lobby")
        self.assertEqual((answer.players.online, answer.players.max), (1, 500))
        self.assertEqual(answer.players.list, ["Alice"])
        self.assertEqual(answer.software.brand, "mcproxy 0.4.0")
        self.assertEqual(answer.game_type, "SMP")
        self.assertEqual(self.counter("mcproxy_query_requests", "kind", "full"), 1.0)

    @defer.inlineCallbacks
    def test_basic_stat_and_hostile_udp(self):
        """Basic stat answers with the listener's port; garbage, bad tokens and floods are counted."""
        yield self.start(with_player=False)
        token_answer, = yield threads.deferToThread(exchange, self.query_port, handshake(5))
        self.assertEqual(token_answer[:5], b"\x09\x00\x00\x00\x05")
        token = int(token_answer[5:-1])
        # The token belongs to the socket that asked: another one cannot use it.
        stolen, = yield threads.deferToThread(exchange, self.query_port, basic(token), timeout=0.5)
        self.assertIsNone(stolen)
        garbage = [os.urandom(n) for n in (1, 7, 11, 15, 64, 1400)]
        answers = yield threads.deferToThread(exchange, self.query_port, *garbage, timeout=0.3)
        self.assertEqual(answers, [None] * len(garbage))
        answered = yield threads.deferToThread(flood, self.query_port, handshake(), 50)
        self.assertLessEqual(answered, 12)
        self.assertGreaterEqual(self.counter("mcproxy_query_refusals", "reason", "QUERY_RATE"), 38.0)
        self.assertGreaterEqual(self.counter("mcproxy_query_refusals", "reason", "BAD_QUERY"), 5.0)
        self.assertEqual(self.counter("mcproxy_query_refusals", "reason", "BAD_CHALLENGE"), 1.0)

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.bind(("127.0.0.1", 0))
            sock.sendto(handshake(9), ("127.0.0.1", self.query_port))
            d = threads.deferToThread(sock.recv, 1024)
            token = int((yield d)[5:-1])
            sock.sendto(basic(token, 9), ("127.0.0.1", self.query_port))
            answer = yield threads.deferToThread(sock.recv, 1024)
        *fields, rest = answer[5:].split(b"\x00", 5)
        self.assertEqual(fields, [b"A mcproxy network", b"SMP", b"lobby", b"0", b"500"])
        self.assertEqual(struct.unpack("<H", rest[:2])[0], self.game_port)
        self.assertEqual(rest[2:], b"127.0.0.1\x00")


class QueryPortTakenTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_port_in_use_degrades_instead_of_failing(self):
        """A query port already taken is logged and shown in /health; the game listener still serves."""
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        path = write_proxy_config(temp_dir(self), 0, {"lobby": free_port()},
                                  extra=f"[query]\nenabled = true\nport = {taken.getsockname()[1]}\n")
        proxy = yield run_proxy(self, path)
        report = proxy.health.evaluate()
        self.assertEqual(report.checks["query"].state.value, "FAILED")
        self.assertIn("in use", report.checks["query"].detail)
