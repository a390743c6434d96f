"""Real twistd processes for the stress run, and the measurements taken from them."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from io import BytesIO
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.internet.error import ConnectError, ProcessExitedAlready
from twisted.web.client import Agent, FileBodyProducer
from twisted.web.http_headers import Headers

from mcproxy.proxy.auth import read_body
from tests.integration.deployment import Deployment, http_json, mcproxyctl, wait_until
from tests.integration.harness import NODE_MODULES, REPO, _JSONLines, sleep

STRESS_PEERS = REPO / "stress" / "peers"


class Cluster(Deployment):
    """A proxy and named limbo backends, with the knobs the stress run needs.

    ``rate_limits`` is the body of the proxy's ``[rate_limits]`` table; ``proxy_keys`` go
    under ``[proxy]`` and ``backend_keys`` under each ``[backend]``.
    """

    def __init__(self, directory: Path, backends: tuple[str, ...] = ("lobby", "game"), *,
                 rate_limits: str = "", proxy_keys: str = "", backend_keys: str = "") -> None:
        super().__init__(directory, backends)
        text = self.proxy_config.read_text()
        text = text.replace('forwarding = "modern"\n', f'forwarding = "modern"\n{proxy_keys}\n')
        if rate_limits:
            text += f"\n[rate_limits]\n{rate_limits}\n"
        self.proxy_config.write_text(text)
        for name, path in self.backend_configs.items():
            path.write_text(path.read_text().replace(
                f'server_id = "{name}"\n', f'server_id = "{name}"\n{backend_keys}\n'))

    # Processes -----------------------------------------------------------------------

    @defer.inlineCallbacks
    def start_all(self):
        self.proxy.start()
        for backend in self.backends.values():
            backend.start()
        yield self.wait_ready()

    @defer.inlineCallbacks
    def stop_all(self):
        yield defer.gatherResults([p.stop() for p in [self.proxy, *self.backends.values()]])

    def kill(self, process) -> defer.Deferred:
        """SIGKILL: the process gets no chance to say goodbye."""
        process.transport.signalProcess("KILL")
        return process.protocol.ended

    @staticmethod
    def rss_kib(process) -> int:
        """Resident set size of a running twistd child, from /proc."""
        with open(f"/proc/{process.transport.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def tracebacks(self) -> int:
        """Tracebacks logged by every process so far: each one is an input handled by
        exception rather than refused with a reason."""
        count = 0
        for process in [self.proxy, *self.backends.values()]:
            if process.log_path.exists():
                count += process.log_path.read_text(errors="replace").count("Traceback (most recent call last)")
        return count

    # Admin ---------------------------------------------------------------------------

    @defer.inlineCallbacks
    def metrics(self, port: int):
        """``{sample name: {frozen labels: value}}`` from a process's /metrics."""
        _, text = yield http_json(f"http://127.0.0.1:{port}/metrics")
        out: dict[str, dict] = defaultdict(dict)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
        return out

    @defer.inlineCallbacks
    def by_reason(self, port: int, sample: str):
        """One counter's samples keyed by their ``reason`` label, zeros left out."""
        metrics = yield self.metrics(port)
        return {dict(labels).get("reason", ""): value
                for labels, value in metrics.get(sample, {}).items() if value}

    @defer.inlineCallbacks
    def control_rejects(self):
        """Control-plane refusals by reason, summed over the proxy and every backend."""
        total: dict[str, float] = defaultdict(float)
        ports = [self.proxy_admin] + [self.backend_admin[n] for n, p in self.backends.items() if p.running]
        for port in ports:
            try:
                rejects = yield self.by_reason(port, "mcproxy_control_rejects_total")
            except ConnectError:
                # A backend killed by the drill has no admin listener to ask.
                continue
            for reason, value in rejects.items():
                total[reason] += value
        return dict(total)

    @defer.inlineCallbacks
    def action(self, port: int, name: str, body: dict):
        """``(status, decoded JSON)`` of ``POST /actions/<name>`` with a JSON body."""
        response = yield Agent(reactor).request(
            b"POST", f"http://127.0.0.1:{port}/actions/{name}".encode(),
            Headers({b"Content-Type": [b"application/json"]}), FileBodyProducer(BytesIO(json.dumps(body).encode())))
        text = yield read_body(response, 16 * 1024 * 1024)
        return response.code, json.loads(text)

    @defer.inlineCallbacks
    def backend_players(self, name: str):
        _, body = yield self.admin(self.backend_admin[name], "/status")
        return body["backend"]["players"]

    @defer.inlineCallbacks
    def synchronized(self, name: str):
        code, out = yield mcproxyctl("-c", str(self.backend_configs[name]), "sync-state")
        return code == 0 and "synchronized: yes" in out

    def ctl(self, name: str, *args: str) -> defer.Deferred:
        config = self.proxy_config if name == "proxy" else self.backend_configs[name]
        return mcproxyctl("-c", str(config), *args)


class Swarm:
    """``stress/peers/swarm.js``: ``count`` players in one node process."""

    def __init__(self, port: int, count: int, duration: float, *, version: str = "1.21.4",
                 chat_ms: int = 2000, switch_ms: int = 20000, ramp_ms: int = 10000,
                 prefix: str = "Bot", servers: str = "lobby,game", keepalive_timeout_ms: int = 30000) -> None:
        self.protocol = _JSONLines("swarm.js")
        env = dict(os.environ, NODE_PATH=str(NODE_MODULES), CHAT_MS=str(chat_ms), SWITCH_MS=str(switch_ms),
                   RAMP_MS=str(ramp_ms), NAME_PREFIX=prefix, SERVERS=servers,
                   KEEPALIVE_TIMEOUT_MS=str(keepalive_timeout_ms))
        self.transport = reactor.spawnProcess(
            self.protocol, shutil.which("node"),
            ["node", str(STRESS_PEERS / "swarm.js"), "127.0.0.1", str(port), version, str(count),
             str(int(duration * 1000))], env=env, path=str(REPO))
        self.count = count
        self.duration = duration

    def joined(self) -> int:
        return sum(1 for e in self.protocol.events if e.get("event") == "joined")

    def problems(self) -> list[dict]:
        return [e for e in self.protocol.events if e.get("event") in ("player_problem", "ended")]

    def summary(self) -> defer.Deferred:
        """The final totals; the swarm is killed if it overruns its time by a minute."""
        d = self.protocol.wait_for(lambda e: e.get("event") == "summary", self.duration + 60)
        d.addErrback(lambda failure: (self.stop(), failure)[1])
        return d

    def stop(self) -> None:
        if not self.protocol.ended.called:
            try:
                self.transport.signalProcess("KILL")
            except ProcessExitedAlready:
                pass


def dump(path: Path, results: list[dict]) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=True))


__all__ = ["Cluster", "Swarm", "dump", "mcproxyctl", "sleep", "wait_until"]
