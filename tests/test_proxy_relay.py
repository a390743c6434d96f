"""The relay's frame scanner: boundaries from length prefixes, watched ids, transcoding."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from mcproxy.proxy.relay import DROP, FORWARD, Half, Phase, joined, no_delay, relay_chunk
from mcproxy.wire.compression import compress_packet, decompress_packet
from mcproxy.wire.framing import FrameDecoder, encode_frame
from mcproxy.wire.types import WireError, encode_varint


def packet(packet_id: int, body: bytes = b"") -> bytes:
    return encode_varint(packet_id) + body


def frames_of(data: bytes, threshold: int = -1) -> list[bytes]:
    """Decode a relayed byte stream back into packets (id included)."""
    bodies = FrameDecoder().frames(data)
    if threshold < 0:
        return bodies
    return [decompress_packet(body, threshold) for body in bodies]


class RelayChunkTests(SynchronousTestCase):
    def test_unwatched_frames_pass_in_one_piece(self) -> None:
        """A read holding only unwatched whole frames is written on as the same bytes."""
        half = Half("clientbound", -1, -1, Phase.PLAY)
        data = encode_frame(packet(1, b"abc")) + encode_frame(packet(2, b"x" * 300))
        pieces = relay_chunk(half, data)
        self.assertEqual(joined(pieces), data)
        self.assertEqual(half.frames, 2)
        self.assertEqual(half.buffer, bytearray())

    def test_partial_frame_waits_for_its_rest(self) -> None:
        """A frame split across reads is held back until whole, then written once."""
        half = Half("clientbound", -1, -1, Phase.PLAY)
        frame = encode_frame(packet(5, b"y" * 1000))
        first = relay_chunk(half, frame[:1] )
        self.assertIsNone(joined(first))
        second = relay_chunk(half, frame[1:600])
        self.assertIsNone(joined(second))
        third = relay_chunk(half, frame[600:] + encode_frame(packet(6)))
        self.assertEqual(joined(third), frame + encode_frame(packet(6)))

    def test_watched_packet_is_handed_over_and_dropped(self) -> None:
        """A watcher sees the payload of its packet id and can keep it from the other side."""
        half = Half("serverbound", -1, -1, Phase.PLAY)
        seen = []
        half.on(Phase.PLAY, 7, lambda pid, fields: seen.append((pid, fields)) or DROP)
        before, after = encode_frame(packet(1, b"a")), encode_frame(packet(2, b"b"))
        pieces = relay_chunk(half, before + encode_frame(packet(7, b"cmd")) + after)
        self.assertEqual(seen, [(7, b"cmd")])
        self.assertEqual(joined(pieces), before + after)

    def test_phase_switch_applies_to_the_rest_of_the_read(self) -> None:
        """Frames after a phase-changing packet in the same read are matched in the new phase."""
        half = Half("clientbound", -1, -1, Phase.PLAY)
        seen = []

        def start_configuration(pid, fields):
            half.enter(Phase.CONFIGURATION)
            return FORWARD

        half.on(Phase.PLAY, 0x69, start_configuration)
        half.on(Phase.CONFIGURATION, 0x03, lambda pid, fields: seen.append(pid) or FORWARD)
        data = encode_frame(packet(0x03)) + encode_frame(packet(0x69)) + encode_frame(packet(0x03))
        pieces = relay_chunk(half, data)
        self.assertEqual(seen, [0x03])
        self.assertEqual(joined(pieces), data)

    def test_watched_id_found_inside_compressed_frame(self) -> None:
        """A compressed frame's packet id is peeked by inflating only its first bytes."""
        half = Half("serverbound", 64, 64, Phase.PLAY)
        seen = []
        half.on(Phase.PLAY, 4, lambda pid, fields: seen.append(fields) or FORWARD)
        long_command = b"\x7f" + b"a" * 127
        frame = encode_frame(compress_packet(packet(4, long_command), 64))
        pieces = relay_chunk(half, frame)
        self.assertEqual(seen, [long_command])
        self.assertEqual(joined(pieces), frame)

    def test_transcodes_between_thresholds(self) -> None:
        """When the sides compress differently every packet is re-framed for the destination."""
        half = Half("clientbound", -1, 32, Phase.PLAY)
        packets = [packet(1, b"z" * 100), packet(2, b"q")]
        data = b"".join(encode_frame(p) for p in packets)
        out = joined(relay_chunk(half, data))
        self.assertEqual(frames_of(out, 32), packets)

    def test_oversized_and_empty_frames_are_refused(self) -> None:
        """Length prefixes that can never be valid raise a reasoned WireError."""
        for data, reason in [(b"\xff\xff\xff\x7f", "FRAME_TOO_LARGE"), (b"\x00", "EMPTY_FRAME")]:
            half = Half("serverbound", -1, -1, Phase.PLAY)
            with self.assertRaises(WireError) as caught:
                relay_chunk(half, data)
            self.assertEqual(caught.exception.reason, reason)

    def test_packet_id_running_past_its_frame_is_refused(self) -> None:
        """A one-byte frame whose id byte says 'more follows' is malformed, wherever the read ends."""
        for data in (b"\x01\x80", b"\x01\x80\x01\x00"):
            half = Half("serverbound", -1, -1, Phase.PLAY)
            with self.assertRaises(WireError) as caught:
                relay_chunk(half, data)
            self.assertEqual(caught.exception.reason, "TRUNCATED")

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.binary(min_size=0, max_size=400), min_size=1, max_size=20), st.data())
    def test_any_split_relays_the_same_bytes(self, bodies, data) -> None:
        """However a stream of frames is cut into reads, the same bytes come out in order."""
        stream = b"".join(encode_frame(packet(3, body)) for body in bodies)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
        half = Half("clientbound", -1, -1, Phase.PLAY)
        out = []
        previous = 0
        for cut in cuts + [len(stream)]:
            piece = joined(relay_chunk(half, stream[previous:cut]))
            if piece:
                out.append(piece)
            previous = cut
        self.assertEqual(b"".join(out), stream)
        self.assertEqual(half.frames, len(bodies))

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from([1, 3, 4, 0x7F, 0x80, 0x2B, 300]), st.binary(max_size=200)),
                    min_size=1, max_size=30),
           st.sampled_from([-1, 0, 64]), st.data())
    def test_watchers_see_every_watched_packet_in_order(self, packets, threshold, data) -> None:
        """Whatever mix of ids, lengths and compression, and however it is cut into reads,
        every watched packet reaches its watcher, in order, and the stream passes intact."""
        payloads = [packet(pid, body) for pid, body in packets]
        frames = [encode_frame(compress_packet(p, threshold) if threshold >= 0 else p) for p in payloads]
        stream = b"".join(frames)
        half = Half("clientbound", threshold, threshold, Phase.PLAY)
        seen = []
        for watched in (4, 0x80, 300):
            half.on(Phase.PLAY, watched, lambda pid, fields: seen.append((pid, fields)) or FORWARD)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
        out = []
        previous = 0
        for cut in cuts + [len(stream)]:
            out.append(joined(relay_chunk(half, stream[previous:cut])) or b"")
            previous = cut
        self.assertEqual(b"".join(out), stream)
        self.assertEqual(seen, [(pid, body) for pid, body in packets if pid in (4, 0x80, 300)])
        self.assertEqual(half.frames, len(packets))

    def test_packet_id_running_past_a_compressed_frame_is_refused(self) -> None:
        """The same holds for an uncompressed body under compression (data length 0)."""
        half = Half("serverbound", 0, 0, Phase.PLAY)
        with self.assertRaises(WireError) as caught:
            relay_chunk(half, b"\x02\x00\x80\x01\x00")
        self.assertEqual(caught.exception.reason, "TRUNCATED")

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300), st.sampled_from([-1, 0, 64]))
    def test_random_input_is_refused_with_a_reason_or_buffered(self, data, threshold) -> None:
        """Garbage never raises anything but WireError."""
        half = Half("serverbound", threshold, threshold, Phase.PLAY)
        half.on(Phase.PLAY, 4, lambda pid, fields: FORWARD)
        try:
            relay_chunk(half, data)
        except WireError:
            pass


class _TCPTransport(StringTransport):
    def __init__(self) -> None:
        super().__init__()
        self.no_delay = False

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay = enabled


class NoDelayTests(SynchronousTestCase):
    def test_tcp_transport_gets_no_delay(self) -> None:
        """A relayed TCP connection has Nagle's algorithm off."""
        transport = _TCPTransport()
        no_delay(transport)
        self.assertTrue(transport.no_delay)

    def test_transport_without_tcp_options_is_left_alone(self) -> None:
        """A transport with no TCP options (a UNIX socket, a test transport) is fine."""
        no_delay(StringTransport())
