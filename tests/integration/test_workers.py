"""``[proxy] workers = 2`` as operators run it: ``twistd -n mcproxy`` supervising two worker
processes on one game port, a real redis-server, minecraft-protocol players and backends."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timezone

import pytest
from mcstatus import JavaServer
from twisted.internet import defer, reactor, threads
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, TestCase

from tests.integration.cluster_harness import HEARTBEAT, redis_missing, running_redis
from tests.integration.deployment import (
    BIN, Deployment, TwistdProcess, http_json, mcproxyctl, wait_until,
)
from tests.integration.harness import (
    REPO, NodePeer, free_port, listening_peer, node_missing, sleep, temp_dir, write_proxy_config,
)

VERSION = "1.21.4"
PLAYERS = 100
#: Every player comes from 127.0.0.1: the per-address limits (per worker) must let 100 in.
RATE_LIMITS = """
[rate_limits]
handshake_per_address_max = 1024
connections_per_address_rate = 1000
connections_per_address_burst = 1000
logins_per_address_rate = 1000
logins_per_address_burst = 1000
"""


def run_command(admin_port: int, line: str) -> defer.Deferred:
    """The ``command`` admin action on one worker: what the command said."""
    return http_json(f"http://127.0.0.1:{admin_port}/actions/command", b"POST", {"line": line})


def worker_lines(process: TwistdProcess, text: str) -> list[dict]:
    return [line for line in process.log_lines() if text in line.get("text", "")]


class WorkersCase(TestCase):
    timeout = 300

    @defer.inlineCallbacks
    def setUp(self):
        reason = node_missing() or redis_missing()
        if reason:
            raise SkipTest(reason)
        self.folder = temp_dir(self)
        self.redis = yield running_redis(self)

    def cluster_table(self, proxy_id: str = "edge") -> str:
        return (f'\n[cluster]\nenabled = true\nredis = "{self.redis.endpoint}"\nproxy_id = "{proxy_id}"\n'
                f"heartbeat_interval = {HEARTBEAT}\n")

    def status(self, admin_port: int) -> defer.Deferred:
        return http_json(f"http://127.0.0.1:{admin_port}/status").addCallback(lambda answer: answer[1])

    @defer.inlineCallbacks
    def workers_linked(self, admin_ports: list[int], timeout: float = 60):
        """Wait until every worker answers and is linked to Redis under its own id."""
        @defer.inlineCallbacks
        def linked():
            ids = []
            for port in admin_ports:
                try:
                    body = yield self.status(port)
                except Exception:
                    return False
                if not body.get("cluster", {}).get("redis_connected"):
                    return False
                ids.append(body["cluster"]["proxy_id"])
            return ids
        ids = yield wait_until(linked, timeout, what="both workers linked to redis")
        return ids


class HundredPlayersTests(WorkersCase):
    pytestmark = pytest.mark.timeout(300)

    @defer.inlineCallbacks
    def test_two_workers_serve_a_hundred_players_and_survive_a_sigkill(self):
        """workers = 2: 100 players all join and chat through one port, both workers hold some, /glist
        and the status ping count 100 from either worker; a worker killed with SIGKILL is restarted,
        its players leave the directory within three heartbeats, and the port keeps admitting."""
        backend, backend_port = yield listening_peer(self, "echo_server.js", VERSION)
        # Worker 2's admin listens on the port after worker 1's.
        port, admin = free_port(), free_port(consecutive=2)
        # One node process builds a hundred clients' serializers one after another: on a loaded
        # machine a client can take well over the default 10 s from connect to its handshake.
        path = write_proxy_config(self.folder, port, {"lobby": backend_port}, admin_port=admin,
                                  extra="workers = 2\nconnect_timeout = 30\nlogin_timeout = 120\n"
                                  "handshake_timeout = 120\n" + self.cluster_table()
                                  + RATE_LIMITS)
        proxy = TwistdProcess("mcproxy", path)
        proxy.start()
        self.addCleanup(proxy.stop)
        ids = yield self.workers_linked([admin, admin + 1])
        self.assertEqual(ids, ["edge/w1", "edge/w2"])

        crowd = NodePeer("crowd.js", "127.0.0.1", port, VERSION, "P", PLAYERS,
                         env={"STAGGER_MS": "50", "CROWD_TIMEOUT_MS": "280000"})
        self.addCleanup(crowd.stop)
        yield crowd.wait_for("all_echoed", 180)
        # The backend reports a chat line before echoing it, but its output and the crowd's reach
        # this process through two pipes: the last report may arrive just after "all_echoed".
        everyone = {f"P{n}" for n in range(PLAYERS)}

        def chats():
            return {e["username"] for e in backend.events if e["event"] == "chat"}
        try:
            yield wait_until(lambda: chats() == everyone, 10, what="the backend's report of every chat line")
        except AssertionError:
            pass  # the assertion below names who is missing
        self.assertEqual(chats(), everyone)
        self.assertEqual([e for e in crowd.events if e["event"] in ("end", "kicked", "error")], [])

        @defer.inlineCallbacks
        def everyone_seen():
            bodies = []
            for admin_port in (admin, admin + 1):
                bodies.append((yield self.status(admin_port)))
            return [b["cluster"]["network_online"] for b in bodies] == [PLAYERS, PLAYERS] and bodies
        first, second = yield wait_until(everyone_seen, 15, what="both workers see 100 players")
        held = {"w1": first["players"]["online"], "w2": second["players"]["online"]}
        self.assertEqual(sum(held.values()), PLAYERS, held)
        self.assertTrue(all(held.values()), held)
        for admin_port in (admin, admin + 1):
            code, answer = yield run_command(admin_port, "/glist")
            self.assertEqual(code, 200, answer)
            self.assertIn(f"Total players online: {PLAYERS}", "\n".join(answer["output"]))
        for _ in range(6):
            status = yield threads.deferToThread(lambda: JavaServer("127.0.0.1", port).status())
            self.assertEqual(status.players.online, PLAYERS)

        # SIGKILL worker 2: its players are cut off, the rest stay, and it comes back.
        pid = second["worker"]["pid"]
        os.kill(pid, 9)
        killed = reactor.seconds()
        yield wait_until(lambda: len([e for e in crowd.events if e["event"] == "end"]) == held["w2"], 30,
                         what="worker 2's players cut off")

        @defer.inlineCallbacks
        def only_w1_left():
            body = yield self.status(admin)
            return body["cluster"]["network_online"] == held["w1"]
        yield wait_until(only_w1_left, 3 * HEARTBEAT + 10, interval=0.1, what="w2's players gone from w1's view")
        self.assertLess(reactor.seconds() - killed, 4 * HEARTBEAT + 10)

        @defer.inlineCallbacks
        def restarted():
            try:
                body = yield self.status(admin + 1)
            except Exception:
                return False
            return body["worker"]["restarts"] == 1 and body["cluster"]["redis_connected"] and body
        reborn = yield wait_until(restarted, 60, what="worker 2 restarted")
        self.assertNotEqual(reborn["worker"]["pid"], pid)
        self.assertEqual(reborn["cluster"]["network_online"], held["w1"])
        # The supervisor's line comes through its own output, apart from the worker's /status.
        yield wait_until(lambda: worker_lines(proxy, "was killed by signal 9; restarting it"), 10,
                         what="the supervisor's line about the restart")
        self.assertEqual(len(worker_lines(proxy, "was killed by signal 9; restarting it")), 1)
        self.assertEqual([e for e in crowd.events if e["event"] == "end" and not e["username"].startswith("P")], [])
        late = NodePeer("crowd.js", "127.0.0.1", port, VERSION, "Late", 10, env={"CROWD_TIMEOUT_MS": "120000"})
        self.addCleanup(late.stop)
        yield late.wait_for("all_echoed", 90)


class ControlPlaneAcrossWorkersTests(WorkersCase):

    @defer.inlineCallbacks
    def test_backend_linked_to_worker_1_moves_a_player_held_by_worker_2(self):
        """The backends link to worker 1 (the configured messaging bind); mcproxyctl transfer through
        one of them moves a player who landed on worker 2, which serves the move."""
        deployment = Deployment(self.folder)
        text = deployment.proxy_config.read_text()
        old_admin, deployment.proxy_admin = deployment.proxy_admin, free_port(consecutive=2)
        text = text.replace(f"tcp:{old_admin}:", f"tcp:{deployment.proxy_admin}:")
        text = text.replace('forwarding = "modern"\n', 'forwarding = "modern"\nworkers = 2\n')
        deployment.proxy_config.write_text(text + self.cluster_table())
        yield deployment.start(self)
        yield self.workers_linked([deployment.proxy_admin, deployment.proxy_admin + 1])
        w2 = deployment.proxy_admin + 1
        body = yield self.status(w2)
        self.assertNotIn("links", body)
        on_w2 = None
        for n in range(16):
            name = f"Walker{n}"
            peer = NodePeer("chat_client.js", "127.0.0.1", deployment.proxy_port, VERSION, name,
                            env={"LINGER_MS": "90000", "CLIENT_TIMEOUT_MS": "120000"})
            self.addCleanup(peer.stop)
            yield peer.wait_for("done", 30)
            body = yield self.status(w2)
            if body["players"]["online"]:
                on_w2 = (name, peer)
                break
        self.assertIsNotNone(on_w2, "sixteen players and none hashed to worker 2")
        name, peer = on_w2

        @defer.inlineCallbacks
        def w1_sees():
            body = yield self.status(deployment.proxy_admin)
            return body["cluster"]["by_proxy"].get("edge/w2") == 1
        yield wait_until(w1_sees, 15, what="worker 1 sees the player worker 2 holds")
        code, out = yield mcproxyctl("-c", str(deployment.backend_configs["lobby"]), "transfer", name, "game")
        self.assertEqual((code, out.strip()), (0, "transfer done: You are now connected to game."))
        yield peer.wait_for("system_chat", text=f"Welcome to game, {name}. Type /help for commands.", timeout=20)
        _, metrics = yield http_json(f"http://127.0.0.1:{w2}/metrics")
        served = [line for line in metrics.splitlines() if line.startswith("mcproxy_cluster_rpc_total{")
                  and 'operation="transfer"' in line and 'outcome="served"' in line]
        self.assertEqual([float(line.split()[-1]) for line in served], [1.0])
        # SIGHUP to the supervisor reaches both workers; each reloads and says so in its own lines.
        deployment.proxy.transport.signalProcess("HUP")
        yield wait_until(lambda: sorted(line.get("worker") for line in worker_lines(deployment.proxy,
                                                                                     "config reloaded from"))
                         == ["w1", "w2"], 20, what="both workers reloaded")


class ConfigErrorTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_workers_without_cluster(self):
        """twistd mcproxy with workers = 2 and no [cluster] exits 1 with one file: key: reason line."""
        folder = temp_dir(self)
        path = write_proxy_config(folder, free_port(), {"lobby": 25566}, extra="workers = 2\n")
        out, err, code = yield getProcessOutputAndValue(
            str(BIN / "twistd"), ["-n", "--pidfile=", "mcproxy", "-c", str(path)],
            env=dict(os.environ, PYTHONPATH=str(REPO)), path=str(REPO))
        self.assertEqual((code, out), (1, b""))
        self.assertEqual(err.decode().splitlines(), [
            f"twistd mcproxy: {path}: proxy.workers: 2 workers need [cluster] enabled = true: each worker is a"
            " member of the cluster, which is how they share players, counts and commands"])


class OperationsAcrossWorkersTests(WorkersCase):

    @defer.inlineCallbacks
    def test_mcproxyctl_reads_every_worker(self):
        """Against twistd mcproxy with workers = 2: smoke arms its bots on both workers (a real player on the
        lobby is never told of one), and status, health, versions, rejects, doctor and snapshot answer for
        each worker, marked with it."""
        deployment = Deployment(self.folder, log_files=True)
        text = deployment.proxy_config.read_text()
        old_admin, deployment.proxy_admin = deployment.proxy_admin, free_port(consecutive=2)
        text = text.replace(f"tcp:{old_admin}:", f"tcp:{deployment.proxy_admin}:")
        text = text.replace('forwarding = "modern"\n', 'forwarding = "modern"\nworkers = 2\n')
        deployment.proxy_config.write_text(text + self.cluster_table())
        started = datetime.now(timezone.utc)
        yield deployment.start(self)
        admin = deployment.proxy_admin
        yield self.workers_linked([admin, admin + 1])
        proxy = str(deployment.proxy_config)
        watcher = NodePeer("chat_client.js", "127.0.0.1", deployment.proxy_port, VERSION, "Watcher",
                           env={"LINGER_MS": "120000", "CLIENT_TIMEOUT_MS": "120000"})
        self.addCleanup(watcher.stop)
        yield watcher.wait_for("done", 60)
        yield sleep(3)  # the watcher's login came out of the per-address budget the smoke paces itself by

        code, out = yield mcproxyctl("-c", proxy, "smoke", "--players", "8")
        self.assertEqual(code, 0, out)
        self.assertIn("PASS  health             proxy/w1", out)
        self.assertIn("PASS  health             proxy/w2", out)
        self.assertIn("8/8 joined, switched server, chatted and left", out)
        said = [e["text"] for e in watcher.events if e["event"] == "system_chat"]
        self.assertFalse([t for t in said if "smk" in t], said)
        logged = [json.loads(line) for line in (self.folder / "proxy.jsonl").read_text().splitlines()]
        armed = sorted(line.get("worker") for line in logged if "probe player name(s) armed" in line.get("text", ""))
        self.assertEqual(armed, ["w1", "w2"])

        code, out = yield mcproxyctl("--json", "-c", proxy, "status")
        self.assertEqual(code, 0, out)
        body = json.loads(out)
        self.assertEqual([row["worker"] for row in body["workers"]], ["w1", "w2"])
        self.assertEqual(len({row["pid"] for row in body["workers"]}), 2)
        self.assertEqual(body["players"]["online"], 1)
        self.assertEqual(sorted(body["players"]["by_worker"].values()), [0, 1])
        self.assertEqual(body["cluster"]["network_online"], 1)

        # Worker 2 has no control link to make its backends' state known at once: its probes do.
        code, out = yield mcproxyctl("-c", proxy, "health", "--wait", "30")
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[0], "status: READY")
        self.assertIn("  w1 messaging: OK", out)
        self.assertIn("  w2 cluster: OK", out)
        code, out = yield mcproxyctl("-c", proxy, "--worker", "2", "health")
        self.assertNotIn("w1 ", out)

        lobby = str(deployment.backend_configs["lobby"])
        code, out = yield mcproxyctl("versions", "-c", proxy, "-c", lobby)
        self.assertEqual(code, 0, out)
        self.assertEqual([line.split()[0] for line in out.splitlines()[:3]], ["proxy/w1", "proxy/w2", "lobby"])
        code, out = yield mcproxyctl("rejects", "-c", proxy, "--last", "5m")
        self.assertEqual(code, 0, out)
        self.assertEqual({line.split()[0] for line in out.splitlines()[1:-1]}, {"proxy/w1", "proxy/w2"})
        code, out = yield mcproxyctl("doctor", "-c", proxy)
        self.assertEqual(code, 0, out)
        self.assertIn("ok    proxy/w1  /health: READY", out)
        self.assertIn("ok    proxy/w2  /health: READY", out)

        # SIGKILL worker 2: the tools name the worker that does not answer, and keep the others' rows.
        # The supervisor would start it again within a second, about as long as mcproxyctl takes to
        # start: it is paused meanwhile, so worker 2 is still gone when doctor asks.
        supervisor_pid = deployment.proxy.transport.pid
        os.kill(supervisor_pid, signal.SIGSTOP)
        self.addCleanup(lambda: deployment.proxy.running and os.kill(supervisor_pid, signal.SIGCONT))
        os.kill(body["workers"][1]["pid"], 9)
        code, out = yield mcproxyctl("doctor", "-c", proxy)
        self.assertEqual(code, 1, out)
        self.assertIn("FAIL  proxy/w2  /health: cannot reach the admin listener", out)
        self.assertIn("ok    proxy/w1  /health: READY", out)
        os.kill(supervisor_pid, signal.SIGCONT)
        yield wait_until(lambda: "worker 2 (pid" in (self.folder / "proxy.jsonl").read_text(), 20,
                         what="the supervisor's line about worker 2's death")

        incident = self.folder / "incident"
        until = datetime.now(timezone.utc)
        code, out = yield mcproxyctl("snapshot", "-c", proxy, "--since", started.isoformat(), "--until",
                                     until.isoformat(), "-o", str(incident))
        self.assertEqual(sorted(p.name for p in incident.iterdir() if p.is_dir()),
                         ["proxy-supervisor", "proxy-w1", "proxy-w2"])
        self.assertTrue((incident / "proxy-w1" / "status.json").exists(), out)
        for worker in ("w1", "w2"):
            lines = [json.loads(line) for line in (incident / f"proxy-{worker}" / "log.jsonl").read_text().splitlines()]
            self.assertTrue(lines, worker)
            self.assertEqual({line.get("worker") for line in lines}, {worker})
        supervisor = (incident / "proxy-supervisor" / "log.jsonl").read_text()
        self.assertIn("worker 2 (pid", supervisor)
