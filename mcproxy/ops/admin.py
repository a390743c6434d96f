"""The admin HTTP surface: ``/health``, ``/status``, ``/metrics`` and operator actions.

The caller owns the listener: it parses ``[admin].bind`` with ``serverFromString`` and wraps
``admin_site(...)`` in a ``StreamServerEndpointService``, so TLS or UNIX sockets need nothing here.

Access rules:

- With a token configured, every path (``/health`` included) needs
  ``Authorization: Bearer <token>``; anything else gets 401 before routing, so an unauthenticated
  client cannot even learn which paths exist.  Load balancers and Prometheus can both send the
  header.
- ``POST /actions/<name>`` changes state, so without a token it is served only to a client that
  is itself on a loopback address *and* reached the server on one (or over a UNIX socket); this
  is decided per request from the sockets' addresses, so a listener bound to ``0.0.0.0`` cannot
  expose actions by mistake.  Otherwise: 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from mcproxy.interfaces import IHistory
from mcproxy.ops.health import HealthModel, Readiness
from mcproxy.ops.logging import format_address
from mcproxy.ops.redaction import Redactor
from mcproxy.ops.status import StatusBoard

#: Largest accepted action request body.
MAX_ACTION_BODY = 65536

JSONObject = dict[str, Any]
Action = Callable[[JSONObject], "JSONObject | defer.Deferred[JSONObject]"]


class ActionError(Exception):
    """Raised by an action to refuse with a message the operator sees (HTTP ``code``)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _is_loopback(address: object) -> bool:
    if isinstance(address, UNIXAddress):
        return True
    if not isinstance(address, (IPv4Address, IPv6Address)):
        return False
    try:
        ip = ipaddress.ip_address(address.host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class _Node(Resource):
    """Base of every admin resource: unknown children are a JSON 404."""

    def __init__(self, admin: AdminResource) -> None:
        super().__init__()
        self._admin = admin

    def getChild(self, path: bytes, request: Request) -> Resource:
        return _Fixed(self._admin, 404, {"error": "not found"})


class _Fixed(_Node):
    """A canned JSON answer, whatever the method."""

    def __init__(self, admin: AdminResource, code: int, body: JSONObject,
                 headers: dict[bytes, bytes] | None = None) -> None:
        super().__init__(admin)
        self._code = code
        self._body = body
        self._headers = headers or {}

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self

    def render(self, request: Request) -> bytes:
        for name, value in self._headers.items():
            request.setHeader(name, value)
        return self._admin.json_response(request, self._code, self._body)


class _Health(_Node):
    def render_GET(self, request: Request) -> bytes:
        report = self._admin.health.evaluate()
        code = 503 if report.status is Readiness.NOT_READY else 200
        return self._admin.json_response(request, code, report.to_json())


class _Status(_Node):
    def render_GET(self, request: Request) -> bytes:
        return self._admin.json_response(request, 200, self._admin.status.snapshot())


class _Metrics(_Node):
    def render_GET(self, request: Request) -> bytes:
        text = generate_latest(self._admin.registry).decode("utf-8")
        request.setResponseCode(200)
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return self._admin.redactor.redact_text(text).encode("utf-8")


class _History(_Node):
    """``GET /history?since=<epoch>&until=<epoch>``: the kept samples of that window."""

    def render_GET(self, request: Request) -> bytes:
        history = self._admin.history
        if history is None:
            return self._admin.json_response(request, 404, {"error": "this process keeps no history"})
        try:
            since = float(request.args.get(b"since", [b"0"])[0])
            until = float(request.args.get(b"until", [b"inf"])[0])
        except ValueError:
            return self._admin.json_response(request, 400, {"error": "since and until are epoch seconds"})
        samples = history.samples(since, until)
        return self._admin.json_response(request, 200, {
            "process": history.name, "interval": history.interval, "retention": history.retention,
            "samples": samples})


class _Actions(_Node):
    def render_GET(self, request: Request) -> bytes:
        return self._admin.json_response(request, 200, {"actions": sorted(self._admin.actions)})

    def getChild(self, path: bytes, request: Request) -> Resource:
        name = path.decode("utf-8", "replace")
        if name not in self._admin.actions:
            return super().getChild(path, request)
        return _ActionNode(self._admin, name)


class _ActionNode(_Node):
    def __init__(self, admin: AdminResource, name: str) -> None:
        super().__init__(admin)
        self._name = name

    def render_POST(self, request: Request) -> bytes | int:
        admin = self._admin
        if admin.token is None and not (
            _is_loopback(request.getClientAddress()) and _is_loopback(request.getHost())
        ):
            admin.log.warn(
                "refused admin action {action} from {peer}: no admin token is configured and "
                "the request is not local",
                action=self._name, peer=format_address(request.getClientAddress()))
            return admin.json_response(
                request, 403, {"error": "actions need an admin token on a non-loopback listener"})
        content = getattr(request, "content", None)
        raw = content.read(MAX_ACTION_BODY + 1) if content is not None else b""
        if len(raw) > MAX_ACTION_BODY:
            return admin.json_response(request, 413, {"error": "request body too large"})
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return admin.json_response(request, 400, {"error": "body must be a JSON object"})

        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def answered(result: JSONObject) -> None:
            if not gone:
                admin.json_response(request, 200, result, finish=True)

        def refused(reason: Failure) -> None:
            if reason.check(ActionError):
                error: ActionError = reason.value
                code, out = error.code, {"error": error.message}
            else:
                admin.log.failure("admin action {action} failed", reason, action=self._name)
                code, out = 500, {"error": "action failed"}
            if not gone:
                admin.json_response(request, code, out, finish=True)

        admin.log.info("admin action {action} requested by {peer}",
                       action=self._name, peer=format_address(request.getClientAddress()))
        defer.maybeDeferred(admin.actions[self._name], body).addCallbacks(answered, refused)
        return NOT_DONE_YET


class AdminResource(_Node):
    """Root of the admin tree; holds what the endpoints read and the registered actions."""

    def __init__(
        self,
        *,
        health: HealthModel,
        status: StatusBoard,
        registry: CollectorRegistry,
        log: Logger,
        redactor: Redactor,
        token: str | None = None,
        history: IHistory | None = None,
    ) -> None:
        super().__init__(self)
        self.history = history
        self.health = health
        self.status = status
        self.registry = registry
        self.log = log
        self.redactor = redactor
        self.token = token or None
        self._token_bytes = self.token.encode("utf-8") if self.token else b""
        if self.token:
            redactor.add(self.token)
        self.actions: dict[str, Action] = {}
        self.putChild(b"health", _Health(self))
        self.putChild(b"status", _Status(self))
        self.putChild(b"metrics", _Metrics(self))
        self.putChild(b"actions", _Actions(self))
        self.putChild(b"history", _History(self))

    def add_action(self, name: str, action: Action) -> None:
        """Serve ``action`` at ``POST /actions/<name>``.

        It receives the request's JSON object (``{}`` for an empty body) and returns, or fires
        a Deferred with, a JSON-able dict; raising :class:`ActionError` refuses with a message.
        """
        if not name or "/" in name:
            raise ValueError(f"bad action name {name!r}")
        if name in self.actions:
            raise ValueError(f"admin action {name!r} is already registered")
        self.actions[name] = action

    def authorized(self, request: Request) -> bool:
        """Whether ``request`` carries the token (always true when none is configured)."""
        if self.token is None:
            return True
        header = request.getHeader(b"authorization") or b""
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() != b"bearer":
            credentials = b""
        return hmac.compare_digest(credentials.strip(), self._token_bytes)

    def getChildWithDefault(self, path: bytes, request: Request) -> Resource:
        if not self.authorized(request):
            self.log.warn("unauthorized admin request for {path} from {peer}",
                          path=request.path.decode("utf-8", "replace"),
                          peer=format_address(request.getClientAddress()))
            return _Fixed(self, 401, {"error": "unauthorized"},
                          {b"www-authenticate": b'Bearer realm="mcproxy-admin"'})
        return super().getChildWithDefault(path, request)

    def render(self, request: Request) -> bytes:
        return self.json_response(request, 404, {"error": "not found"})

    def json_response(self, request: Request, code: int, body: Any, finish: bool = False) -> bytes:
        """Encode ``body`` with every registered secret scrubbed, set the status and headers.

        Values JSON cannot encode are turned into text, which is scrubbed too.
        """
        def fallback(value: object) -> str:
            return self.redactor.redact_text(str(value))

        data = json.dumps(self.redactor.redact_json(body), default=fallback).encode("utf-8")
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        if finish:
            request.write(data)
            request.finish()
        return data


class _AdminSite(Site):
    """A Site that logs each request as one structured debug event instead of an access line."""

    noisy = False
    displayTracebacks = False

    def __init__(self, resource: AdminResource, reactor: Any) -> None:
        super().__init__(resource, reactor=reactor)
        self._admin_log = resource.log

    def log(self, request: Request) -> None:
        self._admin_log.debug(
            "admin {method} {path} {code}",
            method=request.method.decode("ascii", "replace"),
            path=request.path.decode("utf-8", "replace"),
            code=request.code,
            peer=format_address(request.getClientAddress()),
        )


def admin_site(root: AdminResource, reactor: Any) -> Site:
    """The HTTP factory serving ``root``; listen on it with the ``[admin].bind`` endpoint."""
    return _AdminSite(root, reactor)
