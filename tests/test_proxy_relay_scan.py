"""The relay's frame scan, compiled and in Python: the same answers, and the relay's tests under each."""

from __future__ import annotations

import unittest

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy import relay
from tests import test_proxy_relay as base

needs_compiled = unittest.skipIf(relay.skip_compiled is None, "the compiled scan was not built (setup.py)")

#: Buffers made of plausible frames (one- and two-byte lengths, empty ones, long ids,
#: uncompressed-marker bodies) with random bytes mixed in, so every stop rule is reached.
_frame = st.one_of(
    st.binary(min_size=0, max_size=3).map(lambda b: bytes([len(b)]) + b),
    st.binary(min_size=1, max_size=200).map(lambda b: bytes([len(b) & 0x7F | 0x80, len(b) >> 7]) + b),
    st.binary(min_size=1, max_size=8).map(lambda b: bytes([len(b) + 1, 0]) + b),
    st.binary(min_size=0, max_size=4),
)
_buffers = st.lists(_frame, max_size=40).map(b"".join)
_tables = st.sets(st.integers(0, 255), max_size=20).map(
    lambda hot: bytes(1 if i in hot or i >= 0x80 else 0 for i in range(256)))


class PythonScanTests(SynchronousTestCase):
    """The Python scan's unrolled loop against its one-frame-at-a-time rules."""

    @settings(max_examples=400, deadline=None)
    @given(_buffers, _tables, st.booleans(), st.integers(0, 8), st.integers(-5, 5))
    def test_unrolled_loop_stops_and_counts_as_the_general_one(self, buf, hot, compressed, pos, trim):
        n = max(0, len(buf) - max(trim, 0))
        want = relay.skip_general(buf, pos, n, hot, compressed)
        for kind in (buf, bytearray(buf), memoryview(buf)):
            self.assertEqual(relay.skip_python(kind, pos, n, hot, compressed), want)

    def test_each_stop_of_a_pair(self):
        """A run of one-byte-length frames stops at the first or second frame of a pair alike."""
        plain = b"\x01\x05" * 4
        self.assertEqual(relay.skip_python(plain, 0, len(plain), bytes(256), False), (8, 4))
        for cut in range(len(plain) + 1):
            self.assertEqual(relay.skip_python(plain[:cut], 0, cut, bytes(256), False), (cut - cut % 2, cut // 2))
        hot = bytearray(256)
        hot[7] = 1
        for watched in range(4):
            frames = bytearray(plain)
            frames[2 * watched + 1] = 7
            self.assertEqual(relay.skip_python(bytes(frames), 0, 8, bytes(hot), False), (2 * watched, watched))
            # The same frames as a compressing backend sends them: data length 0, then the id.
            compressed = bytes(frames).replace(b"\x01", b"\x02\x00")
            self.assertEqual(relay.skip_python(compressed, 0, len(compressed), bytes(hot), True),
                             (3 * watched, watched))


@needs_compiled
class ScanEquivalenceTests(SynchronousTestCase):
    @settings(max_examples=400, deadline=None)
    @given(_buffers, _tables, st.booleans(), st.integers(0, 8), st.integers(-5, 5))
    def test_same_stop_and_count(self, buf, hot, compressed, pos, trim):
        n = max(0, len(buf) - max(trim, 0))
        kinds = (buf, bytearray(buf), memoryview(buf))
        want = relay.skip_python(buf, pos, n, hot, compressed)
        for kind in kinds:
            self.assertEqual(relay.skip_compiled(kind, pos, n, hot, compressed), want)

    @settings(max_examples=200, deadline=None)
    @given(_buffers, st.sampled_from([-1, 0]), st.lists(st.integers(0, 2000), max_size=6))
    def test_relay_chunk_answers_the_same_with_either_scan(self, stream, threshold, cuts):
        """Pieces, errors, frame counts and what stays buffered, however the reads are cut."""
        answers = []
        for scan in (relay.skip_python, relay.skip_compiled):
            self.patch(relay, "_skip", scan)
            half = relay.Half("clientbound", threshold, threshold, relay.Phase.PLAY)
            half.on(relay.Phase.PLAY, 4, lambda pid, fields: relay.FORWARD)
            out, previous = [], 0
            for cut in sorted(c for c in cuts if c <= len(stream)) + [len(stream)]:
                try:
                    out.append(relay.joined(relay.relay_chunk(half, stream[previous:cut])))
                except relay.WireError as error:
                    out.append(error.reason)
                    break
                previous = cut
            answers.append((out, half.frames, bytes(half.buffer)))
        self.assertEqual(answers[0], answers[1])

    def test_refuses_a_short_table_instead_of_reading_past_it(self):
        with self.assertRaises(ValueError):
            relay.skip_compiled(b"\x01\x00", 0, 2, b"\x00" * 10, False)

    def test_refuses_what_is_not_a_buffer(self):
        with self.assertRaises(TypeError):
            relay.skip_compiled("text", 0, 4, bytes(256), False)

    def test_n_past_the_buffer_is_clamped(self):
        self.assertEqual(relay.skip_compiled(b"\x01\x05", 0, 99, bytes(256), False), (2, 1))


def _examples_only(cls):
    """Keep the base class's example tests; its property tests run on one class only.

    Hypothesis refuses one test function run on two classes (its example database is
    keyed by the function); ``ScanEquivalenceTests`` covers that ground for both scans.
    """
    for name, test in vars(base.RelayChunkTests).items():
        if hasattr(test, "hypothesis"):
            setattr(cls, name, None)
    return cls


@_examples_only
class RelayChunkPythonScanTests(base.RelayChunkTests):
    """Every relay_chunk test with the Python scan, whatever is installed."""

    def setUp(self):
        self.patch(relay, "_skip", relay.skip_python)


@needs_compiled
@_examples_only
class RelayChunkCompiledScanTests(base.RelayChunkTests):
    """Every relay_chunk test with the compiled scan."""

    def setUp(self):
        self.patch(relay, "_skip", relay.skip_compiled)
