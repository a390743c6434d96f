"""Frame relay between a player and a backend once both are past login.

Frame boundaries come from the length prefixes alone; a frame's packet id is peeked (the
first byte or two, or the first few inflated bytes of a compressed frame) and only the
ids a direction watches are decoded.  Everything else is written on in the slices it
arrived in, one write per read.  When the two sides' compression thresholds differ, each
frame is re-compressed for the other side instead.
"""

from __future__ import annotations

import enum
from typing import Callable, Optional

from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from mcproxy.wire.compression import decompress_packet, frame_packet, peek_packet_id
from mcproxy.wire.connection import MAX_PACKET_SIZE
from mcproxy.wire.framing import MAX_FRAME_SIZE
from mcproxy.wire.types import Incomplete, WireError, decode_varint

#: What a watcher returns: the frame's bytes unchanged, nothing, or a replacement frame.
FORWARD = object()
DROP = object()
#: Drop the frame and stop: the rest stays buffered until the caller relays again
#: (used where the destination changes at this packet, as in a server switch).
PAUSE = object()

#: A watcher sees the packet id and the packet's payload after the id.
Watcher = Callable[[int, bytes], object]


class Phase(enum.Enum):
    CONFIGURATION = "configuration"
    PLAY = "play"


class Half:
    """One direction of the relay: its buffer, its source framing, what it watches."""

    __slots__ = ("name", "buffer", "src_threshold", "dst_threshold", "phase", "watchers", "watch",
                 "hots", "hot", "frames", "bytes")

    def __init__(self, name: str, src_threshold: int, dst_threshold: int, phase: Phase) -> None:
        self.name = name
        self.buffer = bytearray()
        self.src_threshold = src_threshold
        self.dst_threshold = dst_threshold
        self.phase = phase
        self.watchers: dict[Phase, dict[int, Watcher]] = {Phase.CONFIGURATION: {}, Phase.PLAY: {}}
        self.watch = self.watchers[phase]
        self.hots = {Phase.CONFIGURATION: _LONG_IDS, Phase.PLAY: _LONG_IDS}
        self.hot = self.hots[phase]
        self.frames = 0
        self.bytes = 0

    def enter(self, phase: Phase) -> None:
        self.phase = phase
        self.watch = self.watchers[phase]
        self.hot = self.hots[phase]

    def on(self, phase: Phase, packet_id: int | None, watcher: Watcher) -> None:
        """Watch ``packet_id`` in ``phase``; ``None`` (a packet the version lacks) is no-op."""
        if packet_id is None:
            return
        self.watchers[phase][packet_id] = watcher
        self.watch = self.watchers[self.phase]
        if 0 <= packet_id < 0x80:
            # bytes, not a bytearray: the scan indexes it per frame, and that is faster.
            table = bytearray(self.hots[phase])
            table[packet_id] = 1
            self.hots[phase] = bytes(table)
        self.hot = self.hots[self.phase]

    def payload(self, body: bytes) -> bytes:
        """The frame's packet (id included) with any compression undone."""
        if self.src_threshold < 0:
            return bytes(body)
        return decompress_packet(bytes(body), self.src_threshold, MAX_PACKET_SIZE)

    def reframe(self, payload: bytes) -> bytes:
        """A whole packet framed for the destination's compression."""
        return frame_packet(payload, self.dst_threshold)


#: Where a frame needs a closer look, by its first packet-id byte: every id of more than
#: one byte; each :class:`Half` adds the ids it watches, in a copy per phase.
_LONG_IDS = bytes(1 if i >= 0x80 else 0 for i in range(256))


#: Frame-pair counter for the unrolled loops: ``for`` counts in C what ``+= 1`` counts in bytecode.
_PAIRS = range(0, 1 << 62, 2)


def skip_python(buf, pos: int, n: int, hot: bytes, compressed: bool) -> tuple[int, int]:
    """Step over the run of frames at ``pos`` that can be passed on without a look.

    Returns where the run ends and how many frames it held.  It stops at anything else
    (a watched or multi-byte id, a compressed body, a 3-byte length, an empty or
    incomplete frame) and leaves that to the general path, which knows the rules.
    This loop is the relay's whole per-frame cost for ordinary play traffic, so frames
    with a one-byte length (up to 128 bytes, where the count of frames per GB is what
    costs) take a loop unrolled by two that notices the buffer's end by ``IndexError``
    instead of a test per frame; the last pair and anything else go on in
    :func:`skip_general`.
    """
    if n != len(buf):
        return skip_general(buf, pos, n, hot, compressed)
    frames = 0
    try:
        if compressed:
            # A body sent uncompressed (data length 0) shows its id in the clear.
            for frames in _PAIRS:
                size = buf[pos]
                if size >= 0x80 or size < 2:
                    break
                end = pos + 1 + size
                if end > n or buf[pos + 1] or hot[buf[pos + 2]]:
                    return pos, frames
                size = buf[end]
                if size >= 0x80 or size < 2:
                    pos = end
                    frames += 1
                    break
                after = end + 1 + size
                if after > n or buf[end + 1] or hot[buf[end + 2]]:
                    return end, frames + 1
                pos = after
        else:
            for frames in _PAIRS:
                size = buf[pos]
                if size >= 0x80 or not size:
                    break
                end = pos + 1 + size
                if end > n or hot[buf[pos + 1]]:
                    return pos, frames
                size = buf[end]
                if size >= 0x80 or not size:
                    pos = end
                    frames += 1
                    break
                after = end + 1 + size
                if after > n or hot[buf[end + 1]]:
                    return end, frames + 1
                pos = after
    except IndexError:
        # The pair at ``pos`` reaches the end of the buffer: the general loop finishes it.
        pass
    pos, more = skip_general(buf, pos, n, hot, compressed)
    return pos, frames + more


def skip_general(buf, pos: int, n: int, hot: bytes, compressed: bool) -> tuple[int, int]:
    """:func:`skip_python`'s rules one frame at a time, two-byte lengths included."""
    frames = 0
    while pos < n:
        size = buf[pos]
        if size < 0x80:
            start = pos + 1
        elif pos + 1 < n and buf[pos + 1] < 0x80:
            size = (size & 0x7F) | (buf[pos + 1] << 7)
            start = pos + 2
        else:
            return pos, frames
        end = start + size
        if end > n or not size:
            return pos, frames
        if compressed:
            # Only a body sent uncompressed (data length 0) shows its id in the clear.
            if size < 2 or buf[start]:
                return pos, frames
            start += 1
        if hot[buf[start]]:
            return pos, frames
        pos = end
        frames += 1
    return pos, frames


try:
    from mcproxy.proxy._relayscan import skip as skip_compiled
except ImportError:
    skip_compiled = None

#: The scan relay_chunk uses: the compiled one when it was built (``setup.py``), the
#: same rules in Python otherwise.
_skip = skip_compiled or skip_python


def _packet_id(buf, start: int, end: int, compressed: bool) -> int:
    if not compressed:
        packet_id = buf[start]
        if packet_id < 0x80:
            return packet_id
        return _long_id(buf, start, end)
    if buf[start] == 0:
        if end - start < 2:
            raise WireError("TRUNCATED", "compressed frame without a packet id")
        packet_id = buf[start + 1]
        if packet_id < 0x80:
            return packet_id
        return _long_id(buf, start + 1, end)
    # A view, not a copy: only the first few inflated bytes are wanted.
    return peek_packet_id(memoryview(buf)[start:end], True)


def _long_id(buf, start: int, end: int) -> int:
    """A packet id of two or more bytes, which must end inside its own frame."""
    try:
        packet_id, after = decode_varint(buf, start)
    except Incomplete:
        after = end + 1
    if after > end:
        raise WireError("TRUNCATED", "packet id runs past its frame")
    return packet_id


def relay_chunk(half: Half, data: bytes, max_frame_size: int = MAX_FRAME_SIZE) -> list:
    """Split ``data`` (with what ``half`` buffered) into the pieces to write on.

    Returns byte strings to write, in order.  Watched packets are handed to their
    watchers, whose answers replace them.  Raises :class:`WireError` for a frame that can
    never be valid; an incomplete frame stays buffered.
    """
    if half.buffer:
        half.buffer += data
        buf = half.buffer
    else:
        buf = data
    n = len(buf)
    pieces: list = []
    pos = 0
    flush = 0
    frames = 0
    compressed = half.src_threshold >= 0
    transcode = half.src_threshold != half.dst_threshold
    # Frames of two-byte length need no check against the limit when it is this high.
    skipping = not transcode and max_frame_size >= 0x3FFF
    watch = half.watch
    try:
        while pos < n:
            if skipping:
                pos, skipped = _skip(buf, pos, n, half.hot, compressed)
                frames += skipped
                if pos >= n:
                    break
            size = buf[pos]
            if size < 0x80:
                start = pos + 1
            else:
                if n - pos >= 3 and buf[pos + 1] & buf[pos + 2] & 0x80:
                    # Decided on 3 bytes, so the answer does not depend on how reads split.
                    raise WireError("FRAME_TOO_LARGE", "length prefix longer than 3 bytes")
                try:
                    size, start = decode_varint(buf, pos)
                except Incomplete:
                    break
                if size > max_frame_size:
                    raise WireError("FRAME_TOO_LARGE", f"{size} > {max_frame_size} bytes")
            if size <= 0:
                raise WireError("EMPTY_FRAME", f"length {size}")
            end = start + size
            if end > n:
                break
            frames += 1
            packet_id = _packet_id(buf, start, end, compressed)
            watcher = watch.get(packet_id)
            if watcher is None and not transcode:
                pos = end
                continue
            if flush < pos:
                pieces.append(buf[flush:pos])
            payload = half.payload(buf[start:end])
            if watcher is not None:
                _, fields_start = decode_varint(payload, 0)
                answer = watcher(packet_id, payload[fields_start:])
                # A watcher may switch phase: later frames are read with the new watch set.
                watch = half.watch
                if answer is FORWARD:
                    pieces.append(half.reframe(payload) if transcode else buf[pos:end])
                elif answer is PAUSE:
                    pos = flush = end
                    break
                elif answer is not DROP and answer:
                    pieces.append(answer)
            else:
                pieces.append(half.reframe(payload))
            pos = flush = end
        if flush < pos:
            pieces.append(buf[flush:pos] if (flush or pos != n or buf is half.buffer) else buf)
    finally:
        half.frames += frames
    if pos < n:
        if buf is half.buffer:
            del buf[:pos]
        else:
            half.buffer = bytearray(buf[pos:])
    elif buf is half.buffer:
        half.buffer = bytearray()
    return pieces


def joined(pieces: list) -> Optional[bytes]:
    if not pieces:
        return None
    if len(pieces) == 1:
        piece = pieces[0]
        return piece if isinstance(piece, bytes) else bytes(piece)
    return b"".join(pieces)


def no_delay(transport) -> None:
    """Turn Nagle's algorithm off where the transport has one (TCP, or TLS over TCP).

    The relay writes many small frames; with Nagle each waits for the previous one's
    acknowledgement, which delayed ACKs stretch to tens of milliseconds.
    """
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        setter(True)


@implementer(IPushProducer)
class Throttle:
    """Lets one side's write buffer pause the other side's reads, and nothing more.

    Registering a transport itself as a producer would also hand it ``stopProducing``,
    which Twisted calls when the consumer's connection ends: a backend going away would
    then close the player's connection before the proxy could move them elsewhere.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport) -> None:
        self._transport = transport

    def pauseProducing(self) -> None:
        self._transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._transport.resumeProducing()

    def stopProducing(self) -> None:
        """The consumer is gone; the producing connection decides its own fate."""
