"""``proxy_protocol_trusted`` on a real ``haproxy:`` listener: PROXY headers (v1 and v2)
sent from different loopback source addresses, only one of them a trusted balancer."""

from __future__ import annotations

import json
import socket
import struct

from twisted.internet import defer, reactor, task, threads
from twisted.trial.unittest import TestCase

from mcproxy.wire.framing import encode_frame
from mcproxy.wire.types import decode_varint, encode_string, encode_ushort, encode_varint
from tests.integration.proxy_harness import start_proxy

TRUSTED = "127.0.0.2"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def header_v1(client: str, port: int) -> bytes:
    return f"PROXY TCP4 {client} 127.0.0.1 40000 {port}\r\n".encode()


def header_v2(client: str, port: int) -> bytes:
    addresses = socket.inet_aton(client) + socket.inet_aton("127.0.0.1") + struct.pack(">HH", 40000, port)
    return V2_SIGNATURE + b"\x21\x11" + struct.pack(">H", len(addresses)) + addresses


def handshake(intent: int) -> bytes:
    return encode_frame(encode_varint(0) + encode_varint(775) + encode_string("mc.example.com")
                        + encode_ushort(25565) + encode_varint(intent))


def exchange(source: str, port: int, data: bytes) -> bytes:
    """Connect from ``source``, send ``data``, and read until the proxy closes (b"" for a
    connection closed or reset before any answer)."""
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        received = b""
        try:
            sock.sendall(data)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return received
                received += chunk
                if data.endswith(encode_frame(b"\x00")) and received:
                    return received
        except ConnectionResetError:
            return received


class TrustedProxySourceTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.proxy = yield start_proxy(
            self, bind=["tcp:0:interface=127.0.0.1", "haproxy:tcp:0:interface=127.0.0.1"],
            extra_proxy=f'proxy_protocol_trusted = ["{TRUSTED}/32"]')
        self.port = self.proxy.listener_port(1)

    def refused_count(self, reason: str) -> float:
        value = self.proxy.process.registry.get_sample_value("mcproxy_refusals_total", {"reason": reason})
        return value or 0.0

    @defer.inlineCallbacks
    def refusal_for(self, peer: str):
        for _ in range(200):
            found = [e for e in self.proxy.refusals() if e.get("peer") == peer]
            if found:
                return found
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail(f"no refusal logged for {peer}: {self.proxy.refusals()}")

    @defer.inlineCallbacks
    def test_spoofed_headers_from_untrusted_sources(self):
        """A v1 header from 127.0.0.3 and a v2 header from 127.0.0.4, each naming another
        client, are refused UNTRUSTED_PROXY under the sender's own address, before the
        header is read: the named address appears nowhere."""
        for source, header in (("127.0.0.3", header_v1("203.0.113.9", self.port)),
                               ("127.0.0.4", header_v2("203.0.113.10", self.port))):
            answer = yield threads.deferToThread(exchange, source, self.port, header + handshake(9))
            self.assertEqual(answer, b"")
            (refusal,) = yield self.refusal_for(source)
            self.assertEqual(refusal["reason"], "UNTRUSTED_PROXY")
            self.assertTrue(refusal["correlation_id"])
        self.assertEqual(self.refused_count("UNTRUSTED_PROXY"), 2)
        peers = {e.get("peer") for e in self.proxy.refusals()}
        self.assertFalse(peers & {"203.0.113.9", "203.0.113.10"}, peers)

    @defer.inlineCallbacks
    def test_trusted_source_v1_and_v2(self):
        """From the trusted 127.0.0.2, v1 and v2 headers are believed: the refusal of a
        bad handshake names the client each header gave."""
        for header, client in ((header_v1, "203.0.113.9"), (header_v2, "198.51.100.7")):
            yield threads.deferToThread(exchange, TRUSTED, self.port, header(client, self.port) + handshake(9))
            (refusal,) = yield self.refusal_for(client)
            self.assertEqual(refusal["reason"], "BAD_INTENT")
        self.assertEqual(self.refused_count("UNTRUSTED_PROXY"), 0)

    @defer.inlineCallbacks
    def test_status_through_trusted_v2(self):
        """A status ping behind a trusted v2 header is answered with the MOTD."""
        request = header_v2("203.0.113.20", self.port) + handshake(1) + encode_frame(b"\x00")
        answer = yield threads.deferToThread(exchange, TRUSTED, self.port, request)
        length, offset = decode_varint(answer, 0)
        body = answer[offset:offset + length]
        _, at = decode_varint(body, 0)
        size, at = decode_varint(body, at)
        status = json.loads(body[at:at + size])
        self.assertEqual(status["description"], {"text": "Front door test"})

    @defer.inlineCallbacks
    def test_plain_listener_unaffected(self):
        """The plain listener beside it takes any source; the list is for haproxy: only."""
        yield threads.deferToThread(exchange, "127.0.0.5", self.proxy.port, handshake(9))
        (refusal,) = yield self.refusal_for("127.0.0.5")
        self.assertEqual(refusal["reason"], "BAD_INTENT")
