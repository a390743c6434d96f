"""``mcproxyctl smoke``: the rollback procedure's checks against a running deployment.

Each check is a probe of the running processes, never a reading of their config alone:

- ``health``: every process's ``/health`` is READY or DEGRADED (each worker's, for a proxy with
  ``[proxy] workers``; the control probes go to worker 1, which alone serves the control plane).
- ``authenticated-mode``: the backend config *and* the running backend (``/status``) say
  ``require_authenticated_mode``, and a direct login answering the backend's forwarding
  request with validly signed forwarding for an offline-mode UUID (what an offline-mode
  proxy would send) is refused with UNAUTHENTICATED_PLAYER.
- ``proxy-enforcement``: a direct login that cannot answer the forwarding request is
  refused with NOT_VIA_PROXY.
- ``control-signature`` / ``control-timestamp`` / ``control-sender`` / ``control-version``: a
  Hello signed with a wrong secret, one correctly signed but stale, one from a sender the proxy
  does not know and one announcing another release are sent to the proxy's messaging port; the
  answers must be BAD_SIGNATURE, INVALID_TIMESTAMP, UNEXPECTED_SENDER and VERSION_MISMATCH.
  Their correlation ids are armed on the proxy first (admin action ``arm_probes``), so it counts
  them under ``mcproxy_control_probe_rejects_total``, never in the series the alerts watch.
- ``load``: N offline-mode players join through the proxy, switch server with ``/server``,
  chat and leave; failures and join-time percentiles are reported. It needs an offline-mode
  proxy (this client does not log in to Mojang), so it is skipped against an online one.
  The players' exact names are armed on the proxy first (admin action ``arm_probe_players``),
  so no real player sees them in a list, a count or the backends' chat.

The Minecraft client here speaks 1.21.4 (protocol 769) with mcproxy.wire, offline only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, clientFromString, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from mcproxy import __version__
from mcproxy.wire.forwarding import FORWARDING_DEFAULT, encode_modern_forwarding, offline_uuid
from mcproxy.config import BackendConfig, ProxyConfig
from mcproxy.control.commands import Hello
from mcproxy.control.envelope import CONTROL_PROTOCOL_VERSION
from mcproxy.control.peer import ControlPeer, ControlProtocol
from mcproxy.control.reasons import ControlRejected, RejectReason
from mcproxy.ctl.workers import Target, targets
from mcproxy.wire.chat import json_to_component, nbt_to_component, plain_text
from mcproxy.wire.connection import PacketCodec
from mcproxy.wire.packets import Direction, PacketTable, State
from mcproxy.wire.types import (
    Reader,
    encode_bool,
    encode_int,
    encode_long,
    encode_string,
    encode_ushort,
    encode_uuid,
    encode_varint,
)

PROTOCOL = 769
RELEASE = "1.21.4"
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

#: The control-plane probes and the refusal each must get.
PROBES = {
    "control-signature": RejectReason.BAD_SIGNATURE,
    "control-timestamp": RejectReason.INVALID_TIMESTAMP,
    "control-sender": RejectReason.UNEXPECTED_SENDER,
    "control-version": RejectReason.VERSION_MISMATCH,
}


class LoginRefused(Exception):
    """The server closed the session with a message (its text, reason code included)."""


class SmokeClient(Protocol):
    """An offline-mode Minecraft client that follows login, configuration and play.

    ``forwarding`` answers a backend's ``velocity:player_info`` request: a function of the
    request data returning the response data, or None to answer "not understood".
    """

    def __init__(self, name: str, host: str, port: int,
                 forwarding: Callable[[bytes], bytes] | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.forwarding = forwarding
        self.codec = PacketCodec()
        self.table = PacketTable.for_protocol(PROTOCOL)
        self.state = State.LOGIN
        self.joined: defer.Deferred[None] = defer.Deferred()
        self.ended: defer.Deferred[str] = defer.Deferred()
        self.chat: list[str] = []
        self._chat_waiters: list[tuple[Callable[[str], bool], defer.Deferred[str]]] = []
        self.reason = ""

    # Twisted calls these.

    def connectionMade(self) -> None:
        self._send(State.HANDSHAKING, "set_protocol", encode_varint(PROTOCOL) + encode_string(self.host)
                   + encode_ushort(self.port) + encode_varint(2))
        self._send(State.LOGIN, "login_start", encode_string(self.name, 16) + encode_uuid(offline_uuid(self.name)))

    def dataReceived(self, data: bytes) -> None:
        self.codec.feed(data)
        try:
            while self.transport is not None and (packet := self.codec.next_packet()) is not None:
                packet_id, reader = packet
                name = self.table.name(self.state, Direction.CLIENTBOUND, packet_id)
                handler = getattr(self, f"_{self.state.value}_{name}", None)
                if handler is not None:
                    handler(reader)
        except Exception as error:
            self.reason = f"client error: {error}"
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = None) -> None:
        if not self.joined.called:
            self.joined.errback(LoginRefused(self.reason or "connection closed before joining"))
        for _, waiter in self._chat_waiters:
            if not waiter.called:
                waiter.errback(LoginRefused(self.reason or "connection closed"))
        self._chat_waiters = []
        self.ended.callback(self.reason)

    # What a probe or a player does.

    def wait_chat(self, predicate: Callable[[str], bool]) -> defer.Deferred[str]:
        """Fires with the first system-chat line (already seen or next) matching ``predicate``."""
        for line in self.chat:
            if predicate(line):
                return defer.succeed(line)
        d: defer.Deferred[str] = defer.Deferred()
        self._chat_waiters.append((predicate, d))
        return d

    def command(self, line: str) -> None:
        self._send(State.PLAY, "chat_command", encode_string(line))

    def say(self, text: str) -> None:
        """An unsigned chat message (1.21.4 layout: no signature, nothing acknowledged)."""
        body = (encode_string(text, 256) + encode_long(0) + encode_long(0) + encode_bool(False)
                + encode_varint(0) + bytes(3))
        self._send(State.PLAY, "chat_message", body)

    def leave(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    # Packets.

    def _send(self, state: State, name: str, body: bytes = b"") -> None:
        self.transport.write(self.codec.encode(self.table.id(state, Direction.SERVERBOUND, name), body))

    def _end(self, text: str) -> None:
        self.reason = text
        self.transport.loseConnection()

    def _login_compress(self, reader: Reader) -> None:
        self.codec.enable_compression(reader.varint())

    def _login_encryption_begin(self, reader: Reader) -> None:
        self._end("the server asked for encryption (online mode); the smoke client logs in offline")

    def _login_login_plugin_request(self, reader: Reader) -> None:
        message_id = reader.varint()
        channel = reader.string()
        data = reader.rest()
        answer = self.forwarding(data) if self.forwarding and channel == "velocity:player_info" else None
        body = encode_varint(message_id) + encode_bool(answer is not None) + (answer or b"")
        self._send(State.LOGIN, "login_plugin_response", body)

    def _login_disconnect(self, reader: Reader) -> None:
        self._end(plain_text(json_to_component(reader.string(262144))))

    def _login_success(self, reader: Reader) -> None:
        self._send(State.LOGIN, "login_acknowledged")
        self.state = State.CONFIGURATION

    def _configuration_select_known_packs(self, reader: Reader) -> None:
        body = encode_varint(1) + encode_string("minecraft") + encode_string("core") + encode_string(RELEASE)
        self._send(State.CONFIGURATION, "select_known_packs", body)

    def _configuration_finish_configuration(self, reader: Reader) -> None:
        self._send(State.CONFIGURATION, "finish_configuration")
        self.state = State.PLAY

    def _configuration_keep_alive(self, reader: Reader) -> None:
        self._send(State.CONFIGURATION, "keep_alive", encode_long(reader.long()))

    def _configuration_ping(self, reader: Reader) -> None:
        self._send(State.CONFIGURATION, "pong", encode_int(reader.int()))

    def _configuration_disconnect(self, reader: Reader) -> None:
        self._end(plain_text(nbt_to_component(reader.data, reader.offset)[0]))

    def _play_login(self, reader: Reader) -> None:
        if not self.joined.called:
            self.joined.callback(None)

    def _play_keep_alive(self, reader: Reader) -> None:
        self._send(State.PLAY, "keep_alive", encode_long(reader.long()))

    def _play_ping(self, reader: Reader) -> None:
        self._send(State.PLAY, "pong", encode_int(reader.int()))

    def _play_start_configuration(self, reader: Reader) -> None:
        self._send(State.PLAY, "configuration_acknowledged")
        self.state = State.CONFIGURATION

    def _play_system_chat(self, reader: Reader) -> None:
        line = plain_text(nbt_to_component(reader.data, reader.offset)[0])
        self.chat.append(line)
        for entry in list(self._chat_waiters):
            predicate, waiter = entry
            if predicate(line):
                self._chat_waiters.remove(entry)
                waiter.callback(line)

    def _play_kick_disconnect(self, reader: Reader) -> None:
        self._end(plain_text(nbt_to_component(reader.data, reader.offset)[0]))


def tcp_target(bind: str, what: str) -> tuple[str, int]:
    """Host and port to reach a ``tcp:`` listener from this machine."""
    parts = bind.split(":")
    if parts[0] != "tcp":
        raise ValueError(f"{what} {bind!r} is not a tcp: endpoint; smoke reaches tcp: listeners only")
    port, host = None, "127.0.0.1"
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq and port is None:
            port = int(key)
        elif key == "port":
            port = int(value)
        elif key == "interface" and value not in ("", "0.0.0.0", "::"):
            host = value
    if port is None:
        raise ValueError(f"{what} {bind!r} has no port")
    return host, port


def client_target(endpoint: str) -> tuple[str, int]:
    """Host and port of a ``tcp:host=...:port=...`` client endpoint string."""
    fields = dict(part.partition("=")[::2] for part in endpoint.split(":")[1:])
    if not endpoint.startswith("tcp:") or "port" not in fields:
        raise ValueError(f"{endpoint!r} is not a tcp: client endpoint")
    return fields.get("host", "127.0.0.1"), int(fields["port"])


def with_timeout(reactor: Any, d: defer.Deferred, seconds: float, what: str) -> defer.Deferred:
    """``d``, failing with a TimeoutError that names ``what`` if ``seconds`` pass first."""
    def expired(result: Any, timeout: float) -> Any:
        # Only called once the timeout cancelled ``d``; a cancelled connect attempt fails
        # with ConnectingCancelledError, not CancelledError, and is a timeout all the same.
        if isinstance(result, Failure):
            return Failure(TimeoutError(f"{what}: no answer within {timeout:g}s"))
        return result
    return d.addTimeout(seconds, reactor, onTimeoutCancel=expired)


@dataclass
class Check:
    name: str
    target: str
    result: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "target": self.target, "result": self.result, "detail": self.detail}


@dataclass
class Smoke:
    """One smoke run: the configs, how to reach admin endpoints, and what it found."""

    proxy: ProxyConfig
    backends: list[BackendConfig]
    admin: Callable[[Any], Any]
    players: int
    timeout: float
    checks: list[Check] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    probe_ids: dict[str, str] = field(default_factory=dict)
    arm_error: str = ""
    _workers: list[Target] | None = None

    def add(self, name: str, target: str, ok: bool | None, detail: str) -> None:
        self.checks.append(Check(name, target, SKIP if ok is None else PASS if ok else FAIL, detail))

    # Synchronous checks over HTTP.

    def proxy_workers(self) -> list[Target]:
        """The proxy's processes: itself, or each of its ``[proxy] workers``."""
        if self._workers is None:
            self._workers = targets(self.proxy, self.admin)
        return self._workers

    def check_health(self) -> None:
        processes = [(t.config, t.name) for t in self.proxy_workers()] + [(c, c.process_name) for c in self.backends]
        for config, name in processes:
            try:
                _, body = self.admin(config).request("GET", "/health")
            except Exception as error:
                self.add("health", name, False, str(error))
                continue
            status = body.get("status") if isinstance(body, dict) else None
            self.add("health", name, status in ("READY", "DEGRADED"), f"/health {status}")

    def check_backend_settings(self) -> dict[str, dict]:
        """What each running backend says of its own policy (not only what its file says)."""
        running = {}
        for backend in self.backends:
            try:
                running[backend.backend.server_id] = self.admin(backend).get("/status").get("backend", {})
            except Exception as error:
                running[backend.backend.server_id] = {"error": str(error)}
        return running

    def proxy_rejects(self) -> dict[str, dict[str, float]] | None:
        """The proxy's production and probe reject counters, by reason."""
        try:
            text = self.admin(self.proxy).get("/metrics")
        except Exception:
            return None
        out: dict[str, dict[str, float]] = {"real": {}, "probe": {}}
        for family in text_string_to_metric_families(str(text)):
            for sample in family.samples:
                if sample.name == "mcproxy_control_rejects_total":
                    out["real"][sample.labels["reason"]] = sample.value
                elif sample.name == "mcproxy_control_probe_rejects_total":
                    out["probe"][sample.labels["reason"]] = sample.value
        return out

    @defer.inlineCallbacks
    def run(self, reactor: Any) -> Any:
        """Every check, then the load; the report.  The HTTP checks block, which is fine
        for a one-shot tool with nothing else on its reactor yet."""
        self.check_health()
        running = self.check_backend_settings()
        self.arm_probes()
        before = self.proxy_rejects()
        for backend in self.backends:
            yield self.check_backend(reactor, backend, running.get(backend.process_name, {}))
        yield self.check_control(reactor)
        yield self.run_load(reactor)
        self.check_rejects_counted(before, self.proxy_rejects())
        return self.report()

    def check_rejects_counted(self, before: dict[str, dict[str, float]] | None,
                              after: dict[str, dict[str, float]] | None) -> None:
        """A control probe only passes if the proxy counted its refusal as a probe's, apart
        from the series the alerts watch."""
        for name, expected in PROBES.items():
            check = next((c for c in self.checks if c.name == name), None)
            if check is None or check.result != PASS:
                continue
            if before is None or after is None:
                check.result, check.detail = FAIL, check.detail + "; proxy /metrics unreachable"
                continue
            reason = expected.value
            probed = after["probe"].get(reason, 0) - before["probe"].get(reason, 0)
            real = after["real"].get(reason, 0) - before["real"].get(reason, 0)
            if probed < 1:
                check.result = FAIL
            check.detail += f"; proxy counted it as a probe (+{probed:g}), not in mcproxy_control_rejects_total"
            if real:
                check.detail += f" (which moved +{real:g} meanwhile: real traffic was refused too)"

    def report(self) -> dict[str, Any]:
        passed = all(c.result != FAIL for c in self.checks) and self.load.get("result") != FAIL
        return {"checks": [c.as_dict() for c in self.checks], "load": self.load, "passed": passed}

    # Network probes, inside the reactor.

    @defer.inlineCallbacks
    def direct_login(self, reactor: Any, backend: BackendConfig, name: str,
                     forwarding: Callable[[bytes], bytes] | None):
        """Log in to a backend directly; the text it refused with, or "" if it let us in."""
        host, port = tcp_target(backend.backend.bind, "backend.bind")
        client = SmokeClient(name, host, port, forwarding)
        yield with_timeout(reactor, connectProtocol(TCP4ClientEndpoint(reactor, host, port), client),
                           self.timeout, f"connect to {host}:{port}")
        try:
            yield with_timeout(reactor, client.joined, self.timeout, "direct login")
        except LoginRefused as refused:
            return str(refused)
        client.leave()
        return ""

    @defer.inlineCallbacks
    def check_backend(self, reactor: Any, backend: BackendConfig, running: dict) -> Any:
        server_id = backend.backend.server_id
        suffix = os.urandom(2).hex()
        try:
            refused = yield self.direct_login(reactor, backend, f"smoke_np_{suffix}", None)
        except Exception as error:
            self.add("proxy-enforcement", server_id, False, f"probe failed: {error}")
        else:
            self.add("proxy-enforcement", server_id, "NOT_VIA_PROXY" in refused,
                     f"direct login refused: {refused}" if refused else "direct login was let in")

        if not backend.backend.require_authenticated_mode:
            self.add("authenticated-mode", server_id, False,
                     f"{backend.path} says require_authenticated_mode = false")
            return
        if running.get("require_authenticated_mode") is not True:
            self.add("authenticated-mode", server_id, False,
                     f"the running backend reports require_authenticated_mode = "
                     f"{running.get('require_authenticated_mode', running.get('error'))}")
            return
        secret = backend.backend.proxy_secret.value if backend.backend.proxy_secret else b""
        name = f"smoke_om_{suffix}"

        def offline_forwarding(request: bytes) -> bytes:
            return encode_modern_forwarding(secret, FORWARDING_DEFAULT, "127.0.0.1", offline_uuid(name), name)

        try:
            refused = yield self.direct_login(reactor, backend, name, offline_forwarding)
        except Exception as error:
            self.add("authenticated-mode", server_id, False, f"probe failed: {error}")
        else:
            self.add("authenticated-mode", server_id, "UNAUTHENTICATED_PLAYER" in refused,
                     f"signed offline-mode identity refused: {refused}" if refused
                     else "a signed offline-mode identity was let in")

    def arm_probes(self) -> None:
        """Tell the proxy which correlation ids the deliberate bad messages will carry, so it
        counts their refusals under mcproxy_control_probe_rejects_total, not the alerted series."""
        self.probe_ids = {name: os.urandom(16).hex() for name in PROBES}
        if not self.proxy.messaging.enabled:
            return
        try:
            self.admin(self.proxy).action("arm_probes", {"correlation_ids": sorted(self.probe_ids.values()),
                                                         "ttl": 4 * self.timeout + 60})
        except Exception as error:
            self.arm_error = str(error)

    @defer.inlineCallbacks
    def control_probe(self, reactor: Any, secret: bytes, clock: Any, correlation_id: str,
                      sender: str | None = None, artifact: str = __version__) -> Any:
        """Send one Hello to the proxy's messaging port; the reason it was refused, or None.

        With a backend config given, the probe connects exactly as that backend does (its
        ``[messaging].proxy`` endpoint, TLS and certificate checks included) under its id;
        otherwise it reaches a ``tcp:`` messaging bind directly as the first server.
        """
        if self.backends:
            backend = self.backends[0]
            default, where = backend.backend.server_id, backend.messaging.proxy
            endpoint = clientFromString(reactor, where)
        else:
            host, port = tcp_target(self.proxy.messaging.bind, "messaging.bind")
            default, where = min(self.proxy.servers), f"{host}:{port}"
            endpoint = TCP4ClientEndpoint(reactor, host, port)
        sender = sender or default
        peer = ControlPeer(sender, secret, None, clock, CollectorRegistry(), Logger(namespace="mcproxy.ctl.smoke"))
        protocol = _ProbeProtocol(peer, self.proxy.messaging.control_sender_id)
        yield with_timeout(reactor, connectProtocol(endpoint, protocol), self.timeout,
                           f"connect to messaging {where}")
        try:
            yield with_timeout(reactor, protocol.call(Hello, correlation_id, server_id=sender,
                                                      artifact_version=artifact,
                                                      control_version=CONTROL_PROTOCOL_VERSION),
                               self.timeout, "Hello")
        except ControlRejected as refusal:
            return refusal.reason
        finally:
            if protocol.transport is not None:
                protocol.transport.loseConnection()
        return None

    @defer.inlineCallbacks
    def check_control(self, reactor: Any) -> Any:
        if not self.proxy.messaging.enabled:
            for name in PROBES:
                self.add(name, "proxy", None, "[messaging] is disabled on the proxy")
            return
        if self.arm_error:
            for name in PROBES:
                self.add(name, "proxy", False, f"could not arm the probe on the proxy: {self.arm_error}")
            return
        secret = self.proxy.security.proxy_secret.value
        stale = _SkewedClock(reactor, -(4 * self.proxy.messaging.control_max_clock_skew + 60))
        stranger = f"smoke-{os.urandom(3).hex()}"
        probes = {
            "control-signature": (os.urandom(32), reactor, {}, "a Hello signed with a wrong secret"),
            "control-timestamp": (secret, stale, {}, "a correctly signed but stale Hello"),
            "control-sender": (secret, reactor, {"sender": stranger},
                               f"a correctly signed Hello from {stranger}, not under [servers]"),
            "control-version": (secret, reactor, {"artifact": "0.0.0+smoke"},
                                "a correctly signed Hello announcing release 0.0.0+smoke"),
        }
        for name, (key, clock, options, what) in probes.items():
            try:
                reason = yield self.control_probe(reactor, key, clock, self.probe_ids[name], **options)
            except Exception as error:
                self.add(name, "proxy", False, f"probe failed: {error}")
                continue
            got = reason.value if reason is not None else "accepted"
            self.add(name, "proxy", reason is PROBES[name], f"{what}: {got}")

    @defer.inlineCallbacks
    def run_load(self, reactor: Any) -> Any:
        if self.players <= 0:
            self.load = {"result": SKIP, "detail": "--players 0"}
            return
        try:
            host, port = tcp_target(self.proxy.proxy.bind, "proxy.bind")
        except ValueError as error:
            self.load = {"result": SKIP, "detail": str(error)}
            return
        if self.proxy.proxy.online_mode:
            self.load = {"result": SKIP, "detail": "the proxy is in online mode and the smoke client logs in "
                                                    "offline; run the load against an offline-mode staging proxy"}
            return
        servers = list(self.proxy.try_order) + [s for s in sorted(self.proxy.servers) if s not in self.proxy.try_order]
        limits = self.proxy.rate_limits
        rate = min(limits.logins_per_address_rate, limits.connections_per_address_rate)
        burst = min(limits.logins_per_address_burst, limits.connections_per_address_burst)
        tag = os.urandom(2).hex()
        names = [f"smk{tag}_{i}" for i in range(self.players)]
        try:
            # Each worker keeps its own armed names, and the kernel picks the worker a bot reaches.
            for worker in self.proxy_workers():
                for start in range(0, len(names), 64):
                    self.admin(worker.config).action("arm_probe_players", {"names": names[start:start + 64],
                                                                           "ttl": 4 * self.timeout + 60})
        except Exception as error:
            self.load = {"result": FAIL, "detail": f"could not arm the bot names on the proxy: {error}"}
            return
        results = yield defer.DeferredList([
            task.deferLater(reactor, join_delay(i, rate, burst), self.one_player, reactor, host, port,
                            name, servers)
            for i, name in enumerate(names)], consumeErrors=True)
        joins, switches, failures = [], [], []
        for ok, outcome in results:
            if ok and outcome.get("error") is None:
                joins.append(outcome["join"])
                if outcome.get("switch") is not None:
                    switches.append(outcome["switch"])
            else:
                failures.append(outcome.get("error") if ok else str(outcome.value))
        self.load = {
            "result": PASS if not failures else FAIL,
            "players": self.players, "completed": len(joins), "failed": len(failures),
            "failures": sorted(set(failures))[:10],
            "join_ms": percentiles(joins), "switch_ms": percentiles(switches),
            "detail": f"{len(joins)}/{self.players} joined, switched server, chatted and left",
        }

    @defer.inlineCallbacks
    def one_player(self, reactor: Any, host: str, port: int, name: str, servers: list[str]) -> Any:
        """Join through the proxy, /server to another backend, chat, leave; times in ms."""
        client = SmokeClient(name, host, port)
        started = reactor.seconds()
        step = "connect"
        outcome: dict[str, Any] = {}
        try:
            yield with_timeout(reactor, connectProtocol(TCP4ClientEndpoint(reactor, host, port), client),
                               self.timeout, "connect")
            step = "join"
            yield with_timeout(reactor, client.joined, self.timeout, "join")
            outcome["join"] = (reactor.seconds() - started) * 1000
            step = "welcome"
            first = yield with_timeout(reactor, client.wait_chat(lambda line: line.startswith("Welcome to ")),
                                       self.timeout, "welcome message")
            here = first[len("Welcome to "):].split(",", 1)[0]
            others = [s for s in servers if s != here]
            if others:
                step = f"/server {others[0]}"
                switching = reactor.seconds()
                client.command(f"server {others[0]}")
                yield with_timeout(reactor, client.wait_chat(
                    lambda line: line.startswith(f"Welcome to {others[0]},")), self.timeout, step)
                outcome["switch"] = (reactor.seconds() - switching) * 1000
            step = "chat"
            text = f"smoke {name}"
            client.say(text)
            yield with_timeout(reactor, client.wait_chat(lambda line: line == f"<{name}> {text}"),
                               self.timeout, "chat echo")
        except Exception as error:
            outcome["error"] = f"{step}: {error}"
        finally:
            client.leave()
        return outcome


class _ProbeProtocol(ControlProtocol):
    """A control connection that only ever sends one Hello and reads the refusal."""

    def __init__(self, peer: ControlPeer, proxy_sender: str) -> None:
        super().__init__()
        self.peer = peer
        self._proxy_sender = proxy_sender

    def expected_senders(self) -> tuple[str, ...]:
        return (self._proxy_sender,)


class _SkewedClock:
    """A clock ``offset`` seconds off the reactor's: signs messages that arrive stale."""

    def __init__(self, reactor: Any, offset: float) -> None:
        self._reactor = reactor
        self._offset = offset

    def seconds(self) -> float:
        return self._reactor.seconds() + self._offset


def join_delay(index: int, rate: float, burst: int) -> float:
    """When player ``index`` may start without tripping the proxy's per-address login limits.

    The load comes from one address, so it keeps inside the proxy's own token bucket: part of
    the burst at once, then a little slower than the refill rate.  A throttled login is then a
    real finding, not an artefact of the smoke.
    """
    immediate = max(1, burst - 1)
    if index < immediate:
        return 0.0
    return (index - immediate + 1) * 1.1 / rate


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50/p95/p99 by nearest rank, in ms; None without samples."""
    if not values:
        return None
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": round(ordered[-1], 1)}


def run_smoke(reactor: Any, proxy: ProxyConfig, backends: list[BackendConfig], admin: Callable[[Any], Any],
              players: int = 10, timeout: float = 30.0) -> defer.Deferred:
    """Every check, then the load, on ``reactor``; fires with the report."""
    return Smoke(proxy, backends, admin, players, timeout).run(reactor)


def smoke_text(report: dict[str, Any]) -> str:
    """The report as an operator reads it: one line per check, then the load."""
    lines = []
    for check in report["checks"]:
        lines.append(f"{check['result']:<4}  {check['check']:<18} {check['target']:<10} {check['detail']}")
    load = report["load"]
    lines.append(f"{load.get('result', SKIP):<4}  {'load':<18} {'proxy':<10} {load.get('detail', '')}")
    for key, label in (("join_ms", "join"), ("switch_ms", "switch")):
        figures = load.get(key)
        if figures:
            lines.append(f"      {label} ms: p50 {figures['p50']}  p95 {figures['p95']}  p99 {figures['p99']}"
                         f"  max {figures['max']}")
    for failure in load.get("failures", []):
        lines.append(f"      failure: {failure}")
    lines.append("smoke: PASSED" if report["passed"] else "smoke: FAILED")
    return "\n".join(lines)
