"""The backend process as one MultiService: limbo listener, control link, admin site."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.internet.endpoints import clientFromString, serverFromString
from twisted.logger import Logger

from mcproxy.backend.module import BackendModule
from mcproxy.backend.packets import Spawn
from mcproxy.backend.server import LimboFactory, LimboSettings
from mcproxy.config import BackendConfig
from mcproxy.config.unsafe import unsafe_settings
from mcproxy.control.backend_side import BackendControlLink
from mcproxy.ops.admin import ActionError, AdminResource, admin_site
from mcproxy.ops.admin_listener import AdminListenerService
from mcproxy.ops.health import CheckResult, CheckState, HealthModel, ManualCheck
from mcproxy.ops.history import History, status_and_metrics
from mcproxy.ops.metrics import BackendMetrics
from mcproxy.ops.redaction import Redactor
from mcproxy.ops.settle import action_timeout, settle
from mcproxy.ops.status import StatusBoard
from mcproxy.ops.unsafe import publish_unsafe_settings
from mcproxy.versions import SHIPPED, VersionSet


class BackendProcess(MultiService):
    """Everything one backend process runs; its parts are attributes for tests and hosts.

    ``versions`` is what the process announces (Hello, /status); only tests that play a
    backend from another release pass anything but the shipped set.
    """

    def __init__(self, config: BackendConfig, reactor: Any, log: Logger | None = None,
                 versions: VersionSet = SHIPPED) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.versions = versions
        self.log = log or Logger(namespace="mcproxy.backend")
        self.registry = CollectorRegistry()
        self.metrics = BackendMetrics(self.registry)
        backend = config.backend
        self.secrets = [
            ("current", backend.proxy_secret.value if backend.proxy_secret else b""),
            ("previous", backend.proxy_secret_previous.value if backend.proxy_secret_previous else b""),
        ]
        self.redactor = Redactor([secret for _, secret in self.secrets if secret])
        self.link = self._control_link() if config.messaging.enabled else None
        self.module = BackendModule(enforce_proxy=backend.enforce_proxy,
                                    require_authenticated_mode=backend.require_authenticated_mode,
                                    secrets=self.secrets, metrics=self.metrics, link=self.link,
                                    log=self.log, forwarding=backend.forwarding)
        x, y, z = backend.spawn
        settings = LimboSettings(server_id=backend.server_id, motd=backend.motd,
                                 max_players=backend.max_players,
                                 compression_threshold=backend.compression_threshold,
                                 spawn=Spawn(x, y, z))
        self.factory = LimboFactory(settings, self.module, reactor, self.registry, self.metrics,
                                    log=Logger(namespace="mcproxy.backend.limbo"))
        self.listener = StreamServerEndpointService(serverFromString(reactor, backend.bind), self.factory)
        self.listener.setServiceParent(self)
        self.health = HealthModel(self.log)
        self.status_board = StatusBoard(reactor, self.registry, self.log, versions)
        publish_unsafe_settings(unsafe_settings(config), self.registry, self.log, self.status_board)
        self.history: History | None = None
        self.admin: AdminResource | None = None
        if config.admin.bind:
            admin_config = config.admin
            self.history = History(reactor, status_and_metrics(self.status_board, self.registry, self.redactor),
                                   backend.server_id, admin_config.history_dir, admin_config.history_period,
                                   admin_config.history_retention, self.log)
            self.history.setServiceParent(self)
            self.admin = self._admin()
            AdminListenerService(serverFromString(reactor, config.admin.bind), admin_site(self.admin, reactor),
                                 f"{config.path}: admin.bind").setServiceParent(self)

    def _control_link(self) -> BackendControlLink | None:
        """The reconnecting link to the proxy; none without a secret to sign with."""
        secret, previous = self.secrets[0][1], self.secrets[1][1]
        if not secret:
            self.log.warn("messaging is enabled but no proxy_secret is set: command bridge disabled")
            return None
        config = self.config
        link = BackendControlLink(
            config.backend.server_id, secret, clientFromString(self.reactor, config.messaging.proxy),
            self.reactor, self.registry, Logger(namespace="mcproxy.control"),
            proxy_secret_previous=previous or None,
            expected_sender_id=config.backend.control_expected_sender_id,
            max_payload=config.messaging.control_max_payload,
            max_clock_skew=config.messaging.control_max_clock_skew,
            retry_max_delay=config.messaging.reconnect_max_delay,
            # BackendMetrics exports the bridge gauges; the module keeps them current.
            state_gauges=False,
            artifact_version=self.versions.artifact,
            control_version=self.versions.control_protocol,
            endpoint_description=config.messaging.proxy)
        link.setServiceParent(self)
        return link

    def _admin(self) -> AdminResource:
        """/health, /status, /metrics and the runbook's actions for this backend."""
        config, factory = self.config, self.factory
        listener = ManualCheck(CheckState.FAILED, "not listening yet")
        factory.on_listening = lambda: listener.ok(config.backend.bind)
        self.health.add_check("listener", listener, critical=True)
        self.status_board.add("backend", self._backend_status)
        token = config.admin.token.value.decode("utf-8") if config.admin.token else None
        admin = AdminResource(health=self.health, status=self.status_board, registry=self.registry,
                              log=self.log, redactor=self.redactor, token=token, history=self.history)
        if self.link is None:
            enabled = config.messaging.enabled
            self.health.add_check("messaging", lambda: CheckResult(
                CheckState.DEGRADED if enabled else CheckState.OK,
                "no link" if enabled else "disabled"), critical=False)
            return admin
        self.health.add_check("messaging", self._messaging_check, critical=False)
        self.status_board.add("link", self.link.status)
        admin.add_action("request_snapshot", self._request_snapshot)
        admin.add_action("restart_bridge", self._restart_bridge)
        admin.add_action("bridge_enable", self._bridge(True))
        admin.add_action("bridge_disable", self._bridge(False))
        admin.add_action("transfer", self._transfer)
        return admin

    def _backend_status(self) -> dict:
        factory, backend = self.factory, self.config.backend
        return {
            "server_id": factory.settings.server_id,
            "players": sorted(p.name for p in factory.players.values()),
            "logins_in_progress": factory.logins_in_progress,
            "enforce_proxy": backend.enforce_proxy,
            "forwarding": backend.forwarding,
            "require_authenticated_mode": backend.require_authenticated_mode,
        }

    def _messaging_check(self) -> CheckResult:
        problems = self.link.problems()
        return CheckResult(CheckState.DEGRADED if problems else CheckState.OK, "; ".join(problems))

    def _request_snapshot(self, body: dict) -> Any:
        """Resync; answer with the state reached, or why not, within the asked timeout."""
        timeout = action_timeout(body)
        link = self.link
        d = link.request_snapshot()
        d.addTimeout(timeout, self.reactor)
        d.addCallback(lambda _: dict(link.status(), done=True))
        d.addErrback(lambda failure: dict(link.status(), **_refused(failure, timeout, link)))
        return d

    def _bridge(self, enabled: bool):
        def action(body: dict) -> dict:
            (self.link.enable_bridge if enabled else self.link.disable_bridge)()
            return self.link.status()
        return action

    def _transfer(self, body: dict) -> Any:
        player, server = body.get("player"), body.get("server")
        if not isinstance(player, str) or not isinstance(server, str):
            raise ActionError("transfer needs \"player\" and \"server\" strings")
        d = self.link.request_transfer(player, server)
        d.addCallback(lambda result: {"done": result.done, "reason": result.reason})
        d.addErrback(_refused)
        return d

    def _restart_bridge(self, body: dict) -> Any:
        """Drop and re-establish the control link, then report the state it settled in."""
        timeout = action_timeout(body)
        link = self.link
        d = link.restart()
        # A sync refused for a reason (not just slow) is an answer too: no use waiting on.
        d.addCallback(lambda _: settle(self.reactor, lambda: link.link_up and (link.synchronized or link.sync_error),
                                       timeout))
        d.addCallback(lambda _: link.link_up and link.synchronized)
        d.addCallback(lambda settled: dict(link.status(), settled=settled,
                                           reason="" if settled else _unsettled(link, timeout)))
        return d


def _refused(failure: Any, timeout: float | None = None,
             link: BackendControlLink | None = None) -> dict:
    """An action's refusal as the operator reads it: the control-plane reason first."""
    if failure.check(defer.TimeoutError) and link is not None:
        return {"done": False, "reason": _unsettled(link, timeout or 0)}
    reason = getattr(failure.value, "reason", None)
    text = str(getattr(reason, "value", reason) or failure.value)
    if link is not None and link.sync_error:
        text = link.sync_error
    return {"done": False, "reason": text}


def _unsettled(link: BackendControlLink, timeout: float) -> str:
    """Why the link did not reach "up and synchronized" within ``timeout`` seconds."""
    why = "; ".join(link.problems()) or "still synchronizing"
    if link.link_up and link.sync_error:
        return f"not synchronized: {why}"
    return f"not synchronized within {timeout:g} s: {why}"
