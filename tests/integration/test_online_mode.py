"""Authenticated mode end to end: a local HTTPS session server, a test CA, a real client."""

from __future__ import annotations

import json
import uuid

from twisted.internet import defer, reactor, ssl
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web import resource, server

from tests.integration.harness import (
    NodePeer, listening_peer, make_ca_and_server_cert, node_missing, temp_dir, write_proxy_config,
)
from tests.integration.proxy_harness import game_port, run_proxy

PROFILE_ID = uuid.UUID("069a79f4-44e9-4726-a5be-fca90e38aaf5")
TEXTURES = {"name": "textures", "value": "eyJ0ZXh0dXJlcyI6e319", "signature": "c2lnbmVk"}


class SessionServer(resource.Resource):
    """The two session-server calls of a login: the client's join, the server's hasJoined."""

    isLeaf = True

    def __init__(self, accept_joins: bool = True) -> None:
        super().__init__()
        self.accept_joins = accept_joins
        self.joined: dict[str, str] = {}
        self.has_joined_queries: list[dict] = []

    def render_POST(self, request):
        if request.path != b"/session/minecraft/join":
            request.setResponseCode(404)
            return b""
        body = json.loads(request.content.read())
        if self.accept_joins:
            self.joined[body["selectedProfile"]] = body["serverId"]
        request.setResponseCode(204)
        return b""

    def render_GET(self, request):
        if request.path != b"/session/minecraft/hasJoined":
            request.setResponseCode(404)
            return b""
        name = request.args[b"username"][0].decode()
        server_id = request.args[b"serverId"][0].decode()
        self.has_joined_queries.append({"username": name, "serverId": server_id})
        if self.joined.get(PROFILE_ID.hex) != server_id and self.joined.get(str(PROFILE_ID)) != server_id:
            request.setResponseCode(204)
            return b""
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({"id": PROFILE_ID.hex, "name": name, "properties": [TEXTURES]}).encode()


class OnlineModeTests(TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def start(self, accept_joins: bool):
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        directory = temp_dir(self)
        self.ca_path, cert_pem, key_pem = make_ca_and_server_cert(directory)
        self.session = SessionServer(accept_joins)
        cert = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem)
        port = reactor.listenSSL(0, server.Site(self.session), cert.options(), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.session_url = f"https://localhost:{port.getHost().port}"
        self.backend, backend_port = yield listening_peer(self, "echo_server.js", "1.21.4")
        extra = f'session_server = "{self.session_url}"\nsession_server_ca_file = "{self.ca_path}"'
        path = write_proxy_config(directory, 0, {"lobby": backend_port}, online_mode=True, extra=extra)
        self.proxy = yield run_proxy(self, path)
        self.port = game_port(self.proxy)

    def client(self, name: str, *lines: str) -> NodePeer:
        peer = NodePeer("chat_client.js", "127.0.0.1", self.port, "1.21.4", name, *lines,
                        env={"SESSION_SERVER": self.session_url, "PROFILE_ID": str(PROFILE_ID),
                             "NODE_EXTRA_CA_CERTS": str(self.ca_path)})
        self.addCleanup(peer.stop)
        return peer

    @defer.inlineCallbacks
    def test_good_session_joins_with_its_profile(self):
        """A client the session server vouches for joins encrypted, as the session server's profile."""
        yield self.start(accept_joins=True)
        client = self.client("Notch", "hello")
        code = yield client.finished(60)
        self.assertEqual(code, 0, client.events)
        self.assertEqual(len(self.session.has_joined_queries), 1)
        success = [e for e in client.events if e["event"] == "login_success"][0]
        self.assertEqual(success["uuid"], str(PROFILE_ID))
        self.assertEqual(success["properties"][0]["name"], "textures")
        yield self.backend.wait_for("join", 20)
        self.assertIn("echo", " ".join(e.get("text", "") for e in client.events))

    @defer.inlineCallbacks
    def test_unknown_session_is_refused(self):
        """A client whose join the session server never saw is refused with the vanilla message."""
        yield self.start(accept_joins=False)
        client = self.client("Mallory", "hello")
        yield client.finished(60)
        reasons = [e.get("reason", "") for e in client.events if e["event"] in ("disconnected", "kicked")]
        self.assertEqual(reasons, ["Failed to verify username!"], client.events)
        self.assertFalse([e for e in self.backend.events if e["event"] == "join"])
        refusals = {s.labels["reason"]: s.value for f in self.proxy.registry.collect()
                    if f.name == "mcproxy_refusals" for s in f.samples if s.name.endswith("_total")}
        self.assertEqual(refusals.get("NOT_AUTHENTICATED"), 1.0)
