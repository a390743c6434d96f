"""Hostile bytes against the pure codecs: frame decoder, compression and handshake parser.

Each target either yields a value within its bounds or refuses with a ``WireError`` reason;
nothing else may escape, and no input makes a codec hold or allocate more than its limit.
"""

from __future__ import annotations

import itertools
import tracemalloc
import zlib

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.wire.handshake import HOST_MAX_CHARS, Handshake, Intent, parse_handshake
from mcproxy.proxy.relay import Half, relay_chunk
from mcproxy.proxy.relay import Phase as RelayPhase
from mcproxy.wire.compression import compress_packet, decompress_packet, peek_packet_id
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.types import (
    Incomplete,
    WireError,
    decode_varint,
    encode_string,
    encode_ushort,
    encode_varint,
)
from tests.fuzzing import fuzz

MAX_FRAME = 1024
MAX_PACKET = 4096


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` split at ``points`` (taken modulo its length)."""
    if not data:
        return [data]
    marks = sorted({p % len(data) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(marks)]


def decode_all(chunks: list[bytes]) -> tuple[list[bytes], str | None, int]:
    """Frames found, the refusal reason (if any) and the largest buffer held between reads."""
    decoder = FrameDecoder(MAX_FRAME)
    out: list[bytes] = []
    held = 0
    for chunk in chunks:
        try:
            out += decoder.frames(chunk)
        except WireError as error:
            return out, error.reason, held
        held = max(held, len(decoder.buffer))
    return out, None, held


frame_bodies = st.lists(st.binary(min_size=1, max_size=300), max_size=8)


class FrameDecoderFuzzTests(SynchronousTestCase):
    @fuzz()
    @given(data=st.binary(max_size=4096), points=st.lists(st.integers(0, 4096), max_size=12))
    def test_any_bytes_split_anyhow_decode_the_same(self, data: bytes, points: list[int]) -> None:
        """Random bytes give the same refusal (or, without one, the same frames) however the
        reads split them, and between reads the decoder never holds more than one maximal frame."""
        whole = decode_all([data])
        split = decode_all(cut(data, points))
        self.assertEqual(whole[1], split[1])
        if whole[1] is None:
            self.assertEqual(whole[0], split[0])
        self.assertLess(split[2], MAX_FRAME + 3)
        for body in split[0]:
            self.assertLessEqual(len(body), MAX_FRAME)

    @fuzz()
    @given(bodies=frame_bodies, points=st.lists(st.integers(0, 4096), max_size=12))
    def test_valid_frames_come_back_whole(self, bodies: list[bytes], points: list[int]) -> None:
        """Well-formed frames, however they are split, come back exactly and in order."""
        data = b"".join(encode_frame(body) for body in bodies)
        frames, reason, _ = decode_all(cut(data, points))
        self.assertIsNone(reason)
        self.assertEqual(frames, bodies)

    @fuzz(100)
    @given(size=st.integers(MAX_FRAME + 1, 2097151))
    def test_oversized_prefix_refused_before_the_body(self, size: int) -> None:
        """A length over the limit is refused as soon as the prefix is read."""
        _, reason, _ = decode_all([encode_varint(size)])
        self.assertEqual(reason, "FRAME_TOO_LARGE")


    def test_over_long_prefix_refused_however_split(self) -> None:
        """Regression: a legal length written in 4 bytes (5 as 85 80 80 00) was accepted by
        the frame decoder and the relay when the whole prefix arrived in one read, and
        refused when a read ended after 3 bytes. Vanilla reads at most 3 bytes of length:
        it is refused both ways."""
        data = b"\x85\x80\x80\x00" + b"hello"
        self.assertEqual(decode_all([data])[1], "FRAME_TOO_LARGE")
        self.assertEqual(decode_all([data[:3], data[3:]])[1], "FRAME_TOO_LARGE")
        for threshold in (-1, 256):
            self.assertEqual(relay_all([data], threshold)[1], "FRAME_TOO_LARGE")
            self.assertEqual(relay_all([data[:3], data[3:]], threshold)[1], "FRAME_TOO_LARGE")


def relay_all(chunks: list[bytes], threshold: int) -> tuple[bytes, str | None]:
    """What the relay writes on for ``chunks``, and its refusal reason if any."""
    half = Half("serverbound", threshold, threshold, RelayPhase.PLAY)
    out = []
    for chunk in chunks:
        try:
            out += relay_chunk(half, chunk, MAX_FRAME)
        except WireError as error:
            return b"", error.reason
    return b"".join(bytes(piece) for piece in out), None


class RelayFramingFuzzTests(SynchronousTestCase):
    @fuzz()
    @given(data=st.binary(max_size=4096), points=st.lists(st.integers(0, 4096), max_size=12),
           threshold=st.sampled_from([-1, 256]))
    def test_relay_refuses_the_same_however_split(self, data: bytes, points: list[int], threshold: int) -> None:
        """The relay's frame splitting gives the same refusal (or, without one, the same
        bytes written on) however the reads split the input."""
        whole = relay_all([data], threshold)
        split = relay_all(cut(data, points), threshold)
        self.assertEqual(whole[1], split[1])
        if whole[1] is None:
            self.assertEqual(whole[0], split[0])


class CompressionFuzzTests(SynchronousTestCase):
    reasons = frozenset({"TRUNCATED", "NEGATIVE_LENGTH", "DECOMPRESSED_TOO_LARGE", "BELOW_THRESHOLD", "BAD_ZLIB",
                         "SIZE_MISMATCH", "TRAILING_BYTES", "VARINT_TOO_LONG"})

    @fuzz()
    @given(body=st.binary(max_size=2048), threshold=st.integers(0, 512))
    def test_any_body_inflates_within_bound_or_is_refused(self, body: bytes, threshold: int) -> None:
        """Any compressed-format body inflates to at most the limit or is refused by reason."""
        try:
            packet = decompress_packet(body, threshold, MAX_PACKET)
        except WireError as error:
            self.assertIn(error.reason, self.reasons)
        else:
            self.assertLessEqual(len(packet), max(MAX_PACKET, len(body)))

    @fuzz()
    @given(payload=st.binary(min_size=1, max_size=2048), lie=st.integers(-1000, 1000).filter(bool))
    def test_declared_size_must_be_the_inflated_size(self, payload: bytes, lie: int) -> None:
        """A zlib stream declared at any size but its own is refused, never passed on."""
        declared = len(payload) + lie
        if declared <= 0:
            return
        body = encode_varint(declared) + zlib.compress(payload)
        with self.assertRaises(WireError) as caught:
            decompress_packet(body, 0, MAX_PACKET)
        self.assertIn(caught.exception.reason, ("SIZE_MISMATCH", "DECOMPRESSED_TOO_LARGE"))

    @fuzz()
    @given(payload=st.binary(min_size=1, max_size=2048), threshold=st.integers(0, 256))
    def test_round_trip(self, payload: bytes, threshold: int) -> None:
        """What we compress we read back, and its packet id can be peeked."""
        body = compress_packet(payload, threshold)
        self.assertEqual(decompress_packet(body, threshold, MAX_PACKET), payload)
        try:
            expected, _ = decode_varint(payload, 0)
        except (Incomplete, WireError):
            return
        self.assertEqual(peek_packet_id(body, True), expected)

    def test_bomb_declaring_a_huge_size_is_refused_unread(self) -> None:
        """A frame declaring 2 GiB is refused on its declaration alone."""
        body = encode_varint(2**31 - 1) + zlib.compress(b"\x00" * 1024)
        with self.assertRaises(WireError) as caught:
            decompress_packet(body, 0, MAX_PACKET)
        self.assertEqual(caught.exception.reason, "DECOMPRESSED_TOO_LARGE")

    def test_bomb_inflating_past_its_declared_size_stops_at_it(self) -> None:
        """A 64 MiB zero bomb declared as 1,000 bytes is refused after inflating about
        1,000 bytes: the peak allocation stays far below what the stream would make."""
        bomb = zlib.compress(b"\x00" * (64 << 20), 9)
        body = encode_varint(1000) + bomb
        tracemalloc.start()
        try:
            with self.assertRaises(WireError) as caught:
                decompress_packet(body, 0, MAX_PACKET)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(caught.exception.reason, "SIZE_MISMATCH")
        self.assertLess(peak, 1 << 20)


def handshake_body(protocol: int, host: str, port: int, intent: int) -> bytes:
    return (encode_varint(0) + encode_varint(protocol) + encode_string(host, 1024) + encode_ushort(port)
            + encode_varint(intent))


class HandshakeFuzzTests(SynchronousTestCase):
    @fuzz()
    @given(body=st.binary(max_size=1100))
    def test_any_body_parses_or_is_refused(self, body: bytes) -> None:
        """Random bytes are a handshake or a WireError, never another exception."""
        try:
            handshake = parse_handshake(body)
        except WireError as error:
            self.assertTrue(error.reason.isupper())
        else:
            self.assertIsInstance(handshake, Handshake)
            self.assertLessEqual(len(handshake.host), HOST_MAX_CHARS)

    @fuzz()
    @given(protocol=st.integers(-2**31, 2**31 - 1), host=st.text(max_size=300),
           port=st.integers(0, 65535), intent=st.integers(-5, 8))
    def test_fields_round_trip_or_refuse_by_rule(self, protocol: int, host: str, port: int,
                                                 intent: int) -> None:
        """Any encodable handshake comes back with its fields, or is refused for a long host
        or an unknown intent, the two rules a valid encoding can break."""
        try:
            body = handshake_body(protocol, host, port, intent)
        except WireError:
            return
        try:
            handshake = parse_handshake(body)
        except WireError as error:
            self.assertIn(error.reason, ("HOST_TOO_LONG", "BAD_INTENT"))
            return
        self.assertEqual((handshake.protocol, handshake.port, handshake.intent),
                         (protocol, port, Intent(intent)))

    @fuzz(50)
    @given(extra=st.integers(1, 3 * 1024))
    def test_oversized_host_string_refused(self, extra: int) -> None:
        """A host field declared longer than the wire allows is refused before it is read."""
        body = encode_varint(0) + encode_varint(775) + encode_varint(1024 * 3 + extra) + b"a" * 64
        with self.assertRaises(WireError) as caught:
            parse_handshake(body)
        self.assertEqual(caught.exception.reason, "STRING_TOO_LONG")
