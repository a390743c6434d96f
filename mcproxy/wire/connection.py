"""One side of a connection as the protocol layers it: cipher, then frames, then compression.

Used wherever a packet must be read or written whole (handshake, status, login, the few
packets the relay looks at).  The relay's fast path bypasses it and moves whole frames.
"""

from __future__ import annotations

from mcproxy.wire.cipher import decryptor, encryptor
from mcproxy.wire.compression import decompress_packet, frame_packet
from mcproxy.wire.framing import MAX_FRAME_SIZE, FrameDecoder
from mcproxy.wire.types import Bytes, Reader, encode_varint

#: Largest uncompressed packet accepted; vanilla's own limit is 8 MiB.
MAX_PACKET_SIZE = 8 * 1024 * 1024


class PacketCodec:
    """Turns bytes read into ``(packet id, reader)`` pairs and packets into bytes to write."""

    __slots__ = ("decoder", "threshold", "max_packet_size", "compression_level", "_encryptor", "_decryptor")

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE, max_packet_size: int = MAX_PACKET_SIZE) -> None:
        self.decoder = FrameDecoder(max_frame_size)
        self.threshold = -1
        self.max_packet_size = max_packet_size
        self.compression_level = 4
        self._encryptor = None
        self._decryptor = None

    @property
    def encrypted(self) -> bool:
        return self._encryptor is not None

    def enable_compression(self, threshold: int) -> None:
        self.threshold = threshold

    def enable_encryption(self, shared_secret: bytes) -> None:
        self._encryptor = encryptor(shared_secret)
        self._decryptor = decryptor(shared_secret)

    def decrypt(self, data: Bytes) -> Bytes:
        return self._decryptor.update(data) if self._decryptor is not None else data

    def encrypt(self, data: Bytes) -> bytes:
        return self._encryptor.update(data) if self._encryptor is not None else bytes(data)

    def feed(self, data: Bytes) -> None:
        """Take bytes as read from the socket."""
        self.decoder.feed(self.decrypt(data))

    def payload_of(self, body: bytes) -> bytes:
        """A frame body with compression undone: packet id and fields."""
        if self.threshold < 0:
            return body
        return decompress_packet(body, self.threshold, self.max_packet_size)

    def next_packet(self) -> tuple[int, Reader] | None:
        """The next whole packet, or ``None`` until more bytes arrive."""
        body = self.decoder.next_frame()
        if body is None:
            return None
        reader = Reader(self.payload_of(body))
        return reader.varint(), reader

    def frame(self, packet_id: int, fields: Bytes = b"") -> bytes:
        """A packet framed (and compressed) but not yet encrypted."""
        return frame_packet(encode_varint(packet_id) + bytes(fields), self.threshold, self.compression_level)

    def encode(self, packet_id: int, fields: Bytes = b"") -> bytes:
        """A packet ready to write to the socket."""
        return self.encrypt(self.frame(packet_id, fields))
