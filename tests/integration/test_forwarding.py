"""Forwarding as a backend sees it, checked by a test-side backend written from the formats.

The backend here is deliberately not ours: it implements just the login state and the
forwarding formats as BungeeCord and Velocity document them (host field split on NUL;
``velocity:player_info`` answered with HMAC-SHA256 then version, address, UUID, name,
properties), so that a mistake shared by our proxy and our backend-mod cannot hide.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import struct
import uuid

from twisted.internet import defer, protocol, reactor
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.harness import TEST_SECRET, NodePeer, node_missing, temp_dir, write_proxy_config
from tests.integration.proxy_harness import game_port, run_proxy

CHANNEL = "velocity:player_info"


def read_varint(stream: io.BytesIO) -> int:
    value = shift = 0
    while True:
        byte = stream.read(1)[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7


def read_string(stream: io.BytesIO) -> str:
    return stream.read(read_varint(stream)).decode()


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        if value < 0x80:
            out.append(value)
            return bytes(out)
        out.append(value & 0x7F | 0x80)
        value >>= 7


def string(text: str) -> bytes:
    raw = text.encode()
    return varint(len(raw)) + raw


class DocumentedBackend(protocol.Protocol):
    """Login state only; records what the proxy forwarded, then kicks with a verdict."""

    def connectionMade(self):
        self.buffer = b""
        self.packets = 0
        self.handshake = None

    def dataReceived(self, data):
        self.buffer += data
        while True:
            stream = io.BytesIO(self.buffer)
            try:
                size = read_varint(stream)
            except IndexError:
                return
            start = stream.tell()
            if len(self.buffer) < start + size:
                return
            body = io.BytesIO(self.buffer[start:start + size])
            self.buffer = self.buffer[start + size:]
            self.packet(read_varint(body), body)

    def send(self, packet_id: int, fields: bytes) -> None:
        payload = varint(packet_id) + fields
        self.transport.write(varint(len(payload)) + payload)

    def kick(self, verdict: str) -> None:
        self.send(0x00, string(json.dumps({"text": verdict})))
        self.transport.loseConnection()

    def packet(self, packet_id: int, body: io.BytesIO) -> None:
        record = self.factory.record
        if self.handshake is None:
            protocol_version = read_varint(body)
            host = read_string(body)
            struct.unpack(">H", body.read(2))
            self.handshake = (protocol_version, host)
            record["host_field"] = host
            return
        if packet_id == 0x00 and "name" not in record:
            record["name"] = read_string(body)
            record["login_uuid"] = uuid.UUID(bytes=body.read(16))
            if self.factory.mode == "modern":
                self.send(0x04, varint(7) + string(CHANNEL) + bytes([4]))
            else:
                self.kick("checked")
            return
        if packet_id == 0x02:
            message_id = read_varint(body)
            understood = body.read(1) == b"\x01"
            record["understood"] = understood
            data = body.read()
            if message_id != 7 or not understood:
                self.kick("not forwarded")
                return
            signature, payload = data[:32], data[32:]
            expected = hmac.new(self.factory.secret, payload, hashlib.sha256).digest()
            record["signature_ok"] = hmac.compare_digest(signature, expected)
            if not record["signature_ok"]:
                self.kick("Unable to verify player details")
                return
            stream = io.BytesIO(payload)
            record["version"] = read_varint(stream)
            record["address"] = read_string(stream)
            record["uuid"] = uuid.UUID(bytes=stream.read(16))
            record["forwarded_name"] = read_string(stream)
            properties = []
            for _ in range(read_varint(stream)):
                name, value = read_string(stream), read_string(stream)
                signature = read_string(stream) if stream.read(1) == b"\x01" else None
                properties.append((name, value, signature))
            record["properties"] = properties
            record["trailing"] = len(stream.read())
            self.kick("checked")


class ForwardingTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def run_login(self, mode: str, backend_secret: str = TEST_SECRET):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        factory = protocol.Factory.forProtocol(DocumentedBackend)
        factory.record = {}
        factory.mode = mode
        factory.secret = backend_secret.encode()
        backend = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(backend.stopListening)
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend.getHost().port}, forwarding=mode)
        proxy = yield run_proxy(self, path)
        client = NodePeer("chat_client.js", "127.0.0.1", game_port(proxy), "1.21.4", "Forwarded", "hi")
        self.addCleanup(client.stop)
        yield client.finished(30)
        reasons = [e.get("reason") for e in client.events if e["event"] in ("disconnected", "kicked")]
        return factory.record, reasons

    @defer.inlineCallbacks
    def test_modern_forwarding_matches_the_documented_format(self):
        """The velocity:player_info answer verifies with the shared secret and carries the player."""
        record, reasons = yield self.run_login("modern")
        self.assertTrue(record["signature_ok"])
        self.assertEqual(record["version"], 4)
        self.assertEqual(record["address"], "127.0.0.1")
        self.assertEqual(record["forwarded_name"], "Forwarded")
        self.assertEqual(record["uuid"], record["login_uuid"])
        self.assertEqual(record["trailing"], 0)
        self.assertEqual(reasons, ["checked"])

    @defer.inlineCallbacks
    def test_modern_forwarding_with_another_secret_is_refused(self):
        """A backend holding a different secret cannot verify the proxy's answer and refuses."""
        record, reasons = yield self.run_login("modern", backend_secret="f" * 64)
        self.assertFalse(record["signature_ok"])
        self.assertEqual(reasons, ["Unable to verify player details"])

    @defer.inlineCallbacks
    def test_legacy_forwarding_host_field(self):
        """Legacy forwarding puts host, address and the dashless UUID in the handshake, NUL-separated."""
        record, _ = yield self.run_login("legacy")
        fields = record["host_field"].split("\x00")
        self.assertEqual(fields[1:3], ["127.0.0.1", record["login_uuid"].hex])
        self.assertEqual(len(fields), 3)

    @defer.inlineCallbacks
    def test_bungeeguard_adds_the_token_property(self):
        """BungeeGuard forwarding adds a bungeeguard-token property holding the shared secret."""
        record, _ = yield self.run_login("bungeeguard")
        fields = record["host_field"].split("\x00")
        properties = json.loads(fields[3])
        self.assertEqual(properties, [{"name": "bungeeguard-token", "value": TEST_SECRET}])

    @defer.inlineCallbacks
    def test_no_forwarding_answers_not_understood(self):
        """With forwarding off the proxy answers a forwarding request 'not understood'."""
        record, reasons = yield self.run_login("none")
        self.assertEqual(record["host_field"], "127.0.0.1")
        self.assertNotIn("understood", record)
