"""The proxy process as one MultiService: game listener, admin site, prober, messaging."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from mcproxy.config import ProxyConfig
from mcproxy.ops.admin import ActionError, AdminResource, admin_site
from mcproxy.ops.health import CheckResult, CheckState, HealthModel
from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.ops.probe import BackendProber
from mcproxy.ops.redaction import Redactor
from mcproxy.ops.settle import action_timeout, settle
from mcproxy.ops.status import StatusBoard
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.registry import CommandRegistry, specs_from
from mcproxy.proxy.auth import SessionServerClient
from mcproxy.proxy.directory import ProxyDirectory
from mcproxy.proxy.client import PlayerFactory
from mcproxy.proxy.commands import CommandDispatcher, builtin_commands
from mcproxy.proxy.core import ProxyCore, ProxySettings
from mcproxy.proxy.routing import Router, ServerAddress
from mcproxy.proxy.status import StatusResponder


class ListenerService(StreamServerEndpointService):
    """A listener that remembers whether it is bound, for ``/health``."""

    def __init__(self, endpoint, factory, name: str) -> None:
        super().__init__(endpoint, factory)
        self.setName(name)
        self.port = None
        self.error: str | None = None
        self._bound_waiters: list[Deferred] = []

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._waitingForPort.addCallbacks(self._bound, self._failed)

    def when_bound(self) -> Deferred:
        """Fires with the listening port once bound (at once if it already is)."""
        if self.port is not None:
            return succeed(self.port)
        d: Deferred = Deferred()
        self._bound_waiters.append(d)
        return d

    def _bound(self, port):
        self.port = port
        waiters, self._bound_waiters = self._bound_waiters, []
        for d in waiters:
            d.callback(port)
        return port

    def _failed(self, failure):
        self.error = failure.getErrorMessage()
        waiters, self._bound_waiters = self._bound_waiters, []
        for d in waiters:
            d.errback(failure)
        return failure

    def stopService(self):
        self.port = None
        return super().stopService()

    def listen_again(self) -> None:
        """Listen again on the same endpoint after ``stopService`` (a component restart)."""
        self.error = None
        self.privilegedStartService()
        self.startService()

    def check(self) -> CheckResult:
        if self.port is not None:
            host = self.port.getHost()
            return CheckResult(CheckState.OK, f"listening on {getattr(host, 'port', host)}")
        return CheckResult(CheckState.FAILED, self.error or "not listening yet")


class ProxyProcess(MultiService):
    """Everything one proxy process runs; its parts are attributes for tests and plugins."""

    def __init__(self, config: ProxyConfig, reactor: Any, log: Logger | None = None) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.log = log or Logger(namespace="mcproxy.proxy")
        self.registry = CollectorRegistry()
        self.metrics = ProxyMetrics(self.registry)
        self.redactor = Redactor()
        section = config.proxy
        security = config.security
        secret = security.proxy_secret.value if security.proxy_secret is not None else b""
        if secret:
            self.redactor.add(secret)
        if security.proxy_secret_previous is not None:
            self.redactor.add(security.proxy_secret_previous.value)
        limits = config.rate_limits
        self.settings = ProxySettings(
            online_mode=section.online_mode,
            compression_threshold=section.compression_threshold,
            forwarding=section.forwarding,
            secret=secret,
            max_players=section.max_players,
            handshake_timeout=section.handshake_timeout,
            login_timeout=section.login_timeout,
            accept_transfers=section.accept_transfers,
            max_prelogin_frame=section.max_frame_size_prelogin,
        )
        self.router = Router(
            reactor,
            {name: ServerAddress(server.host, server.port) for name, server in config.servers.items()},
            config.try_order,
            config.forced_hosts,
            concurrent_max=limits.routing_concurrent_max,
            connect_timeout=section.connect_timeout,
            login_timeout=section.login_timeout,
            max_frame_size=self.settings.max_frame_size,
            metrics=self.metrics,
            log=self.log,
        )
        session_server = None
        if section.online_mode:
            session_server = SessionServerClient(reactor, section.session_server, section.session_server_ca_file)
        self.commands = CommandDispatcher(self.log, config.permissions)
        self.core = ProxyCore(
            reactor, self.settings, status=None, router=self.router, metrics=self.metrics, log=self.log,
            session_server=session_server, commands=self.commands,
            limits={
                "handshake_concurrent_max": limits.handshake_concurrent_max,
                "connection_rate": limits.connections_per_address_rate,
                "connection_burst": limits.connections_per_address_burst,
                "login_rate": limits.logins_per_address_rate,
                "login_burst": limits.logins_per_address_burst,
            },
        )
        self.core.status = StatusResponder(
            section.motd, section.max_players, self.core.online_count,
            favicon_png=section.favicon_png or None, motd_by_host=config.motd_by_host)
        for command in builtin_commands(self.core):
            self.commands.register(command)

        self.game = ListenerService(serverFromString(reactor, section.bind), PlayerFactory(self.core), "game")
        self.game.setServiceParent(self)

        self.health = HealthModel(self.log)
        self.health.add_check("listener", self.game.check, critical=True)
        self.prober = BackendProber(
            reactor, {name: f"{s.host}:{s.port}" for name, s in config.servers.items()},
            self.metrics, self.log, health=self.health)
        self.prober.setServiceParent(self)
        self.messaging = None
        self.messaging_listener: ListenerService | None = None
        if config.messaging.enabled:
            self._start_messaging(config, reactor, secret)
        self.status_board = StatusBoard(reactor, self.registry, self.log)
        self.status_board.add("proxy", lambda: {"online_mode": section.online_mode,
                                                "forwarding": section.forwarding})
        if self.messaging is not None:
            self.status_board.add("links", self.messaging.status)
            self.status_board.add("registry", lambda: {"serial": self.command_registry.serial,
                                                       "digest": self.command_registry.digest})
        self.status_board.add("players", self._players_status)
        self.status_board.add("backends", self.prober.status)
        if config.admin.bind:
            token = config.admin.token.value.decode("utf-8") if config.admin.token is not None else None
            self.admin = AdminResource(health=self.health, status=self.status_board, registry=self.registry,
                                       log=self.log, redactor=self.redactor, token=token)
            admin = ListenerService(serverFromString(reactor, config.admin.bind),
                                    admin_site(self.admin, reactor), "admin")
            admin.setServiceParent(self)
            if self.messaging is not None:
                self.admin.add_action("restart_messaging", self._restart_messaging)

    def _start_messaging(self, config: ProxyConfig, reactor: Any, secret: bytes) -> None:
        """The control-plane listener, and the command registry backends mirror."""
        messaging = config.messaging
        previous = config.security.proxy_secret_previous
        self.command_registry = CommandRegistry.seeded_from(reactor.seconds(), specs_from(self.commands.commands()))
        self.commands.on_change(lambda: self.command_registry.replace_all(specs_from(self.commands.commands())))
        self.messaging = ControlServerFactory(
            messaging.control_sender_id, secret, config.servers.keys(), self.command_registry,
            ProxyDirectory(self.core), reactor, self.registry, self.log,
            proxy_secret_previous=previous.value if previous is not None else None,
            max_payload=messaging.control_max_payload, max_clock_skew=messaging.control_max_clock_skew)
        listener = ListenerService(serverFromString(reactor, messaging.bind), self.messaging, "messaging")
        listener.setServiceParent(self)
        self.messaging_listener = listener
        self.health.add_check("messaging", self._messaging_check, critical=False)

    @inlineCallbacks
    def _restart_messaging(self, body: dict):
        """Admin action: stop the messaging listener, drop every link, listen again.

        Backends reconnect on their own and resync; the answer waits (bounded) until
        every backend under [servers] is linked and synchronized again.
        """
        timeout = action_timeout(body)
        self.log.info("messaging restart requested")
        listener, messaging = self.messaging_listener, self.messaging
        yield listener.stopService()
        dropped = messaging.drop_links()
        # Connections close on a later turn; until they have, the links still look healthy.
        yield settle(self.reactor, lambda: not messaging.live, timeout)
        listener.listen_again()
        bound = yield settle(self.reactor, lambda: listener.port is not None, timeout)
        if not bound:
            raise ActionError(f"the messaging listener did not bind again: {listener.error or 'timed out'}",
                              code=503)
        settled = yield settle(self.reactor, lambda: not messaging.problems(), timeout)
        self.log.info("messaging restarted; {dropped} link(s) dropped, settled={settled}",
                      dropped=dropped, settled=settled)
        return dict(messaging.status(), dropped=dropped, settled=settled,
                    problems=messaging.problems())

    def _messaging_check(self) -> CheckResult:
        problems = self.messaging.problems()
        if problems:
            return CheckResult(CheckState.FAILED, "; ".join(problems))
        return CheckResult(CheckState.OK, f"{len(self.messaging.links)} backend(s) linked and synchronized")

    def _players_status(self) -> dict:
        by_server = self.core.players.by_server()
        return {
            "online": len(self.core.players),
            "max": self.settings.max_players,
            "by_server": {name: len(names) for name, names in sorted(by_server.items())},
            "connections": self.core.connections,
        }

    def startService(self) -> None:
        self.core.start()
        super().startService()
        self.log.info("mcproxy listening on {bind}", bind=self.config.proxy.bind)

    def stopService(self):
        self.core.stop()
        return super().stopService()
