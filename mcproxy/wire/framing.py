"""Length-prefixed framing: the outermost layer of the Minecraft protocol.

Each frame is a VarInt length followed by that many bytes.  The decoder keeps one
``bytearray`` per connection and refuses a declared length above its limit as soon as the
prefix is read, so a peer can never make it buffer more than one maximum frame.
"""

from __future__ import annotations

from mcproxy.wire.types import Bytes, Incomplete, WireError, decode_varint, encode_varint

#: The protocol's ceiling: a frame length is a VarInt of at most 3 bytes (2 MiB - 1).
MAX_FRAME_SIZE = 2097151


def encode_frame(body: Bytes) -> bytes:
    """Prefix ``body`` with its length."""
    return encode_varint(len(body)) + bytes(body)


def frame_bounds(data: Bytes, offset: int, max_frame_size: int) -> tuple[int, int] | None:
    """Locate the frame starting at ``offset``: ``(body start, body end)``, or ``None`` if
    the buffer does not yet hold all of it.

    Raises :class:`WireError` for a length prefix that can never be valid.
    """
    if len(data) - offset >= 3 and data[offset] & data[offset + 1] & data[offset + 2] & 0x80:
        # A legal length fits in 3 bytes; a longer prefix is over the ceiling. Deciding on
        # the first 3 bytes alone gives the same answer however the reads split the prefix.
        raise WireError("FRAME_TOO_LARGE", "length prefix longer than 3 bytes")
    try:
        size, start = decode_varint(data, offset)
    except Incomplete:
        return None
    if size <= 0:
        raise WireError("EMPTY_FRAME" if size == 0 else "NEGATIVE_LENGTH", f"length {size}")
    if size > max_frame_size:
        raise WireError("FRAME_TOO_LARGE", f"{size} > {max_frame_size} bytes")
    end = start + size
    if end > len(data):
        return None
    return start, end


class FrameDecoder:
    """Incremental frame splitter over a single growing buffer."""

    __slots__ = ("buffer", "max_frame_size")

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.buffer = bytearray()
        self.max_frame_size = max_frame_size

    def feed(self, data: Bytes) -> None:
        self.buffer += data

    def next_frame(self) -> bytes | None:
        """Return the next whole frame's body, or ``None`` until more bytes arrive."""
        bounds = frame_bounds(self.buffer, 0, self.max_frame_size)
        if bounds is None:
            return None
        start, end = bounds
        body = bytes(self.buffer[start:end])
        # Deleting from the front of a bytearray is O(1) in CPython.
        del self.buffer[:end]
        return body

    def frames(self, data: Bytes = b"") -> list[bytes]:
        """Feed ``data`` and return every whole frame now available."""
        if data:
            self.buffer += data
        out = []
        while True:
            body = self.next_frame()
            if body is None:
                return out
            out.append(body)

    def take_buffer(self) -> bytes:
        """Hand over whatever is buffered (for a switch to raw relaying)."""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data
