"""``[proxy] workers = N``: the config it needs, what each worker runs, the shared port, and the
supervisor's restarts, signals and stop, deterministically on a Clock."""

from __future__ import annotations

import errno
import os
import socket

from twisted.internet.error import ConnectionDone, ProcessDone, ProcessTerminated
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.config import load_proxy_config
from mcproxy.options import ProxyOptions
from mcproxy.proxy.reuseport import ReusePortEndpoint, TcpListen, offset_port, tcp_listen
from mcproxy.proxy.service import ProxyProcess
from mcproxy.proxy.supervisor import WorkerSupervisor, how_it_ended
from mcproxy.proxy.worker import ParentPipe, WorkerSlot, parse_slot
from tests.test_config import PROXY_MINIMAL, ConfigFileTestCase

CLUSTER = '[cluster]\nenabled = true\nproxy_id = "eu-1"\n'
WORKERS = PROXY_MINIMAL.replace("[proxy]\n", '[proxy]\nbind = "tcp:25565"\nworkers = 2\n', 1)


class WorkersConfigTests(ConfigFileTestCase):

    def test_default_one(self) -> None:
        """Without the key a proxy is one process, as before."""
        self.assertEqual(load_proxy_config(self.write(PROXY_MINIMAL)).proxy.workers, 1)

    def test_workers_with_cluster(self) -> None:
        """workers = 2 with [cluster] enabled is read as 2."""
        self.assertEqual(load_proxy_config(self.write(WORKERS + CLUSTER)).proxy.workers, 2)

    def test_needs_cluster(self) -> None:
        """workers > 1 without [cluster] enabled = true is refused with file: key: reason."""
        self.assertProxyError(
            WORKERS, "proxy.workers", "2 workers need [cluster] enabled = true: each worker is a member of the"
            " cluster, which is how they share players, counts and commands")
        self.assertProxyErrorStarts(WORKERS + "[cluster]\nenabled = false\n", "proxy.workers", "2 workers need")

    def test_range(self) -> None:
        """workers is an integer from 1 to 64."""
        self.assertProxyError(PROXY_MINIMAL.replace("[proxy]\n", "[proxy]\nworkers = 0\n"), "proxy.workers",
                              "must be between 1 and 64, not 0")
        self.assertProxyError(PROXY_MINIMAL.replace("[proxy]\n", '[proxy]\nworkers = "2"\n'), "proxy.workers",
                              "must be an integer, not a string")

    def test_game_port_must_be_tcp(self) -> None:
        """A UNIX socket or port 0 cannot be shared with SO_REUSEPORT: refused, naming the bind."""
        text = WORKERS.replace('bind = "tcp:25565"', 'bind = "unix:/tmp/mc.sock"') + CLUSTER
        self.assertProxyErrorStarts(text, "proxy.bind", "'unix:/tmp/mc.sock': 2 workers share the game port")
        text = WORKERS.replace('bind = "tcp:25565"', 'bind = ["tcp:25565", "tcp:0"]') + CLUSTER
        self.assertProxyErrorStarts(text, "proxy.bind", "'tcp:0': 2 workers share")

    def test_admin_port_must_be_offsettable(self) -> None:
        """Worker k's admin port is the bind's + k - 1: a unix: one, or one past 65535, is refused."""
        self.assertProxyErrorStarts(WORKERS + CLUSTER + '[admin]\nbind = "unix:/tmp/a.sock"\n', "admin.bind",
                                    "'unix:/tmp/a.sock': with 2 workers, worker k listens on this port + k - 1")
        self.assertProxyError(WORKERS + CLUSTER + '[admin]\nbind = "tcp:65535"\n', "admin.bind",
                              "port 65535 + 1 for the last worker is past 65535")
        config = load_proxy_config(self.write(WORKERS + CLUSTER + '[admin]\nbind = ""\n'))
        self.assertEqual(config.admin.bind, "")


class EndpointTextTests(SynchronousTestCase):

    def test_tcp_listen(self) -> None:
        """Twisted's tcp:/tcp6: forms, positional or by name, under haproxy: or not."""
        v4, v6 = socket.AF_INET, socket.AF_INET6
        self.assertEqual(tcp_listen("tcp:25565"), TcpListen(v4, 25565, "", 50))
        self.assertEqual(tcp_listen("haproxy:tcp:port=25565:interface=127.0.0.1:backlog=200"),
                         TcpListen(v4, 25565, "127.0.0.1", 200))
        self.assertEqual(tcp_listen("tcp:25565:10.0.0.1"), TcpListen(v4, 25565, "10.0.0.1", 50))
        self.assertEqual(tcp_listen("tcp6:25565:interface=\\:\\:1"), TcpListen(v6, 25565, "::1", 50))
        self.assertEqual(tcp_listen("tcp6:25565:7"), TcpListen(v6, 25565, "::", 7))

    def test_not_tcp(self) -> None:
        """Anything else is None: it cannot be shared."""
        for text in ("unix:/tmp/x", "ssl:443", "tcp:", "tcp:port=x", "tcp:1:a:2:extra"):
            self.assertIsNone(tcp_listen(text), text)

    def test_offset_port(self) -> None:
        """The port moves; everything else stays, escapes included."""
        self.assertEqual(offset_port("tcp:8765:interface=127.0.0.1", 2), "tcp:8767:interface=127.0.0.1")
        self.assertEqual(offset_port("tcp:port=8765:interface=\\:\\:1", 1), "tcp:port=8766:interface=\\:\\:1")
        self.assertEqual(offset_port("tcp:interface=127.0.0.1:port=9000", 1), "tcp:interface=127.0.0.1:port=9001")


class _AdoptingReactor:
    """Keeps the descriptors it adopts open, as a real reactor's port does."""

    def __init__(self) -> None:
        self.adopted: list[tuple[int, int, object]] = []

    def adoptStreamPort(self, fd: int, family: int, factory: object):
        self.adopted.append((os.dup(fd), family, factory))
        return self.adopted[-1]

    def close(self) -> None:
        for fd, _, _ in self.adopted:
            os.close(fd)


class ReusePortEndpointTests(SynchronousTestCase):

    def test_two_listen_on_one_port(self) -> None:
        """Two workers' endpoints bind the same port at once; a socket without SO_REUSEPORT cannot."""
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        reactor = _AdoptingReactor()
        self.addCleanup(reactor.close)
        listen = TcpListen(socket.AF_INET, port, "127.0.0.1", 5)
        first = self.successResultOf(ReusePortEndpoint(reactor, listen).listen("factory-1"))
        second = self.successResultOf(ReusePortEndpoint(reactor, listen).listen("factory-2"))
        self.assertEqual([first[2], second[2]], ["factory-1", "factory-2"])
        for fd, family, _ in reactor.adopted:
            with socket.socket(fileno=os.dup(fd)) as sock:
                self.assertEqual(sock.getsockname(), ("127.0.0.1", port))
                self.assertTrue(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
        with socket.socket() as plain:
            error = self.assertRaises(OSError, plain.bind, ("127.0.0.1", port))
            self.assertEqual(error.errno, errno.EADDRINUSE)

    def test_bind_failure_is_a_failed_deferred(self) -> None:
        """A port held without SO_REUSEPORT fails the listen's Deferred, not with a raise."""
        holder = socket.socket()
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        reactor = _AdoptingReactor()
        listen = TcpListen(socket.AF_INET, holder.getsockname()[1], "127.0.0.1", 5)
        failure = self.failureResultOf(ReusePortEndpoint(reactor, listen).listen("factory"), OSError)
        self.assertEqual(failure.value.errno, errno.EADDRINUSE)
        self.assertEqual(reactor.adopted, [])


class WorkerSlotTests(ConfigFileTestCase):

    def config(self):
        return load_proxy_config(self.write(
            WORKERS + CLUSTER + '[admin]\nbind = "tcp:8765:interface=127.0.0.1"\nhistory_dir = "hist"\n'
            "[query]\nenabled = true\n[messaging]\nenabled = true\n"))

    def test_first_worker_keeps_the_known_ports(self) -> None:
        """Worker 1 serves the configured admin, messaging and query; only its cluster id differs."""
        config = self.config()
        shaped = WorkerSlot(1, 2).shape(config)
        self.assertEqual(shaped.cluster.proxy_id, "eu-1/w1")
        self.assertEqual((shaped.admin, shaped.messaging, shaped.query),
                         (config.admin, config.messaging, config.query))

    def test_other_workers(self) -> None:
        """Worker k > 1: admin on port + k - 1, its own history, no control plane, no query."""
        config = self.config()
        shaped = WorkerSlot(3, 3).shape(config)
        self.assertEqual(shaped.cluster.proxy_id, "eu-1/w3")
        self.assertEqual(shaped.admin.bind, "tcp:8767:interface=127.0.0.1")
        self.assertEqual(shaped.admin.history_dir, os.path.join(config.admin.history_dir) + "/w3")
        self.assertFalse(shaped.messaging.enabled)
        self.assertFalse(shaped.query.enabled)
        self.assertEqual(shaped.proxy, config.proxy)

    def test_parse_slot(self) -> None:
        """--worker k/N with 1 <= k <= N; anything else is refused with the reason."""
        self.assertEqual(parse_slot("2/3", 4), WorkerSlot(2, 3, 4))
        for bad in ("0/2", "3/2", "2", "a/b", "1/"):
            self.assertRaises(ValueError, parse_slot, bad)

    def test_options(self) -> None:
        """twistd mcproxy --worker passes the slot on; a bad one is a usage error."""
        path = self.write(WORKERS + CLUSTER)
        options = ProxyOptions()
        options.parseOptions(["-c", path, "--worker", "2/2", "--restarts", "3"])
        self.assertEqual(options["slot"], WorkerSlot(2, 2, 3))
        options = ProxyOptions()
        options.parseOptions(["-c", path])
        self.assertIsNone(options["slot"])
        self.assertRaises(usage.UsageError, ProxyOptions().parseOptions, ["-c", path, "--worker", "3/2"])

    def test_process_of_a_worker(self) -> None:
        """A worker process answers under its own id, shows its slot and restarts, and reloads as itself."""
        config = self.config()
        process = ProxyProcess(config, MemoryReactorClock(), worker=WorkerSlot(2, 2, 3))
        self.assertEqual(process.cluster.proxy_id, "eu-1/w2")
        self.assertIsNone(process.messaging)
        self.assertIsNone(process.query)
        self.assertEqual(process.status_board.snapshot()["worker"],
                         {"index": 2, "of": 2, "restarts": 3, "pid": os.getpid()})
        self.assertEqual(process.registry.get_sample_value("mcproxy_worker_restarts"), 3)
        self.assertTrue(process.reload())
        self.assertEqual(process.config.cluster.proxy_id, "eu-1/w2")


class ParentPipeTests(SynchronousTestCase):

    def test_end_of_file_is_the_end(self) -> None:
        """Bytes on the pipe are ignored; its end (the supervisor gone) is a ConnectionDone."""
        read, write = os.pipe()
        self.addCleanup(os.close, read)
        gone: list[bool] = []
        pipe = ParentPipe(MemoryReactorClock(), read, lambda: gone.append(True))
        os.write(write, b"x")
        self.assertIsNone(pipe.doRead())
        os.close(write)
        result = pipe.doRead()
        self.assertIsInstance(result, ConnectionDone)
        pipe.readConnectionLost(Failure(result))
        self.assertEqual(gone, [True])


class FakeProcess:
    """The transport a spawned worker would have: its pid and the signals sent to it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.signals: list[str] = []

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class SpawningClock(Clock):
    """A Clock that records spawnProcess calls instead of forking."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[tuple] = []

    def spawnProcess(self, protocol, executable, args, env=None, childFDs=None):
        transport = FakeProcess(1000 + len(self.spawned))
        self.spawned.append((protocol, args, childFDs, transport))
        protocol.makeConnection(transport)
        return transport


def died(signal: int | None = 9, status: int | None = None) -> Failure:
    return Failure(ProcessTerminated(exitCode=status, signal=signal))


class WorkerSupervisorTests(SynchronousTestCase):

    def setUp(self) -> None:
        self.clock = SpawningClock()
        self.events: list[dict] = []
        self.exhausted: list[bool] = []
        self.supervisor = WorkerSupervisor(
            self.clock, 2, lambda slot: ["python", f"{slot.index}/{slot.count}", str(slot.restarts)],
            Logger(observer=self.events.append), lambda: self.exhausted.append(True))
        self.supervisor.startService()

    def running(self, index: int):
        return self.supervisor.running_workers[index]

    def kill(self, index: int, reason: Failure | None = None) -> None:
        self.running(index).processEnded(reason or died())

    def restart_due(self) -> None:
        """Advance to the pending restart, whatever its delay."""
        self.clock.advance(max(call.getTime() for call in self.clock.getDelayedCalls()) - self.clock.seconds())

    def test_starts_every_worker(self) -> None:
        """N workers start at once, each told its slot, each with a stdin pipe only the parent holds."""
        self.assertEqual([args for _, args, _, _ in self.clock.spawned],
                         [["python", "1/2", "0"], ["python", "2/2", "0"]])
        self.assertEqual({fds[0] for _, _, fds, _ in self.clock.spawned}, {"w"})
        self.assertEqual(sorted(self.supervisor.running_workers), [1, 2])

    def test_dead_worker_restarted_after_a_delay(self) -> None:
        """A worker killed is restarted (counted in its slot's restarts) after 0.5 s, not before."""
        self.kill(2)
        self.assertEqual(sorted(self.supervisor.running_workers), [1])
        self.clock.advance(0.49)
        self.assertEqual(len(self.clock.spawned), 2)
        self.clock.advance(0.01)
        self.assertEqual(self.clock.spawned[-1][1], ["python", "2/2", "1"])
        self.assertEqual(self.supervisor.restarts, {1: 0, 2: 1})
        warnings = [e for e in self.events if "restarting it" in e["log_format"]]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["how"], "was killed by signal 9")

    def test_backoff_doubles_then_resets(self) -> None:
        """Deaths in a row wait 0.5, 1, 2 s; a death after a quiet window waits 0.5 s again."""
        delays = []
        for _ in range(3):
            self.kill(1)
            delays.append(self.clock.getDelayedCalls()[0].getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [0.5, 1.0, 2.0])
        self.clock.advance(61)
        self.kill(1)
        self.assertEqual(self.clock.getDelayedCalls()[0].getTime() - self.clock.seconds(), 0.5)

    def test_crash_loop_given_up(self) -> None:
        """A slot dying more than 5 times in 60 s is not restarted again; the others keep running."""
        for _ in range(5):
            self.kill(2)
            self.restart_due()
        self.assertEqual(self.supervisor.restarts[2], 5)
        spawned = len(self.clock.spawned)
        self.kill(2, died(signal=None, status=1))
        self.clock.advance(60)
        self.assertEqual(len(self.clock.spawned), spawned)
        self.assertEqual(self.supervisor.given_up, {2})
        self.assertEqual(sorted(self.supervisor.running_workers), [1])
        self.assertEqual(self.exhausted, [])
        critical = [e for e in self.events if "not restarted" in e["log_format"]]
        self.assertEqual(critical[0]["how"], "exited with status 1")

    def test_every_slot_given_up_is_exhausted(self) -> None:
        """When no slot is left, the supervisor says so once: the process should end."""
        for index in (1, 2):
            for _ in range(5):
                self.kill(index)
                self.restart_due()
            self.kill(index)
        self.assertEqual(self.exhausted, [True])

    def test_reload_signals_every_worker(self) -> None:
        """SIGHUP on the parent is SIGHUP on each running worker."""
        self.supervisor.reload()
        self.assertEqual([t.signals for _, _, _, t in self.clock.spawned], [["HUP"], ["HUP"]])

    def test_stop_terminates_and_waits(self) -> None:
        """Stopping sends SIGTERM, waits for both workers, restarts neither, and then fires."""
        stopped = self.supervisor.stopService()
        self.assertEqual([t.signals for _, _, _, t in self.clock.spawned], [["TERM"], ["TERM"]])
        self.kill(1, Failure(ProcessDone(0)))
        self.assertNoResult(stopped)
        self.kill(2)
        self.successResultOf(stopped)
        self.clock.advance(60)
        self.assertEqual(len(self.clock.spawned), 2)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_kills_after_grace(self) -> None:
        """A worker still running 10 s after SIGTERM gets SIGKILL."""
        stopped = self.supervisor.stopService()
        self.clock.advance(10)
        self.assertEqual([t.signals for _, _, _, t in self.clock.spawned], [["TERM", "KILL"], ["TERM", "KILL"]])
        self.kill(1)
        self.kill(2)
        self.successResultOf(stopped)

    def test_stop_cancels_pending_restart(self) -> None:
        """A restart waiting when the stop comes never happens."""
        self.kill(2)
        stopped = self.supervisor.stopService()
        self.kill(1)
        self.successResultOf(stopped)
        self.clock.advance(60)
        self.assertEqual(len(self.clock.spawned), 2)

    def test_how_it_ended(self) -> None:
        """Exit statuses and signals read as operators say them."""
        self.assertEqual(how_it_ended(Failure(ProcessDone(0))), "exited with status 0")
        self.assertEqual(how_it_ended(died(signal=None, status=3)), "exited with status 3")
        self.assertEqual(how_it_ended(died(signal=15)), "was killed by signal 15")


class McproxyctlWorkerTests(ConfigFileTestCase):

    def test_worker_option_addresses_its_admin_port(self) -> None:
        """mcproxyctl --worker K reaches worker K's admin listener (port + K - 1); without it, worker 1's;
        a K the proxy does not run, or --worker on a backend, is refused with the reason."""
        from mcproxy.ctl.cli import AdminClient, CtlError, _addressed, parser
        from mcproxy.ctl.typo import unknown_command

        path = self.write(WORKERS + CLUSTER + '[admin]\nbind = "tcp:8765:interface=127.0.0.1"\n')
        top = parser()
        self.assertIsNone(unknown_command(["-c", path, "--worker", "2", "health"], top))
        args = top.parse_args(["-c", path, "--worker", "2", "health"])
        self.assertEqual(AdminClient(_addressed(args)).base, "http://127.0.0.1:8766")
        args = top.parse_args(["-c", path, "status"])
        self.assertEqual(AdminClient(_addressed(args)).base, "http://127.0.0.1:8765")
        args = top.parse_args(["-c", path, "--worker", "3", "status"])
        error = self.assertRaises(CtlError, _addressed, args)
        self.assertEqual(str(error), f"{path}: --worker 3: this proxy runs 2 worker(s)")


class WorkerLogTests(ConfigFileTestCase):

    def test_lines_say_which_worker(self) -> None:
        """A worker's JSON lines carry "worker": "wK", so N workers' interleaved lines stay apart."""
        import json

        from twisted.application.service import Service

        from mcproxy.ops.logging import logged_process
        from mcproxy.ops.redaction import Redactor

        path = os.path.join(self.dir, "worker.log")
        top = logged_process(Service(), "info", path, Redactor(), stamp={"worker": "w2"})
        self.addCleanup(top.log_observer.close)
        Logger(observer=top.log_observer).info("config reloaded from {path}", path="proxy.toml")
        plain = logged_process(Service(), "info", path, Redactor())
        self.addCleanup(plain.log_observer.close)
        Logger(observer=plain.log_observer).info("alone")
        with open(path) as lines:
            stamped, alone = [json.loads(line) for line in lines]
        self.assertEqual((stamped["text"], stamped["worker"]), ("config reloaded from proxy.toml", "w2"))
        self.assertNotIn("worker", alone)
