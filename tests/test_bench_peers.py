"""The bench's player and backend reach play with each other in every protocol they are run with."""

from __future__ import annotations

from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from bench import peers, stream
from bench.peers import BenchBackendFactory, BenchPlayer
from mcproxy.wire.packets import packet_ids


class BenchPeersTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.addCleanup(peers.configure, peers.PROTOCOL)

    def test_join_and_echo_per_protocol(self) -> None:
        """1.8, 1.12.2 (straight to play) and 1.21.1 (through configuration): the player
        joins, and its echo request (its version's plugin message) comes back intact."""
        for protocol in (47, 340, 767):
            peers.configure(protocol)
            backend = BenchBackendFactory((64,)).buildProtocol(None)
            player = BenchPlayer("Bench")
            server_transport = iosim.FakeTransport(backend, isServer=True)
            client_transport = iosim.FakeTransport(player, isServer=False)
            server_transport.setTcpNoDelay = client_transport.setTcpNoDelay = lambda flag: None
            pump = iosim.connect(backend, server_transport, player, client_transport)
            pump.flush()
            self.assertIs(self.successResultOf(player.joined), player, protocol)
            echoed = player.echo()
            pump.flush()
            self.assertGreaterEqual(self.successResultOf(echoed), 0.0)
            self.assertEqual(player.errors, [], protocol)

    def test_flood_id_never_watched(self) -> None:
        """The flood's id is one the proxy never looks at in the load's version: 1.21.1's
        rel_entity_move, and in 1.12.2, where that id is the tab list, the next free one."""
        self.assertEqual(peers.unwatched_id(767), 0x2E)
        self.assertEqual(peers.unwatched_id(340), 0x30)
        for protocol in (47, 340, 767, 775):
            peers.configure(protocol)
            ids = packet_ids(protocol)
            watched = {ids.play_kick, ids.play_login, ids.play_custom_payload, ids.play_player_info,
                       ids.play_declare_commands, ids.play_start_configuration}
            self.assertNotIn(stream.FLOOD_ID, watched, protocol)
