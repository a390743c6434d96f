"""Tests for mcproxy.wire.framing: length-prefixed frames over a growing buffer."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.framing import FrameDecoder, encode_frame, frame_bounds
from mcproxy.wire.types import WireError

BOUNDED = settings(max_examples=200, deadline=None)
BODIES = st.lists(st.binary(min_size=1, max_size=300), max_size=8)


class FrameDecoderTests(SynchronousTestCase):
    @BOUNDED
    @given(BODIES, st.lists(st.integers(0, 3000), max_size=10))
    def test_round_trip_any_split(self, bodies: list[bytes], cuts: list[int]) -> None:
        """Frames come out whole and in order however the stream is split into reads."""
        stream = b"".join(encode_frame(body) for body in bodies)
        points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
        decoder = FrameDecoder()
        out: list[bytes] = []
        for start, end in zip(points, points[1:]):
            out.extend(decoder.frames(stream[start:end]))
        self.assertEqual(out, bodies)
        self.assertEqual(decoder.take_buffer(), b"")

    def test_oversized_refused_at_prefix(self) -> None:
        """A declared length over the limit is refused as soon as the prefix is read."""
        decoder = FrameDecoder(max_frame_size=100)
        e = self.assertRaises(WireError, decoder.frames, b"\x65")
        self.assertEqual(e.reason, "FRAME_TOO_LARGE")

    def test_long_prefix_refused(self) -> None:
        """A length prefix still unfinished after 3 bytes is over the protocol's ceiling."""
        e = self.assertRaises(WireError, FrameDecoder().frames, b"\x80\x80\x80")
        self.assertEqual(e.reason, "FRAME_TOO_LARGE")

    def test_empty_frame_refused(self) -> None:
        """A zero-length frame has no packet id and is refused as EMPTY_FRAME."""
        e = self.assertRaises(WireError, FrameDecoder().frames, b"\x00")
        self.assertEqual(e.reason, "EMPTY_FRAME")

    def test_take_buffer(self) -> None:
        """take_buffer hands over the unframed rest, for a switch to raw relaying."""
        decoder = FrameDecoder()
        self.assertEqual(decoder.frames(b"\x01a\x05ab"), [b"a"])
        self.assertEqual(decoder.take_buffer(), b"\x05ab")

    @BOUNDED
    @given(st.binary(max_size=64))
    def test_random_input(self, raw: bytes) -> None:
        """Random bytes give frames, wait for more, or fail with a WireError reason."""
        decoder = FrameDecoder(max_frame_size=32)
        try:
            for body in decoder.frames(raw):
                self.assertTrue(1 <= len(body) <= 32)
        except WireError as e:
            self.assertIn(e.reason, {"FRAME_TOO_LARGE", "EMPTY_FRAME", "NEGATIVE_LENGTH",
                                     "VARINT_TOO_LONG"})

    def test_bounds_incomplete(self) -> None:
        """frame_bounds says None while the body is not all there."""
        self.assertIsNone(frame_bounds(b"\x05abc", 0, 100))
        self.assertEqual(frame_bounds(b"\x03abc", 0, 100), (1, 4))
