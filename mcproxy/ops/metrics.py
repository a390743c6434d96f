"""Every Prometheus metric of the proxy and of the backend, created on a registry passed in.

Each process makes one ``CollectorRegistry`` and hands it to exactly one of :class:`ProxyMetrics`
or :class:`BackendMetrics`; nothing here is module-level, so tests and embedders can run many
processes' worth of metrics side by side.

The control plane's metrics are deliberately absent from both classes: it creates
``mcproxy_control_rejects_total{reason}`` and its link and registry-sync gauges
(``mcproxy_control_link_up``, ``mcproxy_control_synchronized``, ``mcproxy_control_registry_serial``)
itself, on the same registry, and a second creation of any name would raise ``Duplicated
timeseries``.  ``/status`` still shows the rejects, because its "rejects" section reads every
``*_rejects_total`` and ``*_refusals_total`` counter off the registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from mcproxy.wire.protocols import protocol_info

#: Relay directions, in the protocol's own words.
SERVERBOUND = "serverbound"
CLIENTBOUND = "clientbound"

#: Probe outcomes counted by ``mcproxy_backend_probes_total{result}``.
PROBE_RESULTS = ("ok", "refused", "timeout", "error")

_LOGIN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _RelayCollector(Collector):
    """Relay byte and frame counts kept as plain ints and turned into metrics at scrape time.

    The relay adds to these once per read batch on the hottest path of the process; a plain
    integer addition costs a fraction of a prometheus-client ``inc()`` with its lock.
    """

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {SERVERBOUND: [0, 0], CLIENTBOUND: [0, 0]}

    def _families(self, with_samples: bool) -> tuple[CounterMetricFamily, CounterMetricFamily]:
        nbytes = CounterMetricFamily(
            "mcproxy_relayed_bytes", "Bytes relayed after routing, by direction.",
            labels=["direction"])
        frames = CounterMetricFamily(
            "mcproxy_relayed_frames", "Frames relayed after routing, by direction.",
            labels=["direction"])
        if with_samples:
            for direction, (b, f) in self.counts.items():
                nbytes.add_metric([direction], b)
                frames.add_metric([direction], f)
        return nbytes, frames

    def describe(self) -> Iterator[Metric]:
        return iter(self._families(False))

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(True))


class ProxyMetrics:
    """The proxy process's metrics.  Attributes are the prometheus-client objects themselves;
    the methods cover the cases where calling them right is not obvious."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.connections = Gauge(
            "mcproxy_connections", "Open player connections by protocol state.",
            ["state"], registry=r)
        self.handshakes = Counter(
            "mcproxy_handshakes", "Handshakes received, by requested next state.",
            ["next_state"], registry=r)
        self.logins = Counter(
            "mcproxy_logins", "Login attempts by result.", ["result"], registry=r)
        self.login_seconds = Histogram(
            "mcproxy_login_seconds", "Time from Login Start to the player being routed.",
            buckets=_LOGIN_BUCKETS, registry=r)
        self.refusals = Counter(
            "mcproxy_refusals", "Connections refused at the front door, by reason.",
            ["reason"], registry=r)
        self.routing_attempts = Counter(
            "mcproxy_routing_attempts", "Attempts to connect a player to a backend.",
            ["server", "result"], registry=r)
        self.routing_fallbacks = Counter(
            "mcproxy_routing_fallbacks",
            "Times a player was moved on to the next server because this one failed.",
            ["server"], registry=r)
        self.fallback_holds = Counter(
            "mcproxy_fallback_holds",
            "Players held while a fallback every server refused was tried again, by outcome.",
            ["outcome"], registry=r)
        self.backend_losses = Counter(
            "mcproxy_backend_losses",
            "Players whose server went away under them, by the state they were in and how it ended.",
            ["state", "outcome"], registry=r)
        self.backend_up = Gauge(
            "mcproxy_backend_up", "1 if the last probe of the backend connected.",
            ["server"], registry=r)
        self.backend_probe_seconds = Histogram(
            "mcproxy_backend_probe_seconds", "Connect time of successful backend probes.",
            ["server"], buckets=_PROBE_BUCKETS, registry=r)
        self.backend_probes = Counter(
            "mcproxy_backend_probes", "Backend probes by outcome.",
            ["server", "result"], registry=r)
        self.players = Gauge(
            "mcproxy_players", "Players in play, by protocol version.",
            ["protocol", "version"], registry=r)
        self.probe_players = Gauge(
            "mcproxy_probe_players", "Armed smoke bots in play, kept out of mcproxy_players.", registry=r)
        self.query_requests = Counter(
            "mcproxy_query_requests", "GameSpy4 query requests answered, by kind.",
            ["kind"], registry=r)
        self.query_refusals = Counter(
            "mcproxy_query_refusals", "GameSpy4 query datagrams dropped unanswered, by reason.",
            ["reason"], registry=r)
        self.bungee_requests = Counter(
            "mcproxy_bungee_requests", "BungeeCord channel requests handled, by sub-channel.",
            ["subchannel"], registry=r)
        self.bungee_refusals = Counter(
            "mcproxy_bungee_refusals", "BungeeCord channel messages dropped, by reason.",
            ["reason"], registry=r)
        self._relay = _RelayCollector()
        r.register(self._relay)
        self._connection_states: dict[str, Gauge] = {}
        self._handshake_states: dict[str, Counter] = {}
        self._player_protocols: dict[int, Gauge] = {}

    def _connections_in(self, state: str) -> Gauge:
        """The gauge child for ``state``, looked up once: ``labels()`` costs more than the
        ``inc()`` itself, and every status ping opens and closes a connection."""
        child = self._connection_states.get(state)
        if child is None:
            child = self._connection_states[state] = self.connections.labels(state)
        return child

    def connection_opened(self, state: str) -> None:
        self._connections_in(state).inc()

    def connection_changed(self, old: str, new: str) -> None:
        """Move one connection between states, keeping the total unchanged."""
        self._connections_in(old).dec()
        self._connections_in(new).inc()

    def connection_closed(self, state: str) -> None:
        self._connections_in(state).dec()

    def _players_on(self, protocol: int) -> Gauge:
        """The gauge child for ``protocol``, looked up once per protocol, as for states."""
        child = self._player_protocols.get(protocol)
        if child is None:
            info = protocol_info(protocol)
            child = self._player_protocols[protocol] = self.players.labels(
                str(protocol), info.display_name if info else "unknown")
        return child

    def player_joined(self, protocol: int, probe: bool = False) -> None:
        """Count a player entering play with a client of ``protocol``; a probe apart."""
        if probe:
            self.probe_players.inc()
        else:
            self._players_on(protocol).inc()

    def player_left(self, protocol: int, probe: bool = False) -> None:
        if probe:
            self.probe_players.dec()
        else:
            self._players_on(protocol).dec()

    def count_handshake(self, next_state: str) -> None:
        child = self._handshake_states.get(next_state)
        if child is None:
            child = self._handshake_states[next_state] = self.handshakes.labels(next_state)
        child.inc()

    def add_relayed(self, direction: str, nbytes: int, nframes: int) -> None:
        """Count one relayed read batch; ``direction`` is :data:`SERVERBOUND` or
        :data:`CLIENTBOUND`."""
        counts = self._relay.counts[direction]
        counts[0] += nbytes
        counts[1] += nframes

    def record_probe(self, server: str, result: str, seconds: float | None) -> None:
        """Record one backend probe; ``seconds`` is the connect time when ``result == "ok"``."""
        self.backend_probes.labels(server, result).inc()
        up = result == "ok"
        self.backend_up.labels(server).set(1 if up else 0)
        if up and seconds is not None:
            self.backend_probe_seconds.labels(server).observe(seconds)

    def forget_backend(self, server: str) -> None:
        """Drop a removed backend's series so it stops showing as down."""
        for metric in (self.backend_up, self.backend_probe_seconds):
            try:
                metric.remove(server)
            except KeyError:
                pass
        for result in PROBE_RESULTS:
            try:
                self.backend_probes.remove(server, result)
            except KeyError:
                pass


class BackendMetrics:
    """The backend process's metrics (the backend-mod, whatever server hosts it)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.logins = Counter(
            "mcproxy_logins", "Login attempts at the backend, by result.", ["result"],
            registry=r)
        self.forwarding_refusals = Counter(
            "mcproxy_forwarding_refusals",
            "Logins refused for missing or bad proxy forwarding, by reason.",
            ["reason"], registry=r)
        self.players_online = Gauge(
            "mcproxy_players_online", "Players currently in play on this backend.", registry=r)
        self.probe_players_online = Gauge(
            "mcproxy_probe_players_online", "Armed smoke bots in play on this backend, not in"
            " mcproxy_players_online.", registry=r)
        self.bridge_enabled = Gauge(
            "mcproxy_bridge_enabled", "1 if the proxy command bridge is enabled.", registry=r)
        self.bridge_synchronized = Gauge(
            "mcproxy_bridge_synchronized",
            "1 while the backend holds a verified, current copy of the proxy's command registry.",
            registry=r)
