"""What mcproxyctl prints when an action does not succeed: the reason, never a false diagnosis."""

from __future__ import annotations

import socket
import threading

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.ctl import cli as ctl


class _Config:
    """Just what AdminClient reads from a config."""

    class admin:
        token = None

    path = "test.toml"

    def __init__(self, port: int) -> None:
        self.admin = type("admin", (), {"bind": f"tcp:{port}:interface=127.0.0.1", "token": None})()


class ClientTimeoutTests(SynchronousTestCase):
    def test_silent_process_is_not_called_unreachable(self) -> None:
        """A listener that accepts but never answers: "no answer within N s", not "cannot reach"."""
        server = socket.socket()
        self.addCleanup(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        client = ctl.AdminClient(_Config(server.getsockname()[1]), timeout=0.3)
        with self.assertRaises(ctl.CtlError) as raised:
            client.action("request_snapshot", {"timeout": 1})
        message = str(raised.exception)
        self.assertIn("no answer from the process at http://127.0.0.1:", message)
        self.assertIn("within 0.3 s", message)
        self.assertNotIn("cannot reach", message)

    def test_other_program_on_the_port_is_named(self) -> None:
        """A listener that reads the request and closes without an HTTP answer (a Minecraft
        listener on the admin port does) is reported as such, not as an unreachable process."""
        server = socket.socket()
        self.addCleanup(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(4)

        def serve() -> None:
            peer, _ = server.accept()
            request = b""
            while b"\r\n\r\n" not in request:
                request += peer.recv(65536)
            peer.close()
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with self.assertRaises(ctl.CtlError) as raised:
            ctl.AdminClient(_Config(server.getsockname()[1]), timeout=5).get("/health")
        thread.join(5)
        message = str(raised.exception)
        self.assertIn("closed the connection without an HTTP answer (GET /health)", message)
        self.assertNotIn("cannot reach", message)

    def test_closed_port_is_unreachable(self) -> None:
        """Nothing listening: that one is "cannot reach the admin listener"."""
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with self.assertRaises(ctl.CtlError) as raised:
            ctl.AdminClient(_Config(port), timeout=1).get("/status")
        self.assertIn("cannot reach the admin listener", str(raised.exception))


class AnswerTextTests(SynchronousTestCase):
    def test_refused_snapshot_says_why(self) -> None:
        """A refused snapshot request prints the control-plane reason above the state."""
        text = ctl._snapshot_answer_text({
            "done": False, "reason": "PAYLOAD_TOO_LARGE: the proxy refused the snapshot request",
            "server_id": "lobby", "link_up": True, "synchronized": False})
        self.assertEqual(text.splitlines()[0],
                         "snapshot NOT installed: PAYLOAD_TOO_LARGE: the proxy refused the snapshot request")
        self.assertIn("synchronized: no", text)

    def test_unsettled_restart_says_why(self) -> None:
        """settled: no carries the reason; the messaging restart takes it from the problems."""
        self.assertEqual(ctl._settled_line({"settled": False, "reason": "not synchronized within 5 s: x"}),
                         "settled: no (not synchronized within 5 s: x)")
        self.assertEqual(ctl._settled_line({"settled": True, "reason": ""}), "settled: yes")
        text = ctl._messaging_text({"settled": False, "dropped": 1, "registry": {"serial": 3},
                                    "links": {"lobby": {"link_up": True, "synchronized": False}},
                                    "problems": ["lobby registry is not synchronized: PAYLOAD_TOO_LARGE"]})
        self.assertEqual(text.splitlines()[-1],
                         "settled: no (lobby registry is not synchronized: PAYLOAD_TOO_LARGE)")


class RejectsReportTests(SynchronousTestCase):
    def test_durations(self) -> None:
        """--last takes 90s, 10m, 2h or plain seconds; anything else is refused with an example."""
        self.assertEqual([ctl._duration(t) for t in ("90s", "10m", "2h", "45")], [90, 600, 7200, 45])
        for bad in ("ten minutes", "0s", "-5m", "31d"):
            with self.assertRaises(ctl.CtlError):
                ctl._duration(bad)

    def test_report_text(self) -> None:
        """Moved series per process, a note where history is short, and the verdict line."""
        report = {"last": "5m", "since": "S", "until": "U", "watched": ["VERSION_MISMATCH"], "moved": ["VERSION_MISMATCH"],
                  "processes": [
                      {"process": "proxy", "increases": {'x_rejects_total{reason="VERSION_MISMATCH"}': 2.0},
                       "covered_from": 5.0, "since": 10.0, "readings": 3, "moved": ["VERSION_MISMATCH"]},
                      {"process": "lobby", "increases": {}, "covered_from": 20.0, "since": 10.0, "readings": 1,
                       "moved": []},
                      {"process": "game", "error": "cannot reach the admin listener"}]}
        text = ctl._rejects_text(report).splitlines()
        self.assertIn('proxy  x_rejects_total{reason="VERSION_MISMATCH"} +2', text)
        self.assertIn("lobby  note: history does not reach back to the window start (1 reading(s))", text)
        self.assertIn("game   UNREACHABLE and no history: cannot reach the admin listener", text)
        self.assertEqual(text[-1], "MOVED: VERSION_MISMATCH on proxy")
