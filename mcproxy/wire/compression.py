"""The compressed frame body used after Set Compression.

Once compression is on, every frame body is ``VarInt data length`` followed by the
packet: ``0`` means the packet follows as is, anything else is the packet's uncompressed
size and a zlib stream follows.  The declared size is checked before anything is
inflated, and inflating is capped at that size, so a small frame cannot make us allocate
more than ``max_size`` bytes (the zlib "bomb" that Quarry does not guard against).
"""

from __future__ import annotations

import zlib

from mcproxy.wire.framing import encode_frame
from mcproxy.wire.types import Bytes, Incomplete, WireError, decode_varint, encode_varint

#: Vanilla's ceiling for a packet's uncompressed size (8 MiB).
DEFAULT_MAX_SIZE = 8 * 1024 * 1024

#: Bytes inflated to read a packet id: a VarInt is at most this long.
_PEEK_SIZE = 5


def compress_packet(payload: Bytes, threshold: int, level: int = -1) -> bytes:
    """Return the frame body for ``payload`` (packet id and fields).

    Packets shorter than ``threshold`` go uncompressed, as vanilla does.  ``threshold``
    must be ``0`` or more: a negative threshold means compression is off, and then there
    is no data-length prefix to write at all.
    """
    if threshold < 0:
        raise ValueError("compression is disabled for a negative threshold")
    if len(payload) < threshold or not payload:
        # An empty payload cannot be sent compressed: its data length 0 means "plain".
        return b"\x00" + bytes(payload)
    return encode_varint(len(payload)) + zlib.compress(payload, level)


def frame_packet(payload: Bytes, threshold: int, level: int = -1) -> bytes:
    """A whole frame for ``payload``: compressed-packet format when ``threshold`` is 0 or
    more, the plain packet when compression is off (negative)."""
    if threshold < 0:
        return encode_frame(payload)
    return encode_frame(compress_packet(payload, threshold, level))


def _data_length(body: Bytes) -> tuple[int, int]:
    try:
        size, offset = decode_varint(body, 0)
    except Incomplete:
        raise WireError("TRUNCATED", "data length cut short") from None
    if size < 0:
        raise WireError("NEGATIVE_LENGTH", f"data length {size}")
    return size, offset


def decompress_packet(body: Bytes, threshold: int, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """Return the packet carried by a compressed-format frame body.

    Refuses, each with its own reason: a declared size above ``max_size``
    (``DECOMPRESSED_TOO_LARGE``), a compressed packet declared smaller than ``threshold``
    (``BELOW_THRESHOLD``, vanilla's rule against pointless compression), a zlib stream
    that is corrupt or cut short (``BAD_ZLIB``), one that inflates to another size than
    declared (``SIZE_MISMATCH``) and bytes after the zlib stream (``TRAILING_BYTES``).
    """
    size, offset = _data_length(body)
    if size == 0:
        return bytes(body[offset:])
    if size > max_size:
        raise WireError("DECOMPRESSED_TOO_LARGE", f"declared {size} > {max_size} bytes")
    if size < threshold:
        raise WireError("BELOW_THRESHOLD", f"declared {size} < threshold {threshold}")
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(memoryview(body)[offset:], size)
        if len(payload) < size:
            if inflater.eof:
                raise WireError("SIZE_MISMATCH", f"inflated {len(payload)} of {size} bytes")
            raise WireError("BAD_ZLIB", "zlib stream cut short")
        if not inflater.eof:
            # Output stopped at the cap; one more byte means the packet is larger.
            if inflater.decompress(inflater.unconsumed_tail, 1):
                raise WireError("SIZE_MISMATCH", f"inflates to more than {size} bytes")
            if not inflater.eof:
                raise WireError("BAD_ZLIB", "zlib stream cut short")
    except zlib.error as e:
        raise WireError("BAD_ZLIB", str(e)) from None
    if inflater.unused_data:
        raise WireError("TRAILING_BYTES", f"{len(inflater.unused_data)} bytes after zlib stream")
    return payload


def peek_packet_id(body: Bytes, compressed: bool) -> int:
    """Return the packet id of a frame body without decoding (or inflating) the rest.

    ``compressed`` says whether the connection has compression on, i.e. whether the body
    starts with a data length.  A compressed body has only its first few bytes inflated.
    The body is not otherwise validated: whoever decodes the packet does that.
    """
    if not compressed:
        payload: Bytes = body
    else:
        size, offset = _data_length(body)
        if size == 0:
            payload = memoryview(body)[offset:]
        else:
            try:
                data = memoryview(body)[offset:]
                payload = zlib.decompressobj().decompress(data, _PEEK_SIZE)
            except zlib.error as e:
                raise WireError("BAD_ZLIB", str(e)) from None
    try:
        packet_id, _ = decode_varint(payload, 0)
    except Incomplete:
        raise WireError("TRUNCATED", "packet id cut short") from None
    return packet_id
