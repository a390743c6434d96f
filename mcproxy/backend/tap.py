"""``twistd mcbackend``: the reference backend (limbo) with its backend-mod, control link and
admin endpoints, as one service tree built from ``backend.toml``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
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
from mcproxy.ops.health import CheckResult, CheckState, HealthModel, ManualCheck
from mcproxy.ops.history import History, status_and_metrics
from mcproxy.ops.logging import LoggingMultiService, start_logging
from mcproxy.ops.metrics import BackendMetrics
from mcproxy.ops.redaction import Redactor
from mcproxy.ops.status import StatusBoard
from mcproxy.ops.unsafe import publish_unsafe_settings
from mcproxy.options import BackendOptions
from mcproxy.ops.settle import action_timeout, settle
from mcproxy.versions import SHIPPED, VersionSet

Options = BackendOptions


def makeService(options: BackendOptions) -> IService:
    """twistd's entry point: the only place the global reactor is touched."""
    from twisted.internet import reactor

    return build_service(options.config, reactor)


def _secrets(config: BackendConfig) -> list[tuple[str, bytes]]:
    backend = config.backend
    return [
        ("current", backend.proxy_secret.value if backend.proxy_secret else b""),
        ("previous", backend.proxy_secret_previous.value if backend.proxy_secret_previous
         else b""),
    ]


def build_service(config: BackendConfig, reactor: Any,
                  versions: VersionSet = SHIPPED) -> LoggingMultiService:
    """The backend process: limbo listener, control link (if messaging is on), admin site.

    ``versions`` is what the process announces (Hello, /status); only tests that play a
    backend from another release pass anything but the shipped set.
    """
    secrets = _secrets(config)
    redactor = Redactor([secret for _, secret in secrets if secret])
    top = LoggingMultiService(start_logging(config.logging.level, config.logging.file or None,
                                            redactor))
    log = Logger(namespace="mcproxy.backend")
    registry = CollectorRegistry()
    metrics = BackendMetrics(registry)
    backend = config.backend

    link = None
    if config.messaging.enabled and secrets[0][1]:
        link = BackendControlLink(
            backend.server_id, secrets[0][1], clientFromString(reactor, config.messaging.proxy),
            reactor, registry, Logger(namespace="mcproxy.control"),
            proxy_secret_previous=secrets[1][1] or None,
            expected_sender_id=backend.control_expected_sender_id,
            max_payload=config.messaging.control_max_payload,
            max_clock_skew=config.messaging.control_max_clock_skew,
            retry_max_delay=config.messaging.reconnect_max_delay,
            # BackendMetrics exports the bridge gauges; the module keeps them current.
            state_gauges=False,
            artifact_version=versions.artifact,
            control_version=versions.control_protocol,
            endpoint_description=config.messaging.proxy)
        link.setServiceParent(top)
    elif config.messaging.enabled:
        log.warn("messaging is enabled but no proxy_secret is set: command bridge disabled")

    module = BackendModule(enforce_proxy=backend.enforce_proxy,
                           require_authenticated_mode=backend.require_authenticated_mode,
                           secrets=secrets, metrics=metrics, link=link, log=log)
    x, y, z = backend.spawn
    settings = LimboSettings(server_id=backend.server_id, motd=backend.motd,
                             max_players=backend.max_players,
                             compression_threshold=backend.compression_threshold,
                             spawn=Spawn(x, y, z))
    factory = LimboFactory(settings, module, reactor, registry, metrics,
                           log=Logger(namespace="mcproxy.backend.limbo"))
    StreamServerEndpointService(serverFromString(reactor, backend.bind),
                                factory).setServiceParent(top)

    if not config.admin.bind:
        publish_unsafe_settings(unsafe_settings(config), registry, log)
    if config.admin.bind:
        admin = _admin(config, reactor, registry, log, redactor, factory, link, versions)
        admin.history.setServiceParent(top)
        StreamServerEndpointService(serverFromString(reactor, config.admin.bind),
                                    admin_site(admin, reactor)).setServiceParent(top)
    return top


def _admin(config: BackendConfig, reactor: Any, registry: CollectorRegistry, log: Logger,
           redactor: Redactor, factory: LimboFactory,
           link: BackendControlLink | None, versions: VersionSet) -> AdminResource:
    """/health, /status, /metrics and the runbook's actions for this backend."""
    health = HealthModel(log)
    listener = ManualCheck(CheckState.FAILED, "not listening yet")
    factory.on_listening = lambda: listener.ok(config.backend.bind)
    health.add_check("listener", listener, critical=True)
    status = StatusBoard(reactor, registry, log, versions)
    status.add("backend", lambda: {
        "server_id": factory.settings.server_id,
        "players": sorted(p.name for p in factory.players.values()),
        "logins_in_progress": factory.logins_in_progress,
        "enforce_proxy": config.backend.enforce_proxy,
        "require_authenticated_mode": config.backend.require_authenticated_mode,
    })
    publish_unsafe_settings(unsafe_settings(config), registry, log, status)
    token = config.admin.token.value.decode("utf-8") if config.admin.token else None
    history = History(reactor, status_and_metrics(status, registry, redactor), config.backend.server_id,
                      config.admin.history_dir, config.admin.history_period,
                      config.admin.history_retention, log)
    admin = AdminResource(health=health, status=status, registry=registry, log=log,
                          redactor=redactor, token=token, history=history)
    if link is None:
        health.add_check("messaging", lambda: CheckResult(
            CheckState.DEGRADED if config.messaging.enabled else CheckState.OK,
            "no link" if config.messaging.enabled else "disabled"), critical=False)
        return admin

    def messaging() -> CheckResult:
        problems = link.problems()
        return CheckResult(CheckState.DEGRADED if problems else CheckState.OK,
                           "; ".join(problems))

    health.add_check("messaging", messaging, critical=False)
    status.add("link", link.status)

    def request_snapshot(body: dict) -> Any:
        """Resync; answer with the state reached, or why not, within the asked timeout."""
        timeout = action_timeout(body)
        d = link.request_snapshot()
        d.addTimeout(timeout, reactor)
        d.addCallback(lambda _: dict(link.status(), done=True))
        d.addErrback(lambda failure: dict(link.status(), **_refused(failure, timeout, link)))
        return d

    def bridge(enabled: bool):
        def action(body: dict) -> dict:
            (link.enable_bridge if enabled else link.disable_bridge)()
            return link.status()
        return action

    def transfer(body: dict) -> Any:
        player, server = body.get("player"), body.get("server")
        if not isinstance(player, str) or not isinstance(server, str):
            raise ActionError("transfer needs \"player\" and \"server\" strings")
        d = link.request_transfer(player, server)
        d.addCallback(lambda result: {"done": result.done, "reason": result.reason})
        d.addErrback(lambda failure: _refused(failure))
        return d

    def restart_bridge(body: dict) -> Any:
        """Drop and re-establish the control link, then report the state it settled in."""
        timeout = action_timeout(body)
        d = link.restart()
        # A sync refused for a reason (not just slow) is an answer too: no use waiting on.
        d.addCallback(lambda _: settle(reactor, lambda: link.link_up and (link.synchronized or link.sync_error),
                                       timeout))
        d.addCallback(lambda _: link.link_up and link.synchronized)
        d.addCallback(lambda settled: dict(link.status(), settled=settled,
                                           reason="" if settled else _unsettled(link, timeout)))
        return d

    admin.add_action("request_snapshot", request_snapshot)
    admin.add_action("restart_bridge", restart_bridge)
    admin.add_action("bridge_enable", bridge(True))
    admin.add_action("bridge_disable", bridge(False))
    admin.add_action("transfer", transfer)
    return admin


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
