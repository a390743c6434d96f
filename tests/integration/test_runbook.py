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
from tests.integration.harness import REPO, TEST_SECRET, sleep, temp_dir
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
MESSAGING_CHECKS = [
    "mcproxyctl check-config proxy.toml backend-lobby.toml backend-game.toml",
    f"mcproxyctl doctor {ALL}",
    "mcproxyctl -c proxy.toml health",
    "mcproxyctl -c backend-lobby.toml health",
    "mcproxyctl -c proxy.toml status",
]
DESYNC_REHEARSAL = [
    "mcproxyctl -c proxy.toml health",
    "mcproxyctl -c backend-lobby.toml sync-state",
    "mcproxyctl -c backend-lobby.toml request-snapshot",
    "mcproxyctl -c backend-lobby.toml restart bridge",
    "mcproxyctl -c proxy.toml restart messaging",
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
    f"mcproxyctl rejects --last 5m --fail-on VERSION_MISMATCH {ALL}",
    f"mcproxyctl rejects --last 3s --fail-on VERSION_MISMATCH {ALL}",
]
HEALTH_AFTER_SMOKE = "mcproxyctl -c proxy.toml health"
ROLLBACK = [
    "mcproxyctl smoke -c proxy.toml --backend backend-lobby.toml --backend backend-game.toml --players 8",
    "mcproxyctl smoke -c proxy.toml --players 8",
    HEALTH_AFTER_SMOKE,
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
DOCUMENTED = STARTUP + MESSAGING + MESSAGING_CHECKS + DESYNC + DESYNC_REHEARSAL + VERSIONS + ROLLBACK + POST_INCIDENT + SAFE_DEFAULTS

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


class PluginProxy(TwistdProcess):
    """``twistd mcproxy`` with a folder of proxy plugins on its path."""

    def __init__(self, config: Path, plugins: Path) -> None:
        super().__init__("mcproxy", config)
        self.plugins = plugins

    def command(self) -> tuple[list[str], dict[str, str]]:
        argv, env = super().command()
        return argv, dict(env, PYTHONPATH=f"{REPO}:{self.plugins}")


#: A plugin whose commands make the registry larger than 64 KiB once encoded.
MANY_COMMANDS_PLUGIN = '''
from twisted.plugin import IPlugin
from zope.interface import implementer

from mcproxy.interfaces import IProxyPlugin


@implementer(IPlugin, IProxyPlugin)
class ManyCommands:
    name = "many"

    def load(self, api):
        for n in range(700):
            api.register_command(f"warp{n}", "Warp to a named place. " * 5, f"many.warp{n}",
                                 lambda player, args: None, "<place>")


many = ManyCommands()
'''


class RunbookCase(TestCase):
    # Each mcproxyctl line is a cold Python start: seconds apiece on a loaded machine.
    timeout = 240

    def start_unready(self, deployment: Deployment) -> None:
        """Start every process without waiting for READY: the fault keeps it from coming."""
        deployment.proxy.start()
        self.addCleanup(deployment.proxy.stop)
        for backend in deployment.backends.values():
            backend.start()
            self.addCleanup(backend.stop)

    @defer.inlineCallbacks
    def replace_backend(self, deployment: Deployment, name: str, text: str):
        """Stop a backend, write its fixed config and start it again (the recovery)."""
        yield deployment.backends[name].stop()
        deployment.backend_configs[name].write_text(text)
        fixed = TwistdProcess("mcbackend", deployment.backend_configs[name])
        fixed.start()
        self.addCleanup(fixed.stop)
        yield deployment.wait_ready(60)

    def assertNoSecret(self, out: str) -> None:
        for secret in (TEST_SECRET, NEW_SECRET):
            self.assertNotIn(secret, out)

    def deployment(self, **options) -> Deployment:
        deployment = Deployment(temp_dir(self), **options)
        self.operator = Operator(deployment.directory)
        return deployment

    def player(self, deployment: Deployment, name: str):
        d = join(deployment.proxy_port, name)
        d.addCallback(lambda player: (self.addCleanup(player.leave), player)[1])
        return d

    @defer.inlineCallbacks
    def until(self, command: str, section: list[str], expected: str, code: int = 0, timeout: float = 60.0):
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


class MessagingFaultTests(RunbookCase):
    @defer.inlineCallbacks
    def test_wrong_secret(self):
        """A backend with another secret: check-config and doctor name the secrets (without
        showing them), the proxy's health says its Hello is refused with BAD_SIGNATURE, the
        backend's says the proxy refuses it; with the secret fixed, READY again."""
        deployment = self.deployment()
        (deployment.directory / "other.secret").write_text(NEW_SECRET)
        lobby = deployment.backend_configs["lobby"]
        good = lobby.read_text()
        lobby.write_text(good.replace('"proxy.secret"', '"other.secret"'))
        self.start_unready(deployment)
        run = self.operator.run
        code, out = yield run(MESSAGING_CHECKS[0], MESSAGING_CHECKS)
        self.assertEqual(code, 1, out)
        self.assertIn("backend-lobby.toml with proxy.toml: INCONSISTENT", out)
        self.assertIn("backend-game.toml with proxy.toml: consistent", out)
        self.assertIn("the proxy signs with a secret this backend does not accept", out)
        self.assertNoSecret(out)
        code, out = yield self.until(MESSAGING_CHECKS[2], MESSAGING_CHECKS,
                                     "control link from lobby is down: its Hello was refused: BAD_SIGNATURE")
        self.assertIn("status: DEGRADED", out)
        code, out = yield self.until(MESSAGING_CHECKS[3], MESSAGING_CHECKS,
                                     "the proxy refused our Hello: BAD_SIGNATURE")
        code, out = yield run(MESSAGING_CHECKS[1], MESSAGING_CHECKS)
        self.assertEqual(code, 1, out)
        self.assertIn("FAIL  lobby  config: backend.proxy_secret:", out)
        self.assertIn("its Hello was refused: BAD_SIGNATURE", out)
        self.assertNoSecret(out)
        yield self.replace_backend(deployment, "lobby", good)
        code, out = yield run(MESSAGING_CHECKS[1], MESSAGING_CHECKS)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[-1], "doctor: no problem found")

    @defer.inlineCallbacks
    def test_wrong_expected_sender(self):
        """A backend expecting another sender refuses the proxy: the proxy counts the refusal per
        peer and reason, logs it once (not per retry) and names it in health; fixed, READY again."""
        deployment = self.deployment()
        lobby = deployment.backend_configs["lobby"]
        good = lobby.read_text()
        lobby.write_text(good.replace('server_id = "lobby"', 'server_id = "lobby"\ncontrol_expected_sender_id = "proxx"'))
        self.start_unready(deployment)
        run = self.operator.run
        code, out = yield self.until(MESSAGING_CHECKS[2], MESSAGING_CHECKS, "lobby refuses us: UNEXPECTED_SENDER")
        self.assertIn("control_sender_id 'proxy'", out)
        code, out = yield self.until(MESSAGING_CHECKS[3], MESSAGING_CHECKS,
                                     "refused the proxy's answer: UNEXPECTED_SENDER")
        @defer.inlineCallbacks
        def retried():
            code, out = yield run(MESSAGING_CHECKS[4], MESSAGING_CHECKS)
            counted = json.loads(out)["rejects"]["mcproxy_control_peer_rejects_total"]
            return counted if counted.get("lobby,UNEXPECTED_SENDER", 0) >= 3 else None
        # A few more retries (the backend reconnects within 2 s), which must not be logged again.
        peer_rejects = yield wait_until(retried, 60, interval=0.5, what="two more refused retries")
        self.assertGreaterEqual(peer_rejects["lobby,UNEXPECTED_SENDER"], 3)
        texts = [line.get("text", "") for line in deployment.proxy.log_lines()]
        self.assertEqual(len([t for t in texts if t.startswith("lobby refuses our control messages")]), 1, texts)
        self.assertLessEqual(len([t for t in texts if t == "control link up: lobby"]), 1, texts)
        code, out = yield run(MESSAGING_CHECKS[0], MESSAGING_CHECKS)
        self.assertEqual(code, 1, out)
        self.assertIn("backend.control_expected_sender_id: 'proxx', but the proxy signs as control_sender_id 'proxy'",
                      out)
        yield self.replace_backend(deployment, "lobby", good)
        code, out = yield run(MESSAGING_CHECKS[2], MESSAGING_CHECKS)
        self.assertEqual((code, out.splitlines()[0]), (0, "status: READY"), out)
        yield wait_until(lambda: "lobby accepts our messages again" in
                         [line.get("text") for line in deployment.proxy.log_lines()],
                         30, what="the proxy to log that lobby accepts it again")


class RegistryDesyncTests(RunbookCase):
    @defer.inlineCallbacks
    def test_payload_limit_desync(self):
        """A plugin's commands outgrow control_max_payload: health names the encode refusal,
        request-snapshot answers with PAYLOAD_TOO_LARGE at once, both restarts say why they did
        not settle; with a larger limit the registries sync."""
        deployment = self.deployment()
        plugins = deployment.directory / "plugins"
        (plugins / "mcproxy" / "plugins").mkdir(parents=True)
        (plugins / "mcproxy" / "plugins" / "many_commands.py").write_text(MANY_COMMANDS_PLUGIN)
        config = deployment.proxy_config
        good = config.read_text()
        small = good.replace("[messaging]\n", "[messaging]\ncontrol_max_payload = 65536\n")
        config.write_text(small + '\n[plugins]\nenabled = true\nallow = ["many"]\n')
        deployment.proxy = PluginProxy(config, plugins)
        self.start_unready(deployment)
        run = self.operator.run
        code, out = yield self.until(DESYNC_REHEARSAL[0], DESYNC_REHEARSAL,
                                     "lobby registry is not synchronized: snapshot refused at encode: PAYLOAD_TOO_LARGE")
        self.assertIn("control_max_payload 65536", out)
        code, out = yield run(DESYNC_REHEARSAL[1], DESYNC_REHEARSAL)
        self.assertEqual(code, 1, out)
        self.assertIn("synchronized: no", out)
        started = reactor.seconds()
        code, out = yield run(DESYNC_REHEARSAL[2], DESYNC_REHEARSAL)
        self.assertEqual(code, 1, out)
        # Had it waited out its --timeout (15 s by default) it would take longer than that, on top
        # of its own start, which on a loaded machine can take several seconds.
        self.assertLess(reactor.seconds() - started, 15, "answered with the refusal, not after a timeout")
        self.assertTrue(out.startswith("snapshot NOT installed: the proxy refused the snapshot request: "
                                       "PAYLOAD_TOO_LARGE"), out)
        self.assertNotIn("cannot reach", out)
        code, out = yield run(DESYNC_REHEARSAL[3], DESYNC_REHEARSAL)
        self.assertEqual(code, 1, out)
        self.assertIn("settled: no (not synchronized: command registry is not synchronized: the proxy refused the "
                      "snapshot request: PAYLOAD_TOO_LARGE", out)
        code, out = yield run(DESYNC_REHEARSAL[4], DESYNC_REHEARSAL)
        self.assertEqual(code, 1, out)
        self.assertIn("settled: no (game registry is not synchronized: snapshot refused at encode: PAYLOAD_TOO_LARGE",
                      out)
        texts = [line.get("text", "") for line in deployment.proxy.log_lines()]
        self.assertFalse([t for t in texts if "refused RegistrySnapshot from proxy" in t])
        self.assertTrue([t for t in texts if t.startswith("control refused to send RegistrySnapshot to ")])

        yield deployment.proxy.stop()
        config.write_text(good + '\n[plugins]\nenabled = true\nallow = ["many"]\n')
        deployment.proxy = PluginProxy(config, plugins)
        deployment.proxy.start()
        self.addCleanup(deployment.proxy.stop)
        yield deployment.wait_ready(60)
        code, out = yield run(DESYNC_REHEARSAL[1], DESYNC_REHEARSAL)
        self.assertEqual(code, 0, out)


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
        # Step 4: the counters since start still show the refusals; over a window they do not.
        code, out = yield run(VERSIONS[3], VERSIONS)
        self.assertEqual(code, 1, out)
        self.assertRegex(out, r'proxy  mcproxy_control_rejects_total\{reason="VERSION_MISMATCH"\} \+[1-9]')
        self.assertIn("MOVED: VERSION_MISMATCH on proxy", out)
        yield sleep(4)
        code, out = yield self.until(VERSIONS[4], VERSIONS, "stable: VERSION_MISMATCH did not move")
        self.assertIn("proxy  no reject counter moved", out)

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
                              ("control-signature", "proxy"), ("control-timestamp", "proxy"),
                              ("control-sender", "proxy"), ("control-version", "proxy")):
            self.assertTrue([line for line in lines if line.split()[:3] == ["PASS", check, target]],
                            (check, target, out))
        self.assertIn("(UNAUTHENTICATED_PLAYER)", out)
        self.assertIn("(NOT_VIA_PROXY)", out)
        for reason in ("BAD_SIGNATURE", "INVALID_TIMESTAMP", "UNEXPECTED_SENDER", "VERSION_MISMATCH"):
            self.assertIn(f"{reason}; proxy counted it as a probe (+1), not in mcproxy_control_rejects_total\n",
                          out)
        # The series the alerts watch did not move, and the real links' state is untouched.
        code, status = yield http_json(f"http://127.0.0.1:{deployment.proxy_admin}/status")
        counters = status["rejects"]["mcproxy_control_rejects_total"]
        self.assertEqual({reason: counters[reason] for reason in ("BAD_SIGNATURE", "INVALID_TIMESTAMP",
                                                                   "UNEXPECTED_SENDER", "VERSION_MISMATCH")},
                         dict.fromkeys(("BAD_SIGNATURE", "INVALID_TIMESTAMP", "UNEXPECTED_SENDER",
                                        "VERSION_MISMATCH"), 0))
        self.assertEqual([link["refused"] for link in status["links"]["links"].values()], ["", ""])
        self.assertIn("SKIP  load", out)
        self.assertEqual(lines[-1], "smoke: PASSED")
        code, out = yield self.operator.run(HEALTH_AFTER_SMOKE, ROLLBACK)
        self.assertEqual((code, out.splitlines()[0]), (0, "status: READY"), out)

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
        yield sleep(2)
        # A process restarted inside the window: what it sampled before is kept on disk.
        yield deployment.backends["game"].stop()
        restarted = TwistdProcess("mcbackend", deployment.backend_configs["game"])
        restarted.start()
        self.addCleanup(restarted.stop)
        yield deployment.wait_ready()

        @defer.inlineCallbacks
        def both_sampled():
            _, body = yield http_json(f"http://127.0.0.1:{deployment.backend_admin['game']}/history")
            return len({sample["status"]["uptime"]["started"] for sample in body["samples"]}) == 2
        yield wait_until(both_sampled, 30, what="a history sample of the restarted game process")
        until = datetime.now(timezone.utc) + timedelta(seconds=1)
        stamp = lambda when: when.strftime("%Y-%m-%dT%H:%M:%SZ")
        since, until = (datetime.fromisoformat(stamp(when).replace("Z", "+00:00")) for when in (since, until))
        command = f"mcproxyctl snapshot --since {stamp(since)} --until {stamp(until)} {ALL} -o incident"
        code, out = yield self.operator.run(command, POST_INCIDENT)
        self.assertEqual(code, 0, out)
        folder = deployment.directory / "incident"
        for name in ("proxy", "lobby", "game"):
            self.assertIn(f"  {name}/: metrics.txt, status.json, history.jsonl, log.jsonl;", out)
            samples = [json.loads(line) for line in (folder / name / "history.jsonl").read_text().splitlines()]
            self.assertTrue(samples, name)
            self.assertTrue(all(since.timestamp() <= s["t"] <= until.timestamp() for s in samples))
            self.assertIn("mcproxy_control_rejects_total", samples[-1]["metrics"])
            if name == "game":
                starts = {s["status"]["uptime"]["started"] for s in samples}
                self.assertEqual(len(starts), 2, "samples of both game processes")
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


class UnsafeSettingTests(RunbookCase):
    @defer.inlineCallbacks
    def test_disabled_enforce_proxy_is_never_silent(self):
        """enforce_proxy = false: check-config lists it, the backend warns at start, lists it in
        /status and exports mcproxy_unsafe_setting{key="backend.enforce_proxy"} 1."""
        deployment = self.deployment()
        lobby = deployment.backend_configs["lobby"]
        lobby.write_text(lobby.read_text().replace('server_id = "lobby"', 'server_id = "lobby"\nenforce_proxy = false'))
        code, out = yield self.operator.run(STARTUP[0], STARTUP)
        self.assertEqual(code, 0, out)
        self.assertIn("backend-lobby.toml: OK (backend config)\n  UNSAFE backend.enforce_proxy = false: logins that"
                      " did not come through the proxy are let in", out)
        yield deployment.start(self)
        port = deployment.backend_admin["lobby"]
        code, status = yield http_json(f"http://127.0.0.1:{port}/status")
        self.assertIn({"key": "backend.enforce_proxy", "value": "false",
                       "why": "logins that did not come through the proxy are let in (the runbook says never"
                              " disable it)"}, status["unsafe_settings"]["settings"])
        code, metrics = yield http_json(f"http://127.0.0.1:{port}/metrics")
        self.assertIn('mcproxy_unsafe_setting{key="backend.enforce_proxy"} 1.0', metrics)
        code, metrics = yield http_json(f"http://127.0.0.1:{deployment.backend_admin['game']}/metrics")
        self.assertNotIn('key="backend.enforce_proxy"', metrics)
        warned = [line for line in deployment.backends["lobby"].log_lines()
                  if line.get("level") == "warn" and "unsafe setting backend.enforce_proxy" in line.get("text", "")]
        self.assertEqual(len(warned), 1)


class RunbookDocumentTests(SynchronousTestCase):
    def test_every_documented_command_is_exercised(self):
        """Each ``$ mcproxyctl`` line in docs/runbook.md is one these tests type, and back."""
        documented = {normalized(line.strip()[2:]) for line in RUNBOOK.read_text().splitlines()
                      if line.strip().startswith("$ mcproxyctl")}
        exercised = {normalized(command) for command in DOCUMENTED}
        self.assertEqual(documented - exercised, set(), "documented but not tested")
        self.assertEqual(exercised - documented, set(), "tested but not documented")
