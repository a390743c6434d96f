"""A process whose admin port another program holds does not run headless."""

from __future__ import annotations

import socket

from twisted.internet import defer, threads
from twisted.trial.unittest import TestCase

from tests.integration.deployment import Deployment, TwistdProcess, mcproxyctl
from tests.integration.harness import temp_dir


class AdminPortTakenTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_backend_stops_at_start_and_ctl_names_the_other_program(self):
        """A limbo whose admin port is taken exits 1 at start with ``file: admin.bind: cannot
        listen: …`` and no traceback; mcproxyctl, meeting the program that holds the port and
        closes without an HTTP answer, says so instead of "cannot reach"."""
        deployment = Deployment(temp_dir(self), backends=("lobby",))
        config = deployment.backend_configs["lobby"]
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", deployment.backend_admin["lobby"]))
        squatter.listen(8)
        self.addCleanup(squatter.close)
        backend = TwistdProcess("mcbackend", config)
        backend.start()
        self.addCleanup(backend.stop)
        code = yield backend.protocol.ended
        output = backend.log_path.read_text(errors="replace")
        self.assertEqual(code, 1, output)
        self.assertIn(f"{config}: admin.bind: cannot listen: Couldn't listen on 127.0.0.1:"
                      f"{deployment.backend_admin['lobby']}: [Errno 98] Address already in use.", output)
        self.assertNotIn("Traceback", output)

        ctl = mcproxyctl("-c", str(config), "health")
        peer, _ = yield threads.deferToThread(_accept_request, squatter)
        peer.close()
        code, out = yield ctl
        self.assertEqual(code, 1, out)
        self.assertIn("closed the connection without an HTTP answer (GET /health)", out)


def _accept_request(server: socket.socket):
    """Take one connection and read its request whole, as a listener that is not HTTP would."""
    server.settimeout(20)
    peer, address = server.accept()
    request = b""
    while b"\r\n\r\n" not in request:
        request += peer.recv(65536)
    return peer, address
