"""Transfers with real peers: the Transfer packet and routing cookie out, intent-3 logins in."""

from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from mcproxy.proxy.auth import offline_profile
from mcproxy.proxy.cookies import ROUTE_COOKIE, decode_route, encode_route
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.types import encode_bool, encode_bytes, encode_string, encode_ushort, encode_uuid, encode_varint
from tests.integration.harness import TEST_SECRET, NodePeer
from tests.integration.test_sessions_peers import ProxyWithEchoBackends

PROTOCOL = 769
VERSION = "1.21.4"


class TransferredClient(Protocol):
    """A player arriving by transfer (handshake intent 3), offline mode, written for this test.

    It answers the proxy's cookie request with ``cookie`` and reports the login packets
    that follow: ``result`` fires with ("disconnect", reason) or ("success", None).
    """

    def __init__(self, name: str, cookie: bytes | None) -> None:
        self.name = name
        self.cookie = cookie
        self.codec = PacketCodec()
        self.ids = packet_ids(PROTOCOL)
        self.result: defer.Deferred = defer.Deferred()
        self.cookie_keys: list[str] = []

    def connectionMade(self) -> None:
        handshake = (encode_varint(PROTOCOL) + encode_string("127.0.0.1") + encode_ushort(25565)
                     + encode_varint(3))
        login = encode_string(self.name) + encode_uuid(offline_profile(self.name).id)
        self.transport.write(self.codec.encode(0x00, handshake) + self.codec.encode(self.ids.login_start, login))

    def dataReceived(self, data: bytes) -> None:
        self.codec.feed(data)
        while not self.result.called:
            packet = self.codec.next_packet()
            if packet is None:
                return
            packet_id, reader = packet
            if packet_id == self.ids.login_cookie_request:
                key = reader.string()
                self.cookie_keys.append(key)
                answer = encode_string(key) + encode_bool(self.cookie is not None)
                if self.cookie is not None:
                    answer += encode_bytes(self.cookie)
                self.transport.write(self.codec.encode(self.ids.login_cookie_response, answer))
            elif packet_id == self.ids.login_compress:
                self.codec.enable_compression(reader.varint())
            elif packet_id == self.ids.login_disconnect:
                self.result.callback(("disconnect", reader.string()))
            elif packet_id == self.ids.login_success:
                self.result.callback(("success", None))

    def connectionLost(self, reason=None) -> None:
        if not self.result.called:
            self.result.callback(("closed", None))


class TransferTests(ProxyWithEchoBackends, TestCase):
    timeout = 120

    def routed(self) -> dict[str, float]:
        return {sample.labels["server"]: sample.value
                for family in self.proxy.registry.collect() if family.name == "mcproxy_routing_attempts"
                for sample in family.samples if sample.name.endswith("_total") and sample.labels["result"] == "ok"}

    @defer.inlineCallbacks
    def arrive(self, name: str, cookie: bytes | None) -> defer.Deferred:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        client = yield endpoint.connect(Factory.forProtocol(lambda: TransferredClient(name, cookie)))
        self.addCleanup(client.transport.loseConnection)
        result = yield client.result
        return client, result

    @defer.inlineCallbacks
    def test_forged_routing_cookie_refused(self):
        """A transferred player whose routing cookie is not signed by our secret is refused, and counted."""
        yield self.start(VERSION, backends=("lobby", "game"), extra="accept_transfers = true")
        forged = encode_route(b"not the proxy secret, but long enough", offline_profile("Forger").id,
                              "game", reactor.seconds())
        client, result = yield self.arrive("Forger", forged)
        self.assertEqual(client.cookie_keys, [ROUTE_COOKIE])
        self.assertEqual(result[0], "disconnect")
        self.assertIn("Your transfer could not be verified.", result[1])
        self.assertEqual(self.refusals().get("FORGED_ROUTING_COOKIE"), 1.0)
        self.assertEqual(self.routed(), {})

    @defer.inlineCallbacks
    def test_genuine_routing_cookie_routes_to_named_server(self):
        """A transferred player with our genuine cookie lands on the server it names, not the first of try."""
        yield self.start(VERSION, backends=("lobby", "game"), extra="accept_transfers = true")
        genuine = encode_route(TEST_SECRET.encode(), offline_profile("Arriver").id, "game", reactor.seconds())
        client, result = yield self.arrive("Arriver", genuine)
        self.assertEqual(result, ("success", None))
        self.assertEqual(self.routed(), {"game": 1.0})

    @defer.inlineCallbacks
    def test_transfer_without_cookie_routes_normally(self):
        """A transferred player without our cookie (from elsewhere) goes through the usual try list."""
        yield self.start(VERSION, backends=("lobby", "game"), extra="accept_transfers = true")
        client, result = yield self.arrive("Stranger", None)
        self.assertEqual(result, ("success", None))
        self.assertEqual(self.routed(), {"lobby": 1.0})

    @defer.inlineCallbacks
    def test_transfer_command_sends_cookie_and_transfer(self):
        """/transfer stores a signed routing cookie for the named server in the client, then sends Transfer."""
        yield self.start(VERSION, backends=("lobby", "game"),
                         extra='[permissions]\n"mcproxy.command.transfer" = ["Leaver"]')
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, VERSION, "Leaver",
                          "/transfer Leaver 127.0.0.1 25999 game", env={"LINGER_MS": "500"})
        self.addCleanup(client.stop)
        transfer = yield client.wait_for("transfer", timeout=30)
        self.assertEqual((transfer["host"], transfer["port"]), ("127.0.0.1", 25999))
        cookies = [e for e in client.events if e["event"] == "store_cookie"]
        self.assertEqual([c["key"] for c in cookies], [ROUTE_COOKIE])
        server = decode_route(bytes.fromhex(cookies[0]["value"]), (TEST_SECRET.encode(),),
                              offline_profile("Leaver").id, reactor.seconds())
        self.assertEqual(server, "game")

    @defer.inlineCallbacks
    def test_backend_cookies_relayed_untouched(self):
        """A backend's store_cookie and cookie_request reach the client byte for byte, and the answer reaches it back."""
        yield self.start(VERSION)
        client = NodePeer("chat_client.js", "127.0.0.1", self.port, VERSION, "Baker", "/cookie",
                          env={"ANSWER_COOKIES": "1"})
        self.addCleanup(client.stop)
        stored = yield client.wait_for("store_cookie", timeout=30)
        self.assertEqual((stored["key"], stored["value"]), ("echo:jar", "c00c1e"))
        yield client.wait_for("cookie_request", timeout=10)
        answer = yield self.backends["lobby"].wait_for("cookie_response", timeout=10)
        self.assertEqual((answer["key"], answer["value"]), ("echo:jar", "c00c1e"))
