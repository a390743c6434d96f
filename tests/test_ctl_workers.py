"""mcproxyctl with ``[proxy] workers``: which processes it asks, and how their answers are merged."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import load_proxy_config
from mcproxy.ctl import cli as ctl
from mcproxy.ctl.doctor import diagnose, doctor_text
from mcproxy.ctl.incident import lines_in_window
from mcproxy.ctl.workers import Target, merged_health, merged_status, targets
from tests.integration.harness import write_proxy_config

CLUSTER = '\n[cluster]\nenabled = true\nproxy_id = "edge"\n'


class Admin:
    """Answers per admin port, as each worker's admin listener would."""

    def __init__(self, answers: dict[int, dict | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[int, str]] = []

    def __call__(self, config):
        port = int(config.admin.bind.split(":")[1])
        admin = self

        class Client:
            def get(self, path: str):
                admin.asked.append((port, path))
                answer = admin.answers[port]
                if isinstance(answer, Exception):
                    raise answer
                return answer

            def request(self, method: str, path: str):
                return 200, self.get(path)
        return Client()


class WorkerTargetsTests(SynchronousTestCase):

    def config(self, workers: int):
        folder = Path(self.mktemp())
        return load_proxy_config(write_proxy_config(folder, 25565, {"lobby": 25566}, admin_port=9100,
                                                    extra=f"workers = {workers}\n{CLUSTER}"))

    def test_single_proxy_is_itself(self) -> None:
        """A proxy without workers is one process, asked as before (nothing is asked to find out)."""
        admin = Admin({})
        found = targets(self.config(1), admin)
        self.assertEqual([(t.name, t.worker) for t in found], [("proxy", None)])
        self.assertEqual(admin.asked, [])

    def test_each_worker_on_its_admin_port(self) -> None:
        """Worker 1's /status says how many run; each is a target on the admin port + k - 1."""
        admin = Admin({9100: {"worker": {"index": 1, "of": 3}}})
        found = targets(self.config(3), admin)
        self.assertEqual([(t.name, t.worker, t.config.admin.bind) for t in found], [
            ("proxy/w1", 1, "tcp:9100:interface=127.0.0.1"), ("proxy/w2", 2, "tcp:9101:interface=127.0.0.1"),
            ("proxy/w3", 3, "tcp:9102:interface=127.0.0.1")])
        self.assertEqual(found[1].config.cluster.proxy_id, "edge/w2")

    def test_running_count_wins_over_the_file(self) -> None:
        """A file edited to 4 workers since the start: the 2 running are asked; a single proxy answering
        is one process; the file's count only when worker 1 is down."""
        self.assertEqual(len(targets(self.config(4), Admin({9100: {"worker": {"index": 1, "of": 2}}}))), 2)
        self.assertEqual([t.worker for t in targets(self.config(4), Admin({9100: {"players": {}}}))], [None])
        down = Admin({9100: ctl.CtlError("cannot reach the admin listener")})
        self.assertEqual(len(targets(self.config(4), down)), 4)


def _t(k: int) -> Target:
    return Target(f"proxy/w{k}", None, k)


class MergeTests(SynchronousTestCase):

    def test_health_is_the_worst_with_checks_by_worker(self) -> None:
        """The merged /health is its workers' worst; an unanswering worker is a FAILED check, DEGRADED."""
        ready = (200, {"status": "READY", "checks": {"listener": {"state": "OK", "detail": "tcp:25565"}}})
        degraded = (200, {"status": "DEGRADED", "checks": {"cluster": {"state": "DEGRADED", "detail": "redis"}}})
        code, body = merged_health([(_t(1), ready), (_t(2), degraded)])
        self.assertEqual((code, body["status"]), (200, "DEGRADED"))
        self.assertEqual(sorted(body["checks"]), ["w1 listener", "w2 cluster"])
        code, body = merged_health([(_t(1), ready), (_t(2), ctl.CtlError("cannot reach"))])
        self.assertEqual((code, body["status"], body["checks"]["w2 admin"]["state"]), (200, "DEGRADED", "FAILED"))
        code, body = merged_health([(_t(1), ready), (_t(2), (503, {"status": "NOT_READY", "checks": {}}))])
        self.assertEqual((code, body["status"]), (503, "NOT_READY"))
        self.assertEqual(merged_health([(_t(1), ready), (_t(2), ready)])[1]["status"], "READY")

    def test_status_adds_players_and_rejects_and_rows_per_worker(self) -> None:
        """Players and reject counters are added up, worker 1's other sections kept, a row per worker."""
        one = {"worker": {"index": 1, "of": 3, "pid": 11, "restarts": 0},
               "players": {"online": 2, "max": 500, "connections": 3, "by_server": {"lobby": 2},
                           "by_protocol": {"769": 2}},
               "rejects": {"mcproxy_refusals_total": {"HANDSHAKE_LIMIT": 1}},
               "cluster": {"network_online": 5}}
        two = {"worker": {"index": 2, "of": 3, "pid": 12, "restarts": 1},
               "players": {"online": 3, "max": 500, "connections": 3, "by_server": {"lobby": 1, "games": 2},
                           "by_protocol": {"775": 3}},
               "rejects": {"mcproxy_refusals_total": {"HANDSHAKE_LIMIT": 2, "BAD_FRAME": 1}},
               "cluster": {"network_online": 5}}
        body = merged_status([(_t(1), one), (_t(2), two), (_t(3), ctl.CtlError("cannot reach"))])
        self.assertEqual(body["players"], {"online": 5, "max": 500, "connections": 6,
                                           "by_server": {"lobby": 3, "games": 2}, "by_protocol": {"769": 2, "775": 3},
                                           "by_worker": {"w1": 2, "w2": 3}})
        self.assertEqual(body["rejects"], {"mcproxy_refusals_total": {"HANDSHAKE_LIMIT": 3, "BAD_FRAME": 1}})
        self.assertEqual(body["cluster"], {"network_online": 5})
        self.assertEqual(body["workers"], [{"worker": "w1", "pid": 11, "restarts": 0, "online": 2},
                                           {"worker": "w2", "pid": 12, "restarts": 1, "online": 3},
                                           {"worker": "w3", "error": "cannot reach"}])
        self.assertNotIn("worker", body)


class DoctorAndLogTests(SynchronousTestCase):

    def test_doctor_asks_each_worker(self) -> None:
        """doctor's /health findings are per worker, so one sick worker is named."""
        folder = Path(self.mktemp())
        config = load_proxy_config(write_proxy_config(folder, 25565, {"lobby": 25566}, admin_port=9100,
                                                      extra=f"workers = 2\n{CLUSTER}"))
        admin = Admin({9100: {"worker": {"of": 2}, "status": "READY", "checks": {}},
                       9101: ctl.CtlError("cannot reach the admin listener at http://127.0.0.1:9101")})
        report = diagnose([("proxy.toml", config)], admin, expand=lambda c: targets(c, admin))
        text = doctor_text(report)
        self.assertIn("ok    proxy/w1  /health: READY", text)
        self.assertIn("FAIL  proxy/w2  /health: cannot reach the admin listener at http://127.0.0.1:9101", text)

    def test_log_lines_by_worker(self) -> None:
        """The workers share one log file: each worker's lines by its field, the supervisor's by its absence."""
        path = Path(self.mktemp())
        lines = [{"time": "2026-01-01T10:00:01Z", "text": "a", "worker": "w1"},
                 {"time": "2026-01-01T10:00:02Z", "text": "b", "worker": "w2"},
                 {"time": "2026-01-01T10:00:03Z", "text": "c", "namespace": "mcproxy.workers"}]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        since, until = datetime(2026, 1, 1, 10, tzinfo=timezone.utc), datetime(2026, 1, 1, 11, tzinfo=timezone.utc)

        def texts(worker):
            return [json.loads(line)["text"] for line in lines_in_window(path, since, until, worker)]
        self.assertEqual((texts(None), texts("w2"), texts("")), (["a", "b", "c"], ["b"], ["c"]))


class WorkerOptionTests(SynchronousTestCase):

    def test_worker_option_narrows_the_reading_commands(self) -> None:
        """versions, rejects, doctor and snapshot ask every worker, or only worker K with --worker K
        (a worker 1 that does not answer leaves the file's count)."""
        import argparse
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        folder = Path(self.mktemp())
        path = str(write_proxy_config(folder, 25565, {"lobby": 25566}, admin_port=port,
                                      extra=f"workers = 3\n{CLUSTER}"))
        every = ctl._targets(argparse.Namespace(config=path, configs=None, command="versions", worker=None))
        self.assertEqual([t.name for _, t in every], ["proxy/w1", "proxy/w2", "proxy/w3"])
        one = ctl._targets(argparse.Namespace(config=path, configs=None, command="versions", worker=2))
        self.assertEqual([(p, t.name) for p, t in one], [(path, "proxy/w2")])
