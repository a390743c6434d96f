"""/alert, /kick and /ip with real minecraft-protocol players, and from the shell with mcproxyctl."""

from __future__ import annotations

from twisted.internet import defer, threads
from twisted.trial.unittest import SkipTest, TestCase

from mcproxy.ctl.cli import main as mcproxyctl
from tests.integration.harness import (
    NodePeer, free_port, listening_peer, node_missing, temp_dir, write_proxy_config,
)
from tests.integration.proxy_harness import game_port, run_proxy

VERSION = "1.21.4"
GRANTS = """[permissions]
"mcproxy.command.alert" = ["Admin"]
"mcproxy.command.kick" = ["Admin"]
"mcproxy.command.ip" = ["Admin"]
"""


class NetworkCommandPeerTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_commands_with_and_without_permission(self):
        """Granted players and the shell run /alert, /kick and /ip; everyone else is refused."""
        reason = node_missing()
        if reason:
            raise SkipTest(reason)
        backend, backend_port = yield listening_peer(self, "echo_server.js", VERSION)
        # mcproxyctl finds the admin listener by its configured port.
        path = write_proxy_config(temp_dir(self), 0, {"lobby": backend_port}, admin_port=free_port(),
                                  extra=GRANTS)
        proxy = yield run_proxy(self, path)
        port = game_port(proxy)
        yield proxy.getServiceNamed("admin").when_bound()

        def client(name, *lines, linger=0):
            peer = NodePeer("chat_client.js", "127.0.0.1", port, VERSION, name, *lines,
                            env={"LINGER_MS": str(linger), "CLIENT_TIMEOUT_MS": "60000"})
            self.addCleanup(peer.stop)
            return peer

        def texts(peer):
            return [e["text"] for e in peer.events if e["event"] == "system_chat"]

        other = client("Other", linger=60000)
        yield other.wait_for("done", 40)
        nobody = client("Nobody", "/alert hi", "/kick Other", "/ip Other")
        yield nobody.finished(40)
        self.assertEqual(texts(nobody), [f"You do not have permission to run /{n}." for n in ("alert", "kick", "ip")])
        self.assertNotIn("[Alert] hi", texts(other))

        admin = client("Admin", "/ip Other", "/alert Hello all")
        yield admin.wait_for("done", 40)
        self.assertIn("Other is connected from 127.0.0.1.", texts(admin))
        yield other.wait_for("system_chat", 20, text="[Alert] Hello all")
        yield admin.finished(20)

        code = yield threads.deferToThread(mcproxyctl, ["-c", str(path), "command", "/alert From the shell"])
        self.assertEqual(code, 0)
        yield other.wait_for("system_chat", 20, text="[Alert] From the shell")
        code = yield threads.deferToThread(mcproxyctl, ["-c", str(path), "command", "/kick Other Be nice"])
        self.assertEqual(code, 0)
        kicked = yield other.wait_for("kicked", 20)
        self.assertEqual(kicked["reason"], "Be nice")
        code = yield threads.deferToThread(mcproxyctl, ["-c", str(path), "command", "/nosuch"])
        self.assertEqual(code, 1)
