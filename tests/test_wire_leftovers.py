"""Reading what a pre-1.20.2 client keeps across a Join Game, and the packets removing it."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.relay import Phase as RelayPhase
from mcproxy.proxy.session.leftovers import MAX_TRACKED
from mcproxy.wire import leftovers
from mcproxy.wire.packets import packet_ids
from mcproxy.wire.types import Reader, WireError, encode_bool, encode_long, encode_string, encode_varint
from tests.session_rig import IDS, Rig, packet

ALEX = uuid.UUID(int=1)
STEVE = uuid.UUID(int=2)


def entry(player: uuid.UUID, name: str, properties: int = 0) -> bytes:
    props = b"".join(encode_string("textures") + encode_string("v") + encode_bool(True) + encode_string("sig")
                     for _ in range(properties))
    return player.bytes + encode_string(name) + encode_varint(properties) + props


class PlayerInfoTests(SynchronousTestCase):
    def test_old_add_and_remove(self) -> None:
        """Before 1.19.3: action 0 adds (entries with properties and a display name read past),
        action 4 removes, other actions name nobody."""
        tail = encode_varint(1) + encode_varint(35) + encode_bool(True) + encode_string('{"text":"A"}')
        fields = encode_varint(0) + encode_varint(2) + entry(ALEX, "Alex", 2) + tail + entry(STEVE, "Steve") + tail
        self.assertEqual(leftovers.read_player_info(fields, signed_keys=False), ([ALEX, STEVE], []))
        removal = encode_varint(4) + encode_varint(1) + STEVE.bytes
        self.assertEqual(leftovers.read_player_info(removal, signed_keys=False), ([], [STEVE]))
        latency = encode_varint(2) + encode_varint(1) + ALEX.bytes + encode_varint(5)
        self.assertEqual(leftovers.read_player_info(latency, signed_keys=False), ([], []))

    def test_signed_keys_of_1_19(self) -> None:
        """1.19 – 1.19.2 end an added entry with an optional key, read past to the next entry."""
        key = encode_bool(True) + encode_long(5) + encode_varint(3) + b"key" + encode_varint(3) + b"sig"
        tail = encode_varint(0) + encode_varint(0) + encode_bool(False)
        fields = (encode_varint(0) + encode_varint(2) + entry(ALEX, "Alex") + tail + key
                  + entry(STEVE, "S") + tail + b"\x00")
        self.assertEqual(leftovers.read_player_info(fields, signed_keys=True), ([ALEX, STEVE], []))

    def test_update_of_1_19_3(self) -> None:
        """1.19.3+: entries are added only where the add-player flag is set; every flagged field
        is read past, chat session included."""
        flags = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x20
        session = (encode_bool(True) + uuid.uuid4().bytes + encode_long(1)
                   + encode_varint(1) + b"k" + encode_varint(1) + b"s")
        rest = encode_varint(1) + encode_bool(True) + encode_varint(20) + encode_bool(False)
        fields = (bytes([flags]) + encode_varint(2) + entry(ALEX, "Alex") + session + rest
                  + entry(STEVE, "S") + b"\x00" + rest)
        self.assertEqual(leftovers.read_player_info_update(fields), [ALEX, STEVE])
        latency_only = bytes([0x10]) + encode_varint(1) + ALEX.bytes + encode_varint(3)
        self.assertEqual(leftovers.read_player_info_update(latency_only), [])
        self.assertEqual(leftovers.read_player_remove(encode_varint(1) + STEVE.bytes), [STEVE])

    def test_malformed(self) -> None:
        """Cut-short entries and absurd counts are refused with a reason."""
        with self.assertRaises(WireError) as caught:
            leftovers.read_player_info(encode_varint(0) + encode_varint(1) + ALEX.bytes, signed_keys=False)
        self.assertEqual(caught.exception.reason, "TRUNCATED")
        with self.assertRaises(WireError) as caught:
            leftovers.read_player_remove(encode_varint(1_000_000))
        self.assertEqual(caught.exception.reason, "ARRAY_TOO_LONG")


class RemovalTests(SynchronousTestCase):
    def test_removal_packets(self) -> None:
        """Each removal is the packet vanilla reads as one: by UUID, by name with mode 1,
        Player Info action 4 or Player Remove, empty JSON header and footer, title reset."""
        self.assertEqual(leftovers.remove_boss_bar(ALEX), ALEX.bytes + b"\x01")
        self.assertEqual(leftovers.remove_named("red"), b"\x03red\x01")
        self.assertEqual(leftovers.remove_players([ALEX], False), b"\x04\x01" + ALEX.bytes)
        self.assertEqual(leftovers.remove_players([ALEX], True), b"\x01" + ALEX.bytes)
        reader = Reader(leftovers.empty_header_footer())
        self.assertEqual((reader.string(), reader.string()), ('{"text":""}', '{"text":""}'))
        self.assertEqual(leftovers.reset_title(47), b"\x04")
        self.assertEqual(leftovers.reset_title(340), b"\x05")
        self.assertEqual(leftovers.clear_titles(), b"\x01")


class WhoIsWatchedTests(SynchronousTestCase):
    def test_only_clients_without_configuration(self) -> None:
        """A 1.20.2+ client's relay looks at none of these packets (it resets them itself when
        it reconfigures); a 1.12.2 client's looks at each."""
        rig = Rig()
        handler = rig.join().connection.handler
        self.assertIsNone(handler.leftovers)
        watched = handler.down.watchers[RelayPhase.PLAY]
        for packet_id in (IDS.play_boss_bar, IDS.play_teams, IDS.play_player_info, IDS.play_scoreboard_objective):
            self.assertNotIn(packet_id, watched)
        handler = rig.join("Alex", protocol=340).connection.handler
        ids = packet_ids(340)
        watched = handler.down.watchers[RelayPhase.PLAY]
        for packet_id in (ids.play_boss_bar, ids.play_teams, ids.play_player_info, ids.play_scoreboard_objective):
            self.assertIn(packet_id, watched)

    def test_unreadable_or_too_many_are_passed_on_untracked(self) -> None:
        """A packet the proxy cannot read still reaches the client (the proxy follows, it does
        not police), and no more than MAX_TRACKED of a kind are remembered."""
        rig = Rig()
        session = rig.join(protocol=340)
        ids = packet_ids(340)
        broken = packet(ids.play_boss_bar, b"\x01\x02")
        session.backend.dataReceived(broken)
        self.assertEqual(session.sent(), broken)
        tracker = session.connection.handler.leftovers
        self.assertEqual(tracker.boss_bars, set())
        burst = b"".join(packet(ids.play_teams, encode_string(f"t{n}") + b"\x00") for n in range(MAX_TRACKED + 5))
        session.backend.dataReceived(burst)
        self.assertEqual(len(tracker.teams), MAX_TRACKED)
