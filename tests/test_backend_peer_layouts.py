"""Every packet the limbo sends a client before 1.20.5, byte-exact against minecraft-protocol.

The limbo's own join is driven for each served version; minecraft-protocol (the pinned
npm peer, through tests/peers/serialize.js) parses every packet with that version's
minecraft-data layout and serializes what it read again: the bytes must come back
identical, so no field is missing, extra, or of the wrong width.
"""

from __future__ import annotations

import json
import shutil

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.backend.server import LimboSettings
from mcproxy.wire.packets import State
from mcproxy.wire.protocols import protocol_info
from mcproxy.wire.types import encode_long, encode_string

from tests.backend_support import World
from tests.test_backend_versions import OLD
from tests.test_wire_peers import NODE_MODULES, run_peer

DATA_PATHS = NODE_MODULES / "minecraft-data" / "minecraft-data" / "data" / "dataPaths.json"


def peer_version(protocol: int) -> str:
    """A release of ``protocol`` that minecraft-data keeps protocol data under."""
    paths = json.loads(DATA_PATHS.read_text())["pc"]
    return [r for r in protocol_info(protocol).releases if "protocol" in paths.get(r, {})][-1]


def sent_packets(protocol: int) -> list[tuple[State, bytes]]:
    """What the limbo sends one client of ``protocol``: join, chat echo, a command's
    answer, a keep-alive and a kick."""
    world = World(LimboSettings(compression_threshold=-1))
    world.factory.doStart()
    client = world.connect(protocol)
    client.join_old("Steve")
    facts = protocol_info(protocol).facts
    if "chat" in facts["chat_packets"]["serverbound"]:
        client.send("chat", encode_string("hello"))
        client.send("chat", encode_string("/where"))
    else:
        client.send("chat_message", encode_string("hello") + encode_long(0) * 2 + b"\x00" * 4)
        client.send("chat_command", encode_string("where") + encode_long(0) * 2 + b"\x00" * 4)
    world.clock.pump([1] * 15)
    client.server.kick("TEST", "Bye.")
    client.read()
    return client.received


class PeerLayoutTests(SynchronousTestCase):
    def setUp(self) -> None:
        if shutil.which("node") is None or not NODE_MODULES.is_dir():
            raise self.skipTest("node and peers/node_modules are needed (npm ci in peers/)")

    def test_every_packet_round_trips(self) -> None:
        """minecraft-protocol reads each packet and writes the same bytes back, for every
        version from 1.8 to 1.20.4."""
        cases = []
        for protocol in OLD:
            version = peer_version(protocol)
            for state, body in sent_packets(protocol):
                cases.append((protocol, version, state.value, body.hex()))
        parsed = run_peer([{"op": "parse", "version": version, "state": state,
                            "direction": "toClient", "hex": hex_}
                           for _, version, state, hex_ in cases])
        again = run_peer([{"op": "serialize", "version": version, "state": state,
                           "direction": "toClient", "name": result["name"],
                           "params": result["params"]}
                          for (_, version, state, _), result in zip(cases, parsed)])
        names = set()
        for (protocol, _, state, hex_), result, back in zip(cases, parsed, again):
            names.add(result["name"])
            self.assertEqual(back["hex"], hex_, (protocol, state, result["name"]))
        self.assertTrue({"success", "login", "spawn_position", "position", "update_health",
                         "chat", "system_chat", "declare_commands", "keep_alive",
                         "kick_disconnect", "registry_data", "feature_flags",
                         "finish_configuration", "game_state_change"} <= names, names)
        self.assertGreater(len(cases), 10 * len(OLD))

    def test_fields_as_sent(self) -> None:
        """The fields minecraft-protocol reads are the ones meant: 1.8's Join Game, the
        chat echo in 1.12.2, the position's teleport id from 1.9."""
        cases = [(47, "login"), (340, "chat"), (340, "position"), (754, "login")]
        requests = []
        for protocol, name in cases:
            for state, body in sent_packets(protocol):
                if state is State.PLAY:
                    requests.append({"op": "parse", "version": peer_version(protocol),
                                     "state": "play", "direction": "toClient", "hex": body.hex()})
        results = {}
        for request, result in zip(requests, run_peer(requests)):
            results.setdefault((request["version"], result["name"]), []).append(result["params"])
        login = results["1.8.8", "login"][0] if ("1.8.8", "login") in results \
            else results[peer_version(47), "login"][0]
        self.assertEqual((login["gameMode"], login["dimension"], login["levelType"],
                          login["maxPlayers"]), (3, 0, "flat", 100))
        chats = [json.loads(c["message"]) for c in results[peer_version(340), "chat"]]
        self.assertIn({"text": "<Steve> hello"}, chats)
        self.assertTrue(all(c["position"] == 1 for c in results[peer_version(340), "chat"]))
        position = results[peer_version(340), "position"][0]
        self.assertEqual((position["y"], position["teleportId"]), (64, 1))
        login = results[peer_version(754), "login"][0]
        self.assertEqual(login["worldNames"], ["minecraft:overworld"])
        self.assertEqual(login["dimensionCodec"]["type"], "compound")
