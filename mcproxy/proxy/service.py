"""The proxy process as one MultiService: game listener, admin site, prober, messaging."""

from __future__ import annotations

import dataclasses
import os
import signal
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from twisted.application.service import MultiService, Service
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.endpoints import HostnameEndpoint, serverFromString
from twisted.logger import Logger

from mcproxy import __version__
from mcproxy.cluster.directory import ClusterDirectory
from mcproxy.cluster.signing import MessageSigner
from mcproxy.cluster.metrics import ClusterMetrics
from mcproxy.cluster.redis import RedisLink
from mcproxy.cluster.store import EVENTS, rpc_channel
from mcproxy.config import ConfigError, ProxyConfig, load_proxy_config
from mcproxy.config.unsafe import unsafe_settings
from mcproxy.ops.admin import ActionError, AdminResource, admin_site
from mcproxy.ops.admin_listener import AdminListenerService
from mcproxy.ops.listener import BoundListener
from mcproxy.ops.health import CheckResult, CheckState, HealthModel
from mcproxy.ops.history import History, status_and_metrics
from mcproxy.ops.memory import MemorySnapshots
from mcproxy.ops.metrics import ProxyMetrics
from mcproxy.ops.probe import BackendProber
from mcproxy.ops.redaction import Redactor
from mcproxy.ops.settle import action_timeout, settle
from mcproxy.ops.status import StatusBoard
from mcproxy.ops.unsafe import publish_unsafe_settings
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.registry import CommandRegistry, specs_from
from mcproxy.proxy.auth import SessionServerClient
from mcproxy.proxy.client import PlayerFactory
from mcproxy.proxy.commands import CommandDispatcher, builtin_commands
from mcproxy.proxy.console import command_action
from mcproxy.proxy.network_commands import network_commands
from mcproxy.proxy.core import ProxyCore, ProxySettings
from mcproxy.proxy.passthrough import StatusPassthrough
from mcproxy.proxy.plugins import PluginManager
from mcproxy.proxy.probes import MAX_ARMED_NAMES, arm_request
from mcproxy.proxy.reuseport import shared_endpoint
from mcproxy.proxy.worker import WorkerSlot
from mcproxy.proxy.query import QueryListener, QueryProtocol, listener_interface
from mcproxy.proxy.routing import Router, ServerAddress
from mcproxy.proxy.status import StatusResponder, motd_component
from mcproxy.proxy.trusted import parse_networks, player_endpoint
from mcproxy.wire.chat import plain_text
from mcproxy.wire.packets import supported_range
from mcproxy.wire.query import QueryInfo


def reads_proxy_header(bind: str) -> bool:
    """Whether a listener's endpoint string reads a PROXY protocol header first."""
    return bind.strip().lower().startswith("haproxy:")


class ListenerService(BoundListener):
    """A listener that remembers whether it is bound, for ``/health``."""

    log = Logger(namespace="mcproxy.proxy")

    def __init__(self, endpoint, factory, name: str) -> None:
        super().__init__(endpoint, factory, name)
        self.error: str | None = None

    def privilegedStartService(self) -> None:
        # Twisted's version logs a bind failure as an unhandled traceback and swallows it
        # before our callbacks run, so /health could only say "not listening yet".
        Service.privilegedStartService(self)
        self._waitingForPort = self.endpoint.listen(self.factory)
        self._waitingForPort.addCallbacks(self._bound, self._failed)

    def _failed(self, failure) -> None:
        self.error = failure.getErrorMessage()
        self.log.error("{listener} listener failed: {error}", listener=self.name, error=self.error)
        self._bind_failed(failure)

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

    def __init__(self, config: ProxyConfig, reactor: Any, log: Logger | None = None,
                 worker: WorkerSlot | None = None) -> None:
        super().__init__()
        self.worker = worker
        # What the operator set: a worker's own differences are not their choices.
        chosen = config
        if worker is not None:
            config = worker.shape(config)
        self.config = config
        self.reactor = reactor
        self.log = log or Logger(namespace="mcproxy.proxy")
        self.registry = CollectorRegistry()
        self.metrics = ProxyMetrics(self.registry)
        self.redactor = Redactor()
        section = config.proxy
        self.settings = ProxySettings.from_config(config)
        for secret in (self.settings.secret, self.settings.secret_previous):
            if secret:
                self.redactor.add(secret)
        limits = config.rate_limits
        self.router = Router(
            reactor,
            server_addresses(config.servers),
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
            session_server=session_server, commands=self.commands, limits=limits)
        self.core.status = self._status_source(config)
        for command in builtin_commands(self.core) + network_commands(self.core):
            self.commands.register(command)
        self.plugins = PluginManager(self.core, self.log, config.plugins.allow)

        trusted = parse_networks(section.proxy_protocol_trusted)
        listen = shared_endpoint if worker is not None else serverFromString
        self.listeners = [
            ListenerService(player_endpoint(reactor, bind, trusted, self.core.refused_source, listen),
                            PlayerFactory(self.core, behind_proxy_protocol=reads_proxy_header(bind)),
                            "game" if n == 0 else f"game-{n + 1}")
            for n, bind in enumerate(section.binds)
        ]
        self.game = self.listeners[0]
        self.health = HealthModel(self.log)
        for n, listener in enumerate(self.listeners):
            listener.setServiceParent(self)
            self.health.add_check("listener" if n == 0 else f"listener-{n + 1}", listener.check, critical=True)
        self.query: QueryProtocol | None = None
        if config.query.enabled:
            self.query = QueryProtocol(reactor, self._query_info, self.metrics, self.log)
            listener = QueryListener(reactor, config.query.port, listener_interface(section.bind), self.query,
                                     self.log)
            listener.setServiceParent(self)
            self.health.add_check("query", listener.check, critical=False)
        self.prober = BackendProber(
            reactor, {name: f"{s.host}:{s.port}" for name, s in config.servers.items()},
            self.metrics, self.log, health=self.health, interval=config.admin.probe_interval)
        self.prober.setServiceParent(self)
        self.router.observe = self.prober.observe
        self.cluster = None
        if config.cluster.enabled:
            self._start_cluster(config, reactor)
        self.messaging = None
        self.messaging_listener: ListenerService | None = None
        if config.messaging.enabled:
            self._start_messaging(config, reactor, self.settings.secret)
        self.status_board = StatusBoard(reactor, self.registry, self.log)
        self.status_board.add("proxy", lambda: {"online_mode": self.config.proxy.online_mode,
                                                "forwarding": self.config.proxy.forwarding})
        if self.messaging is not None:
            self.status_board.add("links", self.messaging.status)
            self.status_board.add("registry", lambda: {"serial": self.command_registry.serial,
                                                       "digest": self.command_registry.digest})
        self.status_board.add("players", self._players_status)
        if worker is not None:
            self.status_board.add("worker", lambda: dict(worker.status(), pid=os.getpid()))
            Gauge("mcproxy_worker_restarts", "Times the supervisor restarted this worker's slot",
                  registry=self.registry).set(worker.restarts)
        if self.cluster is not None:
            self.status_board.add("cluster", self.cluster.status)
        self.status_board.add("plugins", lambda: {"enabled": self.config.plugins.enabled,
                                                   "loaded": sorted(self.plugins.loaded)})
        self.status_board.add("backends", self.prober.status)
        publish_unsafe_settings(unsafe_settings(chosen), self.registry, self.log, self.status_board)
        if config.admin.bind:
            token = config.admin.token.value.decode("utf-8") if config.admin.token is not None else None
            admin_config = config.admin
            self.history = History(reactor, status_and_metrics(self.status_board, self.registry, self.redactor),
                                   config.messaging.control_sender_id, admin_config.history_dir,
                                   admin_config.history_period, admin_config.history_retention, self.log)
            self.history.setServiceParent(self)
            self.admin = AdminResource(health=self.health, status=self.status_board, registry=self.registry,
                                       log=self.log, redactor=self.redactor, token=token, history=self.history)
            AdminListenerService(serverFromString(reactor, config.admin.bind), admin_site(self.admin, reactor),
                                 f"{config.path}: admin.bind").setServiceParent(self)
            self.admin.add_action("command", command_action(self.commands, self.log))
            self.admin.add_action("arm_probe_players", self._arm_probe_players)
            self.admin.add_action("memory_snapshot", MemorySnapshots())
            if self.messaging is not None:
                self.admin.add_action("restart_messaging", self._restart_messaging)
                self.admin.add_action("arm_probes", self._arm_probes)

    def _start_cluster(self, config: ProxyConfig, reactor: Any) -> None:
        """The Redis directory replaces the in-process one; it keeps it for local actions."""
        cluster = config.cluster
        password = cluster.redis_password.value if cluster.redis_password is not None else None
        if password:
            self.redactor.add(password)
        interval = cluster.heartbeat_interval
        link = RedisLink(reactor, cluster.redis, password, [EVENTS, rpc_channel(cluster.proxy_id)],
                         lambda channel, message: self.cluster.message(channel, message), self.log,
                         retry_max=interval, timeout=min(2.0, max(0.5, interval)))
        # Config refuses [cluster] without proxy_secret, so there is always a key to sign with.
        signer = MessageSigner(reactor, cluster.proxy_id, self.settings.secret, self.settings.secret_previous,
                               window=config.messaging.control_max_clock_skew, log=self.log)
        self.cluster = ClusterDirectory(reactor, self.core.network, link, cluster.proxy_id, interval,
                                        ClusterMetrics(self.registry), self.log, signer,
                                        kick_existing=config.proxy.kick_existing_players)
        self.core.network = self.cluster
        self.cluster.setServiceParent(self)
        self.health.add_check("cluster", self.cluster.check, critical=False)

    def _start_messaging(self, config: ProxyConfig, reactor: Any, secret: bytes) -> None:
        """The control-plane listener, and the command registry backends mirror."""
        messaging = config.messaging
        previous = config.security.proxy_secret_previous
        self.command_registry = CommandRegistry.seeded_from(reactor.seconds(), specs_from(self.commands.commands()))
        self.commands.on_change(lambda: self.command_registry.replace_all(specs_from(self.commands.commands())))
        self.messaging = ControlServerFactory(
            messaging.control_sender_id, secret, config.servers.keys(), self.command_registry,
            self.core.network, reactor, self.registry, self.log,
            proxy_secret_previous=previous.value if previous is not None else None,
            max_payload=messaging.control_max_payload, max_clock_skew=messaging.control_max_clock_skew)
        listener = ListenerService(serverFromString(reactor, messaging.bind), self.messaging, "messaging")
        listener.setServiceParent(self)
        self.messaging_listener = listener
        self.health.add_check("messaging", self._messaging_check, critical=False)
        links_up: dict[str, bool] = {}

        def link_changed(link) -> None:
            # A link coming up or going down says the backend started or stopped: look now.
            if links_up.get(link.server_id, False) != link.link_up:
                links_up[link.server_id] = link.link_up
                self.prober.probe_now(link.server_id)
        self.messaging.add_observer(link_changed)

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
        yield settle(self.reactor, lambda: not messaging.problems() or messaging.settled(), timeout)
        settled = not messaging.problems()
        self.log.info("messaging restarted; {dropped} link(s) dropped, settled={settled}",
                      dropped=dropped, settled=settled)
        return dict(messaging.status(), dropped=dropped, settled=settled,
                    problems=messaging.problems())

    def _arm_probes(self, body: dict) -> dict:
        """Admin action: the correlation ids of deliberately bad control messages about to come
        (mcproxyctl smoke), so their refusals are counted apart from real traffic's."""
        ids = body.get("correlation_ids")
        ttl = body.get("ttl", 60)
        if not isinstance(ids, list) or not all(isinstance(i, str) and 8 <= len(i) <= 64 for i in ids) \
                or not 1 <= len(ids) <= 16:
            raise ActionError("correlation_ids must be a list of 1 to 16 strings of 8 to 64 characters")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= 300:
            raise ActionError("ttl must be a number of seconds up to 300")
        self.messaging.peer.arm_probes(ids, float(ttl))
        self.log.info("{count} control probe(s) armed for {ttl:g} s", count=len(ids), ttl=float(ttl))
        return {"armed": len(ids), "ttl": float(ttl)}

    def _arm_probe_players(self, body: dict) -> dict:
        """Admin action: the exact names of smoke bots about to log in (mcproxyctl smoke), so
        their sessions stay out of player lists and counts; each name is good for one login."""
        names, ttl = arm_request(body)
        if not self.core.probe_names.arm(names, ttl):
            raise ActionError(f"none of the {len(names)} names armed: {MAX_ARMED_NAMES} probe names"
                              " wait already", code=503)
        self.log.info("{count} probe player name(s) armed for {ttl:g} s", count=len(names), ttl=ttl)
        return {"armed": len(names), "ttl": ttl}

    def _messaging_check(self) -> CheckResult:
        problems = self.messaging.problems()
        if problems:
            return CheckResult(CheckState.FAILED, "; ".join(problems))
        return CheckResult(CheckState.OK, f"{len(self.messaging.links)} backend(s) linked and synchronized")

    def _query_info(self) -> QueryInfo:
        """The server as a query stat answer reports it, read fresh for each answer."""
        section, query = self.config.proxy, self.config.query
        plugins = f"mcproxy {__version__}"
        if query.show_plugins and self.plugins.loaded:
            plugins += ": " + "; ".join(sorted(self.plugins.loaded))
        host = self.game.port.getHost() if self.game.port is not None else None
        return QueryInfo(
            motd=plain_text(motd_component(section.motd)), version=supported_range(), plugins=plugins,
            map=query.map, online=self.core.online_count(), max_players=self.settings.max_players,
            host_ip=getattr(host, "host", ""), host_port=getattr(host, "port", 0),
            names=[entry.name for entry in self.core.network.entries()])

    def _players_status(self) -> dict:
        by_server = self.core.players.by_server()
        return {
            "online": len(self.core.players),
            "max": self.settings.max_players,
            "by_server": {name: len(names) for name, names in sorted(by_server.items())},
            "by_protocol": {str(protocol): count
                            for protocol, count in self.core.players.by_protocol().items()},
            "connections": self.core.connections,
        }

    def startService(self) -> None:
        self.core.start()
        if self.config.plugins.enabled:
            self.plugins.load_all()
        super().startService()
        # Only once bound: operators wait for this line, and a failed bind logs its own error.
        gatherResults([listener.when_bound() for listener in self.listeners], consumeErrors=True).addCallbacks(
            lambda ports: self.log.info("mcproxy listening on {bind}", bind=", ".join(self.config.proxy.binds)),
            lambda failure: None)

    def stopService(self):
        self.core.stop()
        self.plugins.unload_all()
        return super().stopService()

    def _sample_source(self) -> list[tuple[str, uuid.UUID]]:
        """Names for the server list's sample: the network's players, like its count."""
        return [(entry.name, uuid.UUID(entry.uuid)) for entry in self.core.network.entries()]

    def _status_source(self, config: ProxyConfig):
        """The server-list answer: ours from the config, or a backend's passed through."""
        section = config.proxy
        own = StatusResponder(section.motd, section.max_players, self.core.online_count,
                              favicon_png=section.favicon_png or None, motd_by_host=config.motd_by_host,
                              sample_size=section.status_player_sample,
                              players=self._sample_source)
        if not section.status_passthrough:
            return own
        server = config.servers[section.status_passthrough]
        endpoint = HostnameEndpoint(self.reactor, server.host, server.port, timeout=section.connect_timeout)
        return StatusPassthrough(self.reactor, endpoint, server.host, server.port, own, log=self.log,
                                 proxy_protocol=server.proxy_protocol)

    def reload(self) -> bool:
        """Re-read the config file and apply what can change while players are on.

        Servers, ``try``, forced hosts, MOTDs, the favicon, ``max_players``,
        ``[permissions]`` and ``[plugins]`` apply at once; anything else (listeners,
        login, forwarding, secrets, messaging) needs a restart, so a file that
        changes it is refused as a whole and the running config stays.
        """
        try:
            new = load_proxy_config(self.config.path)
            if self.worker is not None:
                new = self.worker.shape(new)
        except ConfigError as error:
            self.log.error("config reload refused: {error}", error=str(error))
            return False
        fixed = fixed_changes(self.config, new)
        if fixed:
            self.log.error("config reload refused: {keys} cannot change while running; restart to apply them",
                           keys=", ".join(fixed))
            return False
        self._apply(new)
        self.log.info("config reloaded from {path}", path=new.path)
        return True

    def _apply(self, new: ProxyConfig) -> None:
        section = new.proxy
        self.router.servers = server_addresses(new.servers)
        self.router.try_order = tuple(new.try_order)
        self.router.forced_hosts = {host.lower(): tuple(names) for host, names in new.forced_hosts.items()}
        self.prober.set_backends({name: f"{s.host}:{s.port}" for name, s in new.servers.items()})
        self.settings = dataclasses.replace(self.settings, max_players=section.max_players)
        self.core.settings = self.settings
        self.core.status = self._status_source(new)
        self.config = new
        with self.commands.batch():
            self.commands.set_permissions(new.permissions)
            self.plugins.unload_all()
            if new.plugins.enabled:
                self.plugins.reload(new.plugins.allow)


def server_addresses(servers) -> dict[str, ServerAddress]:
    """``[servers]`` as the router dials them, each with its own settings."""
    return {name: ServerAddress(s.host, s.port, s.forwarding, s.proxy_protocol) for name, s in servers.items()}


#: Config keys a reload applies in place; every other difference needs a restart.
LIVE_KEYS = ("servers", "try_order", "forced_hosts", "motd_by_host", "permissions", "plugins")
LIVE_PROXY_KEYS = ("motd", "max_players", "favicon", "favicon_png")


def fixed_changes(old: ProxyConfig, new: ProxyConfig) -> list[str]:
    """The keys that differ between ``old`` and ``new`` but cannot change live."""
    changed = []
    for field in dataclasses.fields(ProxyConfig):
        name = field.name
        if name in LIVE_KEYS or name == "path":
            continue
        before, after = getattr(old, name), getattr(new, name)
        if name == "proxy":
            changed += [f"proxy.{f.name}" for f in dataclasses.fields(before)
                        if f.name not in LIVE_PROXY_KEYS and getattr(before, f.name) != getattr(after, f.name)]
        elif before != after:
            changed.append(name)
    if old.messaging.enabled and set(old.servers) != set(new.servers):
        # The control plane knows its backends by these names from the start.
        changed.append("servers (names, while messaging is enabled)")
    return changed


def reload_on_sighup(process: ProxyProcess, reactor: Any) -> None:
    """Reload ``process``'s config on SIGHUP, in the reactor thread."""
    signal.signal(signal.SIGHUP, lambda signum, frame: reactor.callFromThread(process.reload))
