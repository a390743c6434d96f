"""The flood the bench backend sends, and the checker that proves every byte arrived intact.

A flood is a repeating *cycle* of play frames of one size.  Each frame body carries the
packet id, its sequence number in the cycle, filler that differs per frame, and a CRC-32
of all that.  The checker compares what it receives with the cycle byte for byte (a
``memcmp`` in C, so checking keeps up with a fast relay), so a frame that is lost,
duplicated, reordered or altered shows up as a mismatch.  The flood ends with an *end
frame* saying how many flood bytes were sent; a mismatch is only forgiven where that end
frame starts on a frame boundary and its count equals what was checked, so whole cycles
lost also fail.
"""

from __future__ import annotations

import functools
import struct
import zlib

from mcproxy.wire.types import encode_varint

#: Clientbound play id used for flood and end frames (1.21.1 ``rel_entity_move``, the most
#: frequent play packet): the proxy's relay does not watch it, as it does not watch most
#: play packets.  (``custom_payload`` was used before; with ``bungee_plugin_channel = true``,
#: the default, the proxy looks at every plugin message, so the flood measured that instead.)
FLOOD_ID = 0x2E
#: Bytes per cycle; a multiple of every frame size used.
CYCLE_BYTES = 256 * 1024
END_MAGIC = b"END!"
_END = struct.Struct(">4sQ")
_SEQ = struct.Struct(">I")


def flood_frame(frame_size: int, seq: int) -> bytes:
    """Frame number ``seq`` of a flood of ``frame_size``-byte frames (length prefix included)."""
    prefix = 1 if frame_size - 1 < 0x80 else 2
    body_size = frame_size - prefix
    head = bytes([FLOOD_ID]) + _SEQ.pack(seq)
    filler_size = body_size - len(head) - 4
    if filler_size < 0:
        raise ValueError(f"frame size {frame_size} is too small")
    pattern = (seq * 2654435761 & 0xFFFFFFFF).to_bytes(4, "big") + bytes((seq + k) & 0xFF for k in range(12))
    filler = (pattern * (filler_size // len(pattern) + 1))[:filler_size]
    body = head + filler
    body += _SEQ.pack(zlib.crc32(body))
    frame = encode_varint(len(body)) + body
    assert len(frame) == frame_size
    return frame


def check_flood_frame(body: bytes) -> int:
    """The sequence number of a flood frame body; ``ValueError`` if its checksum is wrong."""
    if len(body) < 9 or body[0] != FLOOD_ID:
        raise ValueError("not a flood frame")
    if zlib.crc32(body[:-4]) != _SEQ.unpack_from(body, len(body) - 4)[0]:
        raise ValueError("checksum mismatch")
    return _SEQ.unpack_from(body, 1)[0]


@functools.lru_cache(maxsize=None)
def build_cycle(frame_size: int) -> bytes:
    """One cycle of a flood: ``CYCLE_BYTES`` of numbered, checksummed frames (built once)."""
    if CYCLE_BYTES % frame_size:
        raise ValueError(f"{frame_size} does not divide the cycle")
    return b"".join(flood_frame(frame_size, seq) for seq in range(CYCLE_BYTES // frame_size))


def end_frame(total: int) -> bytes:
    """The frame that closes a flood: the number of flood bytes sent, with a checksum."""
    body = bytes([FLOOD_ID]) + _END.pack(END_MAGIC, total)
    body += _SEQ.pack(zlib.crc32(body))
    return encode_varint(len(body)) + body


END_FRAME_SIZE = len(end_frame(0))


class FloodChecker:
    """Verifies one connection's floods; each flood must end with a correct end frame.

    ``bytes`` counts verified flood bytes (whole frames only), ``errors`` lists what went
    wrong; after an error the checker stops checking that connection.
    """

    def __init__(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self.cycle = build_cycle(frame_size)
        self.bytes = 0
        self.floods = 0
        self.errors: list[str] = []
        self._offset = 0
        self._flood_bytes = 0
        self._tail: bytearray | None = None

    @property
    def in_flood(self) -> bool:
        """Bytes of a flood were seen and its end frame has not arrived yet."""
        return self._flood_bytes > 0 or self._tail is not None

    def feed(self, data: bytes) -> None:
        if self.errors:
            return
        if self._tail is not None:
            self._tail += data
            self._finish()
            return
        cycle = self.cycle
        size = len(cycle)
        offset = self._offset
        view = memoryview(data)
        i = 0
        n = len(data)
        while i < n:
            take = min(n - i, size - offset)
            if cycle.startswith(view[i:i + take], offset):
                i += take
                offset = (offset + take) % size
                self._flood_bytes += take
                self.bytes += take
                continue
            mismatch = _first_difference(view[i:i + take], cycle, offset)
            frame_start = offset + mismatch - (offset + mismatch) % self.frame_size
            # Only whole frames count as flood: the frame the mismatch is in may be the end
            # frame, and may have begun in an earlier read.
            self._flood_bytes += frame_start - offset
            self.bytes += frame_start - offset
            self._offset = 0
            if frame_start < offset:
                self._tail = bytearray(cycle[frame_start:offset]) + view[i:]
            else:
                self._tail = bytearray(view[i + frame_start - offset:])
            self._finish()
            return
        self._offset = offset

    def _finish(self) -> None:
        """Read the end frame at the head of the unmatched bytes, once all of it is here."""
        tail = self._tail
        if len(tail) < END_FRAME_SIZE:
            fixed = min(len(tail), 6)
            if tail[:fixed] != end_frame(0)[:fixed]:
                self._fail("corrupt, lost or reordered frame")
            return
        expected = end_frame(self._flood_bytes)
        if bytes(tail[:END_FRAME_SIZE]) != expected:
            head = bytes(tail[:END_FRAME_SIZE])
            if head[:6] == expected[:6]:
                sent = _END.unpack_from(head, 2)[1]
                self._fail(f"lost or extra bytes: sender sent {sent}, received {self._flood_bytes}")
            else:
                self._fail("corrupt, lost or reordered frame")
            return
        self.floods += 1
        self._flood_bytes = 0
        rest = bytes(tail[END_FRAME_SIZE:])
        self._tail = None
        if rest:
            self.feed(rest)

    def _fail(self, why: str) -> None:
        self.errors.append(why)


def _first_difference(data: memoryview, cycle: bytes, offset: int) -> int:
    """Index of the first byte of ``data`` that differs from ``cycle`` at ``offset`` on."""
    lo, hi = 0, len(data)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cycle.startswith(data[lo:mid], offset + lo):
            lo = mid
        else:
            hi = mid
    return lo
