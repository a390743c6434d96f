"""The limbo keeps an armed smoke bot (marked in signed forwarding) out of what players see."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.forwarding import PROBE_PROPERTY, ProfileProperty, encode_modern_forwarding, offline_uuid
from mcproxy.wire.packets import State
from mcproxy.wire.types import encode_long, encode_string, encode_uuid, encode_varint
from tests.backend_support import SECRET, World

CHAT = encode_string("hello") + encode_long(0) + encode_long(0) + b"\x00" + encode_varint(0) + b"\x00\x00\x00\x00"


def forwarded_join(world: World, name: str, probe: bool):
    """A player through the proxy: signed forwarding, then configuration, into play."""
    client = world.connect()
    client.handshake()
    client.send("login_start", encode_string(name) + encode_uuid(offline_uuid(name)))
    [(_, reader)] = client.read()
    message_id = reader.varint()
    properties = [ProfileProperty(PROBE_PROPERTY, "1")] if probe else []
    client.plugin_response(message_id, encode_modern_forwarding(
        SECRET, 4, "198.51.100.4", offline_uuid(name), name, properties))
    client.read()
    client.send("login_acknowledged")
    client.state = State.CONFIGURATION
    client.read()
    client.send("select_known_packs", encode_varint(1) + encode_string("minecraft")
                + encode_string("core") + encode_string("1.21.4"))
    client.read()
    client.send("finish_configuration", state=State.CONFIGURATION)
    return client


class HiddenProbeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.world = World(enforce_proxy=True)
        self.alice = forwarded_join(self.world, "Alice", probe=False)
        self.alice.read()
        self.bot = forwarded_join(self.world, "smk1a2b_0", probe=True)

    def test_no_join_line(self) -> None:
        self.assertEqual(self.alice.chat_lines(), [])
        self.assertTrue(self.bot.server.probe)

    def test_chat_only_echoed_to_the_bot(self) -> None:
        """The smoke load waits for its own echo; other players never read the bot's chat."""
        self.bot.read()
        self.bot.send("chat_message", CHAT)
        self.assertEqual(self.bot.chat_lines(), ["<smk1a2b_0> hello"])
        self.assertEqual(self.alice.chat_lines(), [])

    def test_no_leave_line(self) -> None:
        self.bot.server.connectionLost(None)
        self.assertEqual(self.alice.chat_lines(), [])

    def test_not_counted(self) -> None:
        """Neither the server list nor mcproxy_players_online shows the bot; it has its own gauge."""
        status = json.loads(self.world.factory.status(769))
        self.assertEqual(status["players"]["online"], 1)
        self.assertEqual([p["name"] for p in status["players"]["sample"]], ["Alice"])
        self.assertEqual(self.world.metric("mcproxy_players_online"), 1)
        self.assertEqual(self.world.metric("mcproxy_probe_players_online"), 1)

    def test_a_real_player_still_sees_real_players(self) -> None:
        """Without the mark a player's join is announced as before."""
        forwarded_join(self.world, "Bob", probe=False)
        self.assertEqual(self.alice.chat_lines(), ["Bob joined the limbo"])
