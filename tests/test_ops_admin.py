"""Tests for mcproxy.ops.admin."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial import unittest
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from mcproxy.ops.admin import ActionError, AdminResource, admin_site
from mcproxy.ops.health import CheckState, HealthModel, ManualCheck
from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.ops.redaction import REDACTED, Redactor
from mcproxy.ops.status import StatusBoard
from mcproxy.proxy.auth import read_body

SECRET = "s3cr3t-forwarding-key-0123456789"
TOKEN = "admin-token-abcdef0123456789"
LOCAL = IPv4Address("TCP", "127.0.0.1", 40000)
REMOTE = IPv4Address("TCP", "203.0.113.9", 40000)


class _Events(list):
    def __call__(self, event: dict) -> None:
        self.append(event)


class _Admin:
    """An admin tree over a fresh registry, health model and status board."""

    def __init__(self, token: str | None = None) -> None:
        self.events = _Events()
        self.log = Logger(namespace="test.admin", observer=self.events)
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = ProxyMetrics(self.registry)
        self.health = HealthModel(self.log)
        self.status = StatusBoard(self.clock, self.registry, self.log)
        self.redactor = Redactor([SECRET])
        self.root = AdminResource(
            health=self.health, status=self.status, registry=self.registry, log=self.log,
            redactor=self.redactor, token=token)

    def request(
        self, path: bytes, method: bytes = b"GET", body: bytes = b"",
        token: str | None = None, client: Any = LOCAL, host: Any = None,
    ) -> DummyRequest:
        """Route and render ``path`` as Site would; the request is finished unless the
        resource answered NOT_DONE_YET and has not finished yet."""
        request = DummyRequest(path.lstrip(b"/").split(b"/"))
        request.client = client
        request.method = method
        request.path = path
        request.uri = path
        request.content = BytesIO(body)
        if host is not None:
            request.getHost = lambda: host  # type: ignore[method-assign]
        if token is not None:
            request.requestHeaders.addRawHeader(b"authorization", b"Bearer " + token.encode())
        resource = getChildForRequest(self.root, request)
        result = resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        return request


def _json(request: DummyRequest) -> Any:
    return json.loads(b"".join(request.written))


def _header(request: DummyRequest, name: bytes) -> bytes | None:
    values = request.responseHeaders.getRawHeaders(name)
    return values[0] if values else None


class HealthEndpointTests(unittest.SynchronousTestCase):
    def test_codes_follow_status(self) -> None:
        """/health answers 200 while READY or DEGRADED and 503 while NOT_READY, with the
        checks in the body."""
        a = _Admin()
        listener = ManualCheck()
        link = ManualCheck(CheckState.OK, "connected")
        a.health.add_check("game_listener", listener, critical=True)
        a.health.add_check("messaging_link", link, critical=False)

        request = a.request(b"/health")
        self.assertEqual(request.responseCode, 503)
        self.assertEqual(_json(request)["status"], "NOT_READY")

        listener.ok("tcp:25565")
        request = a.request(b"/health")
        self.assertEqual(request.responseCode, 200)
        self.assertEqual(_json(request), {
            "status": "READY",
            "checks": {
                "game_listener": {"state": "OK", "detail": "tcp:25565"},
                "messaging_link": {"state": "OK", "detail": "connected"},
            },
        })

        link.failed("connection lost")
        request = a.request(b"/health")
        self.assertEqual(request.responseCode, 200)
        self.assertEqual(_json(request)["status"], "DEGRADED")
        self.assertEqual(_header(request, b"content-type"), b"application/json; charset=utf-8")

    def test_secret_in_detail_redacted(self) -> None:
        """A check detail that mentions a secret is scrubbed like everything else."""
        a = _Admin()
        a.health.add_check("registry_sync", ManualCheck(CheckState.FAILED, f"digest {SECRET}"),
                           critical=False)
        raw = b"".join(a.request(b"/health").written)
        self.assertNotIn(SECRET.encode(), raw)
        self.assertIn(REDACTED.encode(), raw)

    def test_unknown_paths(self) -> None:
        """Anything but the known endpoints is a JSON 404, including the root and sub-paths."""
        a = _Admin()
        for path in (b"/", b"/nope", b"/health/extra", b"/actions/missing"):
            request = a.request(path)
            self.assertEqual(request.responseCode, 404, path)
            self.assertEqual(_json(request), {"error": "not found"})


class StatusEndpointTests(unittest.SynchronousTestCase):
    def test_sections(self) -> None:
        """/status holds the built-in sections and every registered provider's section."""
        a = _Admin()
        a.status.add("players", lambda: {"online": 3, "max": 500})
        a.metrics.refusals.labels("HANDSHAKE_LIMIT").inc(4)
        a.clock.advance(90)
        body = _json(a.request(b"/status"))
        self.assertEqual(body["players"], {"online": 3, "max": 500})
        self.assertEqual(body["version"]["mcproxy"], "0.4.0")
        self.assertEqual(body["uptime"]["seconds"], 90)
        self.assertEqual(body["rejects"], {"mcproxy_refusals_total": {"HANDSHAKE_LIMIT": 4}})

    def test_secrets_redacted(self) -> None:
        """A registered secret (or the admin token) reaching /status through a provider, as a
        value, inside a longer string or as a key, is sent as <redacted>."""
        a = _Admin(token=TOKEN)
        a.status.add("links", lambda: {
            "proxy": {"secret": SECRET, "note": f"key={SECRET};", SECRET: 1, "t": [TOKEN]},
        })
        request = a.request(b"/status", token=TOKEN)
        raw = b"".join(request.written)
        self.assertNotIn(SECRET.encode(), raw)
        self.assertNotIn(TOKEN.encode(), raw)
        links = _json(request)["links"]["proxy"]
        self.assertEqual(links["secret"], REDACTED)
        self.assertEqual(links["note"], f"key={REDACTED};")
        self.assertEqual(links[REDACTED], 1)
        self.assertEqual(links["t"], [REDACTED])

    def test_failing_provider(self) -> None:
        """One failing provider spoils only its own section."""
        a = _Admin()

        def broken() -> dict[str, Any]:
            raise RuntimeError("boom")

        a.status.add("registry", broken)
        body = _json(a.request(b"/status"))
        self.assertEqual(body["registry"], {"error": "unavailable"})
        self.assertIn("version", body)


class MetricsEndpointTests(unittest.SynchronousTestCase):
    def test_prometheus_text(self) -> None:
        """/metrics is Prometheus text of the process registry, with the right content type,
        that parses back to the recorded values (the control plane's counter included)."""
        a = _Admin()
        a.metrics.logins.labels("success").inc(2)
        a.metrics.add_relayed("clientbound", 8192, 3)
        rejects = Counter("mcproxy_control_rejects", "Control-plane rejects.", ["reason"],
                          registry=a.registry)
        rejects.labels("BAD_SIGNATURE").inc()
        request = a.request(b"/metrics")
        self.assertEqual(request.responseCode, 200)
        self.assertTrue(_header(request, b"content-type").startswith(b"text/plain; version="))
        text = b"".join(request.written).decode()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
        }
        self.assertEqual(samples[("mcproxy_logins_total", (("result", "success"),))], 2)
        self.assertEqual(
            samples[("mcproxy_relayed_bytes_total", (("direction", "clientbound"),))], 8192)
        self.assertEqual(
            samples[("mcproxy_control_rejects_total", (("reason", "BAD_SIGNATURE"),))], 1)

    def test_secret_in_label_redacted(self) -> None:
        """Even a secret wrongly used as a label value never leaves in /metrics."""
        a = _Admin()
        a.metrics.refusals.labels(SECRET).inc()
        text = b"".join(a.request(b"/metrics").written).decode()
        self.assertNotIn(SECRET, text)
        self.assertIn(f'reason="{REDACTED}"', text)


class TokenTests(unittest.SynchronousTestCase):
    def test_required_everywhere(self) -> None:
        """With a token configured, every path answers 401 without it, with a wrong one or with
        another scheme, and the token is never echoed."""
        a = _Admin(token=TOKEN)
        for path in (b"/health", b"/status", b"/metrics", b"/nope", b"/actions/x"):
            for header in (None, b"Bearer wrong", b"Basic " + TOKEN.encode(), TOKEN.encode()):
                request = DummyRequest(path.lstrip(b"/").split(b"/"))
                request.client = LOCAL
                request.path = path
                if header is not None:
                    request.requestHeaders.addRawHeader(b"authorization", header)
                resource = getChildForRequest(a.root, request)
                body = resource.render(request)
                self.assertEqual(request.responseCode, 401, (path, header))
                self.assertEqual(json.loads(body), {"error": "unauthorized"})
                self.assertEqual(_header(request, b"www-authenticate"),
                                 b'Bearer realm="mcproxy-admin"')
        for event in a.events:
            self.assertNotIn(TOKEN, repr(event))

    def test_accepted(self) -> None:
        """The right bearer token opens every endpoint."""
        a = _Admin(token=TOKEN)
        for path in (b"/health", b"/status", b"/metrics"):
            self.assertEqual(a.request(path, token=TOKEN).responseCode, 200, path)

    def test_methods(self) -> None:
        """Read endpoints refuse POST with 405."""
        from twisted.web.error import UnsupportedMethod

        a = _Admin()
        with self.assertRaises(UnsupportedMethod):
            a.request(b"/health", method=b"POST")


class ActionTests(unittest.SynchronousTestCase):
    def test_action_runs_with_body(self) -> None:
        """POST /actions/<name> passes the JSON body to the action and returns its result."""
        a = _Admin()
        seen: list[dict[str, Any]] = []
        a.root.add_action("transfer", lambda body: seen.append(body) or {"done": True})
        request = a.request(b"/actions/transfer", b"POST", b'{"player": "Steve"}')
        self.assertEqual(request.responseCode, 200)
        self.assertEqual(_json(request), {"done": True})
        self.assertEqual(seen, [{"player": "Steve"}])
        self.assertEqual(_json(a.request(b"/actions")), {"actions": ["transfer"]})

    def test_deferred_action(self) -> None:
        """An action may answer later through a Deferred."""
        a = _Admin()
        later: defer.Deferred[dict[str, Any]] = defer.Deferred()
        a.root.add_action("snapshot", lambda body: later)
        request = a.request(b"/actions/snapshot", b"POST")
        self.assertFalse(request.finished)
        later.callback({"serial": 7})
        self.assertTrue(request.finished)
        self.assertEqual(_json(request), {"serial": 7})

    def test_refusals(self) -> None:
        """ActionError becomes its code and message; other errors a bare 500; a non-object
        body 400."""
        a = _Admin()

        def refuse(body: dict[str, Any]) -> dict[str, Any]:
            raise ActionError("UNKNOWN_PLAYER", 409)

        def crash(body: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError(f"leaking {SECRET}")

        a.root.add_action("refuse", refuse)
        a.root.add_action("crash", crash)
        request = a.request(b"/actions/refuse", b"POST")
        self.assertEqual((request.responseCode, _json(request)), (409, {"error": "UNKNOWN_PLAYER"}))
        request = a.request(b"/actions/crash", b"POST")
        self.assertEqual((request.responseCode, _json(request)), (500, {"error": "action failed"}))
        failures = [e["log_failure"] for e in a.events if "log_failure" in e]
        self.assertEqual([f.type for f in failures], [RuntimeError])
        request = a.request(b"/actions/refuse", b"POST", b"[1, 2]")
        self.assertEqual(request.responseCode, 400)

    def test_no_token_loopback_only(self) -> None:
        """Without a token, actions are served only to a loopback client on a loopback
        listener (or a UNIX socket); any other request gets 403 and the action never runs."""
        a = _Admin()
        calls: list[dict[str, Any]] = []
        a.root.add_action("transfer", lambda body: calls.append(body) or {})
        wide = IPv4Address("TCP", "0.0.0.0", 8765)
        public = IPv4Address("TCP", "198.51.100.1", 8765)
        v6 = IPv6Address("TCP", "::1", 8765)
        mapped = IPv6Address("TCP", "::ffff:127.0.0.1", 40000)
        cases = [
            (LOCAL, None, 200),
            (IPv6Address("TCP", "::1", 40000), v6, 200),
            (mapped, IPv6Address("TCP", "::ffff:127.0.0.1", 8765), 200),
            (UNIXAddress(b"/run/mcproxy/admin.sock"), UNIXAddress(b"/run/mcproxy/admin.sock"), 200),
            (REMOTE, wide, 403),
            (LOCAL, public, 403),
            (REMOTE, None, 403),
        ]
        for client, host, code in cases:
            request = a.request(b"/actions/transfer", b"POST", client=client, host=host)
            self.assertEqual(request.responseCode, code, (client, host))
        self.assertEqual(len(calls), 4)

    def test_token_required_for_actions(self) -> None:
        """With a token, even a loopback client needs it for actions."""
        a = _Admin(token=TOKEN)
        a.root.add_action("transfer", lambda body: {})
        self.assertEqual(a.request(b"/actions/transfer", b"POST").responseCode, 401)
        self.assertEqual(
            a.request(b"/actions/transfer", b"POST", token=TOKEN, client=REMOTE).responseCode,
            200)

    def test_body_limit(self) -> None:
        """An oversized body is refused with 413 before the action runs."""
        a = _Admin()
        a.root.add_action("x", lambda body: {})
        request = a.request(b"/actions/x", b"POST", b"{" + b" " * 70000 + b"}")
        self.assertEqual(request.responseCode, 413)

    def test_names(self) -> None:
        """Action names are unique and path-safe."""
        a = _Admin()
        a.root.add_action("x", lambda body: {})
        self.assertRaises(ValueError, a.root.add_action, "x", lambda body: {})
        self.assertRaises(ValueError, a.root.add_action, "a/b", lambda body: {})


class RealSiteTests(unittest.TestCase):
    """The site over a real socket on 127.0.0.1, spoken to by a real HTTP client."""

    def setUp(self) -> None:
        self.admin = _Admin(token=TOKEN)
        self.admin.health.add_check("game_listener", ManualCheck(CheckState.OK), critical=True)
        self.port = reactor.listenTCP(0, admin_site(self.admin.root, reactor),
                                      interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=pool)

    def get(
        self, path: str, token: str | None = TOKEN,
    ) -> defer.Deferred[tuple[int, bytes, Headers]]:
        headers = Headers()
        if token is not None:
            headers.addRawHeader(b"authorization", f"Bearer {token}".encode())
        url = f"http://127.0.0.1:{self.port.getHost().port}{path}".encode()

        @defer.inlineCallbacks
        def fetch() -> Any:
            response = yield self.agent.request(b"GET", url, headers)
            body = yield read_body(response, 16 * 1024 * 1024)
            return response.code, body, response.headers

        return fetch()

    @defer.inlineCallbacks
    def test_endpoints(self) -> None:
        """/health, /status and /metrics answer over HTTP; without the token, 401."""
        code, body, _ = yield self.get("/health")
        self.assertEqual((code, json.loads(body)["status"]), (200, "READY"))
        code, body, _ = yield self.get("/status")
        self.assertEqual(json.loads(body)["version"]["mcproxy"], "0.4.0")
        code, body, headers = yield self.get("/metrics")
        self.assertEqual(code, 200)
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        self.assertIn("mcproxy_connections", names)
        self.assertEqual(headers.getRawHeaders(b"content-type")[0].split(b";")[0], b"text/plain")
        code, _, _ = yield self.get("/status", token=None)
        self.assertEqual(code, 401)
        code, _, _ = yield self.get("/elsewhere")
        self.assertEqual(code, 404)

    @defer.inlineCallbacks
    def test_requests_logged_structured(self) -> None:
        """Each request is one debug event with method, path and code, never the token."""
        yield self.get("/health")
        logged = [e for e in self.admin.events if e.get("path") == "/health"]
        self.assertEqual([(e["method"], e["code"]) for e in logged], [("GET", 200)])
        self.assertNotIn(TOKEN, repr(self.admin.events))
