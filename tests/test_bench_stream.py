"""The bench's flood checker: it must catch every way a relay can get the bytes wrong."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from bench.stream import CYCLE_BYTES, FloodChecker, build_cycle, check_flood_frame, end_frame, flood_frame


def _feed(checker: FloodChecker, data: bytes, cuts: list[int]) -> None:
    previous = 0
    for cut in sorted(cuts) + [len(data)]:
        checker.feed(data[previous:cut])
        previous = cut


class FloodFrameTests(SynchronousTestCase):
    def test_frames_have_the_asked_size_and_a_valid_checksum(self) -> None:
        """Each frame is exactly frame_size bytes on the wire and carries its sequence number."""
        for size in (64, 8192):
            frame = flood_frame(size, 41)
            self.assertEqual(len(frame), size)
            body = frame[1:] if size < 129 else frame[2:]
            self.assertEqual(check_flood_frame(body), 41)

    def test_checksum_catches_a_changed_byte(self) -> None:
        """A body with any byte changed fails its checksum."""
        body = bytearray(flood_frame(64, 7)[1:])
        body[20] ^= 0x01
        self.assertRaises(ValueError, check_flood_frame, bytes(body))


class FloodCheckerTests(SynchronousTestCase):
    @settings(max_examples=60, deadline=None)
    @given(st.sampled_from([64, 8192]), st.integers(0, 3 * CYCLE_BYTES // 64), st.data())
    def test_intact_flood_passes_however_it_is_cut(self, size, frames, data) -> None:
        """Any whole number of frames, then the end frame, read in any pieces: no error,
        and every flood byte counted."""
        cycle = build_cycle(size)
        count = frames % (3 * CYCLE_BYTES // size) + 1
        flood = (cycle * (count * size // CYCLE_BYTES + 1))[:count * size]
        stream = flood + end_frame(len(flood))
        checker = FloodChecker(size)
        _feed(checker, stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
        self.assertEqual(checker.errors, [])
        self.assertEqual((checker.floods, checker.bytes), (1, len(flood)))

    def test_two_floods_in_a_row(self) -> None:
        """A second flood starts again at the cycle's beginning and is checked the same way."""
        cycle = build_cycle(64)
        checker = FloodChecker(64)
        checker.feed(cycle[:640] + end_frame(640) + cycle[:128] + end_frame(128))
        self.assertEqual((checker.errors, checker.floods, checker.bytes), ([], 2, 768))

    def test_changed_byte_is_an_error(self) -> None:
        """One flipped bit anywhere in a frame is caught."""
        for position in (0, 1, 5, 63, 64 * 100 + 30):
            stream = bytearray(build_cycle(64)[:64 * 200] + end_frame(64 * 200))
            stream[position] ^= 0x10
            checker = FloodChecker(64)
            checker.feed(bytes(stream))
            self.assertEqual(checker.floods, 0, position)
            self.assertTrue(checker.errors, position)

    def test_lost_duplicated_or_reordered_frames_are_errors(self) -> None:
        """Dropping, repeating or swapping a frame breaks the expected sequence."""
        cycle = build_cycle(8192)
        frame = [cycle[i * 8192:(i + 1) * 8192] for i in range(6)]
        for frames in ([frame[0], frame[2]], [frame[0], frame[1], frame[1]], [frame[1], frame[0]]):
            flood = b"".join(frames)
            checker = FloodChecker(8192)
            checker.feed(flood + end_frame(len(flood)))
            self.assertTrue(checker.errors)

    def test_whole_cycle_lost_is_caught_by_the_end_count(self) -> None:
        """Losing exactly one cycle keeps the byte pattern aligned; the sender's count does not."""
        cycle = build_cycle(64)
        checker = FloodChecker(64)
        checker.feed(cycle * 2 + end_frame(3 * len(cycle)))
        self.assertEqual(checker.floods, 0)
        self.assertIn("lost or extra bytes", checker.errors[0])

    def test_missing_end_frame_leaves_the_flood_open(self) -> None:
        """Without its end frame a flood is not complete (the runner reports it)."""
        checker = FloodChecker(64)
        checker.feed(build_cycle(64)[:6400])
        self.assertEqual((checker.errors, checker.floods), ([], 0))
        self.assertTrue(checker.in_flood)
