"""The limbo's command bridge over the real control link, proxy side in memory."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.backend.commands import encode_command_tree
from mcproxy.wire.forwarding import offline_uuid
from mcproxy.backend.module import UNSYNCHRONIZED_MESSAGE
from mcproxy.control.backend_side import BackendControlLink
from mcproxy.control.proxy_side import ControlServerFactory
from mcproxy.control.registry import CommandRegistry, CommandSpec
from mcproxy.testing import InMemoryPlayerDirectory, LoopbackEndpoint
from mcproxy.wire.types import encode_string

from tests.backend_support import CommandSpecLike, FakeLink, World

CONTROL_SECRET = b"bridge-test-secret-0123456789abcdef"
START = 1_700_000_000.0


class BridgeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        log = Logger()
        self.player = str(offline_uuid("Steve"))
        self.directory = InMemoryPlayerDirectory({self.player: "lobby"},
                                                 servers=["lobby", "games"])
        self.commands = CommandRegistry(
            [CommandSpec("hub", "Back to the hub"), CommandSpec("server", aliases=("srv",))],
            initial_serial=100)
        proxy = ControlServerFactory("proxy", CONTROL_SECRET, ["lobby"], self.commands,
                                     self.directory, self.clock, CollectorRegistry(), log)
        self.endpoint = LoopbackEndpoint(proxy, self.clock)
        self.link = BackendControlLink("lobby", CONTROL_SECRET, self.endpoint, self.clock,
                                       CollectorRegistry(), log, retry_jitter=lambda: 0.0)
        self.addCleanup(self.link.stopService)
        self.world = World(link=self.link)

    def command(self, client, line: str) -> list[str]:
        client.read()
        client.send("chat_command", encode_string(line))
        self.endpoint.flush()
        return client.chat_lines()

    def test_refused_until_synchronized_then_bridged(self) -> None:
        """Before the snapshot arrives a proxy command is refused UNSYNCHRONIZED_REGISTRY;
        after it, the command (here by alias) runs on the proxy and its output is shown."""
        client = self.world.connect()
        client.join("Steve")
        self.assertEqual(self.command(client, "hub"),
                         ["Unknown command /hub. Type /help for help."])
        self.link.startService()
        self.endpoint.flush()
        self.assertTrue(self.link.synchronized)
        self.assertEqual(self.world.metric("mcproxy_bridge_synchronized"), 1.0)
        self.assertEqual(self.command(client, "srv games"),
                         [f"ran 'srv games' for {self.player}"])
        self.assertEqual(self.directory.commands, [(self.player, "srv games")])

    def test_commands_redeclared_when_registry_syncs(self) -> None:
        """Players get a new declare_commands with the proxy's commands once synchronized."""
        client = self.world.connect()
        client.join("Steve")
        client.read()
        self.link.startService()
        self.endpoint.flush()
        trees = [reader.rest() for name, reader in client.read() if name == "declare_commands"]
        self.assertEqual(trees[-1], encode_command_tree(
            ["help", "hub", "players", "server", "srv", "where"]))

    def test_link_lost_refuses_again(self) -> None:
        """When the proxy goes away the bridge refuses with the unsynchronized message."""
        client = self.world.connect()
        client.join("Steve")
        self.link.startService()
        self.endpoint.flush()
        self.endpoint.server_factory = None
        self.endpoint.drop_all()
        self.assertFalse(self.link.synchronized)
        self.assertEqual(self.command(client, "hub"), [UNSYNCHRONIZED_MESSAGE])


class FakeLinkObserverTests(SynchronousTestCase):
    def test_redeclare_only_on_change(self) -> None:
        """A link notification that changes nothing sends no new command tree."""
        link = FakeLink(commands=(CommandSpecLike("hub"),))
        world = World(link=link)
        client = world.connect()
        client.join()
        client.read()
        link.changed()
        self.assertNotIn("declare_commands", client.names())
        link.commands = (CommandSpecLike("hub"), CommandSpecLike("lobby"))
        link.changed()
        self.assertIn("declare_commands", client.names())
