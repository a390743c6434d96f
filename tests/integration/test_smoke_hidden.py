"""mcproxyctl smoke's bots stay invisible to a real minecraft-protocol player on the backends."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import SkipTest

from tests.integration.harness import NodePeer, node_missing, sleep
from tests.integration.test_runbook import ROLLBACK, RunbookCase

VERSION = "1.21.4"


class SmokeBotsHiddenTests(RunbookCase):
    @defer.inlineCallbacks
    def test_real_player_never_sees_the_smoke_bots(self):
        """While the smoke load runs, a real player on the lobby reads no join, leave or chat line of a
        bot, and /glist typed during the load lists none of them."""
        missing = node_missing()
        if missing:
            raise SkipTest(missing)
        deployment = self.deployment()
        yield deployment.start(self)

        def client(name, *lines, linger=0):
            peer = NodePeer("chat_client.js", "127.0.0.1", deployment.proxy_port, VERSION, name, *lines,
                            env={"LINGER_MS": str(linger), "CLIENT_TIMEOUT_MS": "90000"})
            self.addCleanup(peer.stop)
            return peer

        watcher = client("Watcher", linger=90000)
        yield watcher.wait_for("done", 60)
        # The watcher used a login of the per-address budget (burst 5 at 1 login/s); let it refill.
        yield sleep(3)
        smoke = self.operator.run(ROLLBACK[1], ROLLBACK)
        yield sleep(4)
        lister = client("Lister", "/glist", "/glist", "/glist")
        code, out = yield smoke
        self.assertEqual(code, 0, out)
        self.assertIn("PASS  load               proxy      8/8 joined, switched server, chatted and left", out)
        yield lister.finished(60)
        texts = lambda peer: [e["text"] for e in peer.events if e["event"] == "system_chat"]
        listed = [t for t in texts(lister) if "Total players online" in t]
        self.assertTrue(listed, lister.events)
        self.assertFalse([t for t in listed if "smk" in t], listed)
        # A real player's join is announced as ever: the lobby did speak to the watcher (whose
        # report comes through its own pipe, so it is waited for).
        yield watcher.wait_for("system_chat", 30, text="Lister joined the limbo")
        self.assertFalse([t for t in texts(watcher) if "smk" in t], texts(watcher))
