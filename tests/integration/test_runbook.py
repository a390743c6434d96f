"""docs/runbook.md, executed: each scenario types exactly the runbook's commands against
real processes (twistd mcproxy, twistd mcbackend) and checks what the runbook says to expect.

Commands run with the deployment's folder as working directory, so they read exactly as
documented (``mcproxyctl -c proxy.toml health``). Set ``MCPROXY_RUNBOOK_TRANSCRIPT`` to a
file to collect every command with its output: the runbook's sample outputs come from it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mcproxy.ctl.smoke import SmokeClient
from tests.integration.deployment import BIN, Deployment, TwistdProcess, http_json, wait_until
from tests.integration.harness import REPO, sleep, temp_dir
from tests.integration.test_deployment import CuttableForwarder

RUNBOOK = REPO / "docs" / "runbook.md"
SKEWED_BACKEND = Path(__file__).with_name("skewed_backend.tac")
NEW_SECRET = "3c9e1f7a5b2d8c4e6f0a9b1d3e5c7a2f4b6d8e0c1a3f5b7d9e2c4a6f8b0d1e3c"
ALL = "-c proxy.toml -c backend-lobby.toml -c backend-game.toml"

#: Every command line the runbook tells an operator to type, by section (times normalized).
STARTUP = [
    "mcproxyctl check-config proxy.toml backend-lobby.toml backend-game.toml",
    "mcproxyctl -c proxy.toml health",
    "mcproxyctl -c backend-lobby.toml sync-state",
    "mcproxyctl -c backend-game.toml sync-state",
    f"mcproxyctl versions {ALL}",
    "mcproxyctl -c backend-lobby.toml transfer Traveller game",
    "mcproxyctl -c proxy.toml status",
]
MESSAGING = [
    "mcproxyctl -c backend-lobby.toml sync-state",
    "mcproxyctl -c proxy.toml health",
    "mcproxyctl -c backend-lobby.toml bridge disable",
    "mcproxyctl -c backend-lobby.toml restart bridge",
    "mcproxyctl -c backend-lobby.toml request-snapshot",
    "mcproxyctl -c backend-lobby.toml bridge status",
    "mcproxyctl -c backend-lobby.toml bridge enable",
]
DESYNC = [
    "mcproxyctl -c backend-lobby.toml sync-state",
    "mcproxyctl -c backend-lobby.toml request-snapshot",
    "mcproxyctl -c backend-lobby.toml restart bridge",
    "mcproxyctl -c proxy.toml restart messaging",
    "mcproxyctl -c backend-lobby.toml transfer Traveller game",
]
VERSIONS = [
    f"mcproxyctl versions {ALL}",
    "mcproxyctl -c backend-lobby.toml sync-state",
    "mcproxyctl -c proxy.toml health",
]
ROLLBACK = [
    "mcproxyctl smoke -c proxy.toml --backend backend-lobby.toml --backend backend-game.toml --players 8",
    "mcproxyctl smoke -c proxy.toml --players 8",
]
POST_INCIDENT = [
    f"mcproxyctl snapshot --since <time> --until <time> {ALL} -o incident",
]
SAFE_DEFAULTS = [
    "mcproxyctl gen-secret",
    "mcproxyctl check-config proxy.toml",
    "mcproxyctl -c proxy.toml rotation",
    "mcproxyctl -c backend-lobby.toml rotation",
]
DOCUMENTED = STARTUP + MESSAGING + DESYNC + VERSIONS + ROLLBACK + POST_INCIDENT + SAFE_DEFAULTS

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def normalized(command: str) -> str:
    return _TIME.sub("<time>", " ".join(command.split()))


class Operator:
    """Types runbook commands in a deployment's folder and keeps the transcript."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.transcript = os.environ.get("MCPROXY_RUNBOOK_TRANSCRIPT")

    @defer.inlineCallbacks
    def run(self, command: str, section: list[str]):
        """``(exit status, stdout + stderr)`` of one documented command line."""
        assert normalized(command) in map(normalized, section), f"not in the runbook section: {command}"
        argv = shlex.split(command)
        out, err, code = yield getProcessOutputAndValue(
            str(BIN / argv[0]), argv[1:], env=dict(os.environ, PYTHONPATH=str(REPO)), path=str(self.folder))
        text = (out + err).decode(errors="replace")
        if self.transcript:
            with open(self.transcript, "a") as handle:
                handle.write(f"$ {command}\n{text}[exit {code}]\n\n")
        return code, text


@defer.inlineCallbacks
def join(port: int, name: str) -> defer.Deferred:
    """A player online through the proxy, held by the test (the smoke client)."""
    player = SmokeClient(name, "127.0.0.1", port)
    yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), player)
    yield player.joined
    yield player.wait_chat(lambda line: line.startswith("Welcome to "))
    return player


class _Collect(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.closed: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason=None) -> None:
        self.closed.callback(self.data)


@defer.inlineCallbacks
def game_port_answer(port: int, request: bytes):
    """What a listener answers to ``request`` before it closes (or 2 s pass)."""
    collector = _Collect()
    yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), collector)
    collector.transport.write(request)
    timer = reactor.callLater(2, collector.transport.loseConnection)
    data = yield collector.closed
    if timer.active():
        timer.cancel()
    return data


class SkewedBackend(TwistdProcess):
    """A backend from another release: ``twistd -y skewed_backend.tac`` announcing ``version``."""

    def __init__(self, config: Path, artifact: str = "0.4.0", control: int = 1) -> None:
        super().__init__("mcbackend", config)
        self.artifact = artifact
        self.control = control

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ, PYTHONPATH=str(REPO), MCPROXY_TEST_CONFIG=str(self.config),
                   MCPROXY_TEST_ARTIFACT_VERSION=self.artifact, MCPROXY_TEST_CONTROL_VERSION=str(self.control))
        return ["twistd", "-n", "--pidfile=", "-y", str(SKEWED_BACKEND)], env


class RunbookCase(TestCase):
    timeout = 150

    def deployment(self, **options) -> Deployment:
        deployment = Deployment(temp_dir(self), **options)
        self.operator = Operator(deployment.directory)
        return deployment

    def player(self, deployment: Deployment, name: str):
        d = join(deployment.proxy_port, name)
        d.addCallback(lambda player: (self.addCleanup(player.leave), player)[1])
        return d

    @defer.inlineCallbacks
    def until(self, command: str, section: list[str], expected: str, code: int = 0, timeout: float = 30.0):
        """Repeat a command (as an operator would) until its output shows ``expected``."""
        @defer.inlineCallbacks
        def shown():
            got, out = yield self.operator.run(command, section)
            return (got, out) if got == code and expected in out else None
        result = yield wait_until(shown, timeout, interval=0.5, what=f"{command!r} to show {expected!r}")
        return result


class StartupSyncTests(RunbookCase):
    @defer.inlineCallbacks
    def test_startup_sync_procedure(self):
        """Configs check out, health READY, registries synchronized, one version set, a controlled
        transfer done, and no control-plane reject counted."""
        deployment = self.deployment()
        yield deployment.start(self)
        run = self.operator.run
        code, out = yield run(STARTUP[0], STARTUP)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.count(": OK ("), 3, out)
        code, out = yield run(STARTUP[1], STARTUP)
        self.assertEqual((code, out.splitlines()[0]), (0, "status: READY"), out)
        for command in STARTUP[2:4]:
            code, out = yield run(command, STARTUP)
            self.assertEqual(code, 0, out)
            self.assertIn("synchronized: yes", out)
        code, out = yield run(STARTUP[4], STARTUP)
        self.assertEqual(code, 0, out)
        self.assertIn("version set: 0.4.0 (control protocol 1) on every process reached", out)
        player = yield self.player(deployment, "Traveller")
        code, out = yield run(STARTUP[5], STARTUP)
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))
        yield player.wait_chat(lambda line: line.startswith("Welcome to game,"))
        code, out = yield run(STARTUP[6], STARTUP)
        self.assertEqual(code, 0, out)
        rejects = json.loads(out)["rejects"]["mcproxy_control_rejects_total"]
        for reason in ("VERSION_MISMATCH", "UNEXPECTED_SENDER", "INVALID_TIMESTAMP", "REPLAYED_NONCE",
                       "REPLAYED_SNAPSHOT"):
            self.assertEqual(rejects[reason], 0, reason)


class MessagingUnavailableTests(RunbookCase):
    @defer.inlineCallbacks
    def test_messaging_unavailable_procedure(self):
        """Link cut: sync-state and health say so; the bridge is switched off; messaging restored:
        restart bridge reconnects and resyncs, request-snapshot confirms, bridge enable routes."""
        deployment = self.deployment()
        forwarder = CuttableForwarder("127.0.0.1", deployment.messaging_port)
        relay = reactor.listenTCP(0, forwarder, interface="127.0.0.1")
        relay_port = relay.getHost().port
        path = deployment.backend_configs["lobby"]
        path.write_text(path.read_text().replace(f"port={deployment.messaging_port}", f"port={relay_port}"))
        yield deployment.start(self)
        player = yield self.player(deployment, "Steady")

        yield relay.stopListening()
        forwarder.cut()
        run = self.operator.run
        code, out = yield self.until(MESSAGING[0], MESSAGING, "link_up: no", code=1)
        code, out = yield run(MESSAGING[1], MESSAGING)
        self.assertEqual(code, 0, out)
        self.assertIn("status: DEGRADED", out)
        self.assertIn("control link from lobby is down", out)
        code, out = yield run(MESSAGING[2], MESSAGING)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[0],
                         "command bridge: DISABLED by operator, NOT routing (control link down, switched off)")

        relay = reactor.listenTCP(relay_port, forwarder, interface="127.0.0.1")
        self.addCleanup(relay.stopListening)
        code, out = yield run(MESSAGING[3], MESSAGING)
        self.assertEqual(code, 0, out)
        self.assertIn("link_up: yes\nsynchronized: yes", out)
        self.assertIn("settled: yes", out)
        code, out = yield run(MESSAGING[4], MESSAGING)
        self.assertEqual(code, 0, out)
        self.assertIn("synchronized: yes", out)
        code, out = yield run(MESSAGING[5], MESSAGING)
        self.assertEqual(out.splitlines()[0], "command bridge: DISABLED by operator, NOT routing (switched off)")
        code, out = yield run(MESSAGING[6], MESSAGING)
        self.assertEqual(code, 0, out)
        self.assertTrue(out.startswith("command bridge: enabled, routing proxy commands"), out)
        self.assertFalse(player.ended.called, "the player stayed connected throughout")
        yield relay.stopListening()
        forwarder.cut()


class RegistryDesyncTests(RunbookCase):
    @defer.inlineCallbacks
    def test_registry_desync_procedure(self):
        """Snapshot request, then the bridge restart, then the messaging restart: each answers with
        the state it settled in, players stay, and a transfer works afterwards."""
        deployment = self.deployment()
        # The lobby's admin listener wants a token: mcproxyctl reads it from the config.
        (deployment.directory / "admin.token").write_text(NEW_SECRET)
        lobby = deployment.backend_configs["lobby"]
        lobby.write_text(lobby.read_text().replace("[admin]\n", '[admin]\ntoken_file = "admin.token"\n'))
        yield deployment.start(self)
        player = yield self.player(deployment, "Traveller")
        code, _ = yield http_json(f"http://127.0.0.1:{deployment.backend_admin['lobby']}/actions/restart_bridge",
                                  b"POST")
        self.assertEqual(code, 401, "an action without the token is refused")
        for port in (deployment.proxy_port, deployment.backend_ports["lobby"]):
            answer = yield game_port_answer(port, b"POST /actions/restart_bridge HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertFalse(answer.startswith(b"HTTP/"), "the game port serves no admin action")
        run = self.operator.run
        code, out = yield run(DESYNC[0], DESYNC)
        self.assertEqual(code, 0, out)
        code, out = yield run(DESYNC[1], DESYNC)
        self.assertEqual(code, 0, out)
        self.assertIn("synchronized: yes", out)
        code, out = yield run(DESYNC[2], DESYNC)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[0], "restarted: bridge")
        self.assertIn("link_up: yes\nsynchronized: yes", out)
        self.assertIn("settled: yes", out)
        code, out = yield run(DESYNC[3], DESYNC)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[0], "restarted: messaging (2 link(s) dropped)")
        self.assertIn("  game: link up, synchronized, serial", out)
        self.assertIn("  lobby: link up, synchronized, serial", out)
        self.assertIn("settled: yes", out)
        self.assertFalse(player.ended.called, "the player stayed connected through both restarts")
        code, out = yield run(DESYNC[4], DESYNC)
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))


class VersionMismatchTests(RunbookCase):
    @defer.inlineCallbacks
    def skewed(self, artifact: str, control: int, refused_line: str):
        deployment = self.deployment()
        yield deployment.start(self)
        player = yield self.player(deployment, "Bystander")
        yield deployment.backends["game"].stop()
        skewed = SkewedBackend(deployment.backend_configs["game"], artifact, control)
        skewed.start()
        self.addCleanup(skewed.stop)
        run = self.operator.run
        @defer.inlineCallbacks
        def refused():
            # The skewed backend's /status answers before the proxy has refused its first Hello.
            code, out = yield run(VERSIONS[0], VERSIONS)
            counted = re.search(r"^proxy .*VERSION_MISMATCH rejects [1-9]", out, re.M)
            return (code, out) if code == 1 and "MIXED version set" in out and counted else None
        code, out = yield wait_until(refused, 30, interval=0.5, what="the proxy to refuse the skewed backend")
        self.assertIn(f"game   {artifact}  control protocol {control}", out)
        if refused_line:
            self.assertIn(refused_line, out)
        mismatches = int(re.search(r"^proxy .*VERSION_MISMATCH rejects (\d+)", out, re.M).group(1))
        self.assertGreater(mismatches, 0)
        code, out = yield run(VERSIONS[1], VERSIONS)
        self.assertEqual(code, 0, out)
        self.assertIn("synchronized: yes", out)
        code, out = yield run(VERSIONS[2], VERSIONS)
        self.assertEqual(code, 0, out)
        self.assertIn("status: DEGRADED", out)
        self.assertIn("control link from game is down", out)
        self.assertNotIn("lobby", [line for line in out.splitlines() if "messaging" in line][0])
        self.assertFalse(player.ended.called, "players on other backends are not disturbed")

        yield skewed.stop()
        aligned = TwistdProcess("mcbackend", deployment.backend_configs["game"])
        aligned.start()
        self.addCleanup(aligned.stop)
        code, out = yield self.until(VERSIONS[2], VERSIONS, "status: READY")
        code, out = yield run(VERSIONS[0], VERSIONS)
        self.assertEqual(code, 0, out)
        self.assertIn("version set: 0.4.0 (control protocol 1) on every process reached", out)

    def test_backend_of_another_release_refused(self):
        """A backend announcing another artifact version is refused with VERSION_MISMATCH, flagged by
        versions; the other backend and its players carry on; aligned, the set is whole again."""
        return self.skewed("0.3.9", 1, "refused game's Hello: VERSION_MISMATCH (it announced 0.3.9, "
                                       "control protocol 1)")

    def test_backend_speaking_another_control_protocol_refused(self):
        """A backend whose control protocol differs is refused at the envelope (VERSION_MISMATCH)."""
        return self.skewed("0.4.0", 2, "")


class RollbackTests(RunbookCase):
    @defer.inlineCallbacks
    def test_rollback_validation_in_production_shape(self):
        """Online-mode proxy, backends requiring authenticated mode, control plane over TLS: every
        check passes; the offline smoke load is skipped, with the reason, rather than faked."""
        deployment = self.deployment(online_mode=True, require_authenticated_mode=True, tls=True)
        yield deployment.start(self)
        code, out = yield self.operator.run(ROLLBACK[0], ROLLBACK)
        self.assertEqual(code, 0, out)
        lines = out.splitlines()
        for check, target in (("health", "proxy"), ("health", "lobby"), ("health", "game"),
                              ("proxy-enforcement", "lobby"), ("authenticated-mode", "lobby"),
                              ("proxy-enforcement", "game"), ("authenticated-mode", "game"),
                              ("control-signature", "proxy"), ("control-timestamp", "proxy")):
            self.assertTrue([line for line in lines if line.split()[:3] == ["PASS", check, target]],
                            (check, target, out))
        self.assertIn("(UNAUTHENTICATED_PLAYER)", out)
        self.assertIn("(NOT_VIA_PROXY)", out)
        self.assertIn("BAD_SIGNATURE; proxy mcproxy_control_rejects_total{reason=\"BAD_SIGNATURE\"} +1", out)
        self.assertIn("INVALID_TIMESTAMP; proxy mcproxy_control_rejects_total{reason=\"INVALID_TIMESTAMP\"} +1",
                      out)
        self.assertIn("SKIP  load", out)
        self.assertEqual(lines[-1], "smoke: PASSED")

    @defer.inlineCallbacks
    def test_smoke_load_on_staging_and_checks_that_fail(self):
        """On an offline staging deployment the load passes with percentiles; the same smoke with the
        backends named fails, because they do not require authenticated mode."""
        deployment = self.deployment()
        yield deployment.start(self)
        code, out = yield self.operator.run(ROLLBACK[1], ROLLBACK)
        self.assertEqual(code, 0, out)
        self.assertIn("PASS  load               proxy      8/8 joined, switched server, chatted and left", out)
        self.assertRegex(out, r"join ms: p50 [\d.]+  p95 [\d.]+  p99 [\d.]+")
        # As the runbook says: runs from one address share the proxy's per-address login
        # budget, so the next run waits for it to refill (burst 5 at 1 login/s).
        yield sleep(6)
        code, out = yield self.operator.run(ROLLBACK[0], ROLLBACK)
        self.assertEqual(code, 1, out)
        self.assertIn("FAIL  authenticated-mode lobby      backend-lobby.toml says require_authenticated_mode = false",
                      out)
        self.assertEqual(out.splitlines()[-1], "smoke: FAILED")


class PostIncidentTests(RunbookCase):
    @defer.inlineCallbacks
    def test_incident_snapshot(self):
        """metrics, status and the window's log lines, with correlation ids, one folder per process."""
        deployment = self.deployment(log_files=True)
        since = datetime.now(timezone.utc) - timedelta(seconds=1)
        yield deployment.start(self)
        player = yield self.player(deployment, "Witness")
        player.leave()
        until = datetime.now(timezone.utc) + timedelta(seconds=1)
        stamp = lambda when: when.strftime("%Y-%m-%dT%H:%M:%SZ")
        command = f"mcproxyctl snapshot --since {stamp(since)} --until {stamp(until)} {ALL} -o incident"
        code, out = yield self.operator.run(command, POST_INCIDENT)
        self.assertEqual(code, 0, out)
        folder = deployment.directory / "incident"
        for name in ("proxy", "lobby", "game"):
            self.assertIn(f"  {name}/: metrics.txt, status.json, log.jsonl;", out)
            self.assertIn("mcproxy_control_rejects_total", (folder / name / "metrics.txt").read_text())
            self.assertIn("version", json.loads((folder / name / "status.json").read_text()))
            lines = [json.loads(line) for line in (folder / name / "log.jsonl").read_text().splitlines()]
            self.assertTrue(lines, name)
            self.assertTrue(any(line.get("correlation_id") for line in lines), name)
        proxy_log = (folder / "proxy" / "log.jsonl").read_text()
        self.assertIn("Witness", proxy_log)
        self.assertTrue((folder / "manifest.json").exists())


class SafeDefaultsTests(RunbookCase):
    @defer.inlineCallbacks
    def test_weak_secret_refused_and_generated_one_accepted(self):
        """check-config refuses a 16-byte hex secret with the reason; gen-secret's output passes."""
        deployment = self.deployment()
        secret = deployment.directory / "proxy.secret"
        secret.write_text("9f86d081884c7d659a2feaa0c55ad015\n")
        code, out = yield self.operator.run(SAFE_DEFAULTS[1], SAFE_DEFAULTS)
        self.assertEqual(code, 1, out)
        self.assertIn("security.proxy_secret_file: holds at most 16 bytes of randomness", out)
        code, out = yield self.operator.run(SAFE_DEFAULTS[0], SAFE_DEFAULTS)
        self.assertEqual(code, 0, out)
        self.assertRegex(out.strip(), r"^[0-9a-f]{64}$")
        secret.write_text(out)
        code, out = yield self.operator.run(SAFE_DEFAULTS[1], SAFE_DEFAULTS)
        self.assertEqual((code, out.strip()), (0, "proxy.toml: OK (proxy config)"))

    @defer.inlineCallbacks
    def test_rotation_overlap_ends_when_every_peer_signs_with_the_new_secret(self):
        """Mid-rotation, rotation names the backend still signing with the old secret and exits 1;
        once it moved to the new one, the overlap can end (exit 0)."""
        deployment = self.deployment()
        folder = deployment.directory
        (folder / "old.secret").write_text((folder / "proxy.secret").read_text())
        (folder / "new.secret").write_text(NEW_SECRET)

        def secrets(path: Path, current: str, previous: str) -> None:
            path.write_text(path.read_text().replace(
                'proxy_secret_file = "proxy.secret"',
                f'proxy_secret_file = "{current}"\nproxy_secret_previous_file = "{previous}"'))

        secrets(deployment.proxy_config, "new.secret", "old.secret")
        lobby_text = deployment.backend_configs["lobby"].read_text()
        secrets(deployment.backend_configs["lobby"], "old.secret", "new.secret")
        secrets(deployment.backend_configs["game"], "new.secret", "old.secret")
        yield deployment.start(self)
        run = self.operator.run
        code, out = yield run(SAFE_DEFAULTS[2], SAFE_DEFAULTS)
        self.assertEqual(code, 1, out)
        self.assertIn("proxy: rotation overlap open (proxy_secret_previous is set)", out)
        self.assertIn("  lobby: STILL SIGNS WITH proxy_secret_previous", out)
        self.assertIn("  game: signs with proxy_secret", out)
        self.assertIn("overlap can end: no (waiting for: lobby)", out)
        code, out = yield run(SAFE_DEFAULTS[3], SAFE_DEFAULTS)
        self.assertEqual(code, 1, out)
        self.assertIn("  proxy: STILL SIGNS WITH proxy_secret_previous", out)

        yield deployment.backends["lobby"].stop()
        deployment.backend_configs["lobby"].write_text(lobby_text)
        secrets(deployment.backend_configs["lobby"], "new.secret", "old.secret")
        moved = TwistdProcess("mcbackend", deployment.backend_configs["lobby"])
        moved.start()
        self.addCleanup(moved.stop)
        yield deployment.wait_ready()
        code, out = yield self.until(SAFE_DEFAULTS[2], SAFE_DEFAULTS, "overlap can end: yes")
        self.assertIn("  lobby: signs with proxy_secret", out)


class RunbookDocumentTests(SynchronousTestCase):
    def test_every_documented_command_is_exercised(self):
        """Each ``$ mcproxyctl`` line in docs/runbook.md is one these tests type, and back."""
        documented = {normalized(line.strip()[2:]) for line in RUNBOOK.read_text().splitlines()
                      if line.strip().startswith("$ mcproxyctl")}
        exercised = {normalized(command) for command in DOCUMENTED}
        self.assertEqual(documented - exercised, set(), "documented but not tested")
        self.assertEqual(exercised - documented, set(), "tested but not documented")
