"""Network NBT: the binary tag format chat components travel in since 1.20.3.

On the network (from 1.20.2 on) the root tag has a type byte and no name.  The encoder
covers what chat needs: compounds (``dict``), strings, bytes (``bool``), ints (``int``;
``long`` beyond 32 bits), doubles (``float``) and lists.  The decoder reads every tag
type, so anything a server sends can be read back, and it is bounded: nesting deeper than
``max_depth`` and input longer than ``max_size`` are refused, and no list or array is
allocated before the bytes it claims are known to be there.
"""

from __future__ import annotations

import struct
from typing import Any, Union

from mcproxy.wire.types import Bytes, WireError

TAG_END = 0
TAG_BYTE = 1
TAG_SHORT = 2
TAG_INT = 3
TAG_LONG = 4
TAG_FLOAT = 5
TAG_DOUBLE = 6
TAG_BYTE_ARRAY = 7
TAG_STRING = 8
TAG_LIST = 9
TAG_COMPOUND = 10
TAG_INT_ARRAY = 11
TAG_LONG_ARRAY = 12

#: Vanilla's limits for NBT read from the network.
DEFAULT_MAX_DEPTH = 512
DEFAULT_MAX_SIZE = 2 * 1024 * 1024

NbtValue = Union[dict, list, str, int, float, bytes]

_FIXED = {
    TAG_BYTE: struct.Struct(">b"),
    TAG_SHORT: struct.Struct(">h"),
    TAG_INT: struct.Struct(">i"),
    TAG_LONG: struct.Struct(">q"),
    TAG_FLOAT: struct.Struct(">f"),
    TAG_DOUBLE: struct.Struct(">d"),
}
_USHORT = struct.Struct(">H")
_INT = _FIXED[TAG_INT]


def encode_mutf8(text: str) -> bytes:
    """Java's modified UTF-8: NUL as ``C0 80``, characters past U+FFFF as surrogate pairs."""
    if text.isascii() and "\0" not in text:
        return text.encode("ascii")
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code == 0:
            out += b"\xc0\x80"
        elif code > 0xFFFF:
            code -= 0x10000
            out += chr(0xD800 | (code >> 10)).encode("utf-8", "surrogatepass")
            out += chr(0xDC00 | (code & 0x3FF)).encode("utf-8", "surrogatepass")
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def decode_mutf8(raw: Bytes) -> str:
    """Inverse of :func:`encode_mutf8`; ``WireError`` (``BAD_MUTF8``) for invalid bytes."""
    raw = bytes(raw)
    if raw.isascii():
        return raw.decode("ascii")
    try:
        text = raw.replace(b"\xc0\x80", b"\0").decode("utf-8", "surrogatepass")
        # Join surrogate pairs into the characters they stand for.
        return text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
    except UnicodeError:
        raise WireError("BAD_MUTF8", "string is not modified UTF-8") from None


def _tag_of(value: Any) -> int:
    if isinstance(value, bool):
        return TAG_BYTE
    if isinstance(value, int):
        return TAG_INT if -0x80000000 <= value <= 0x7FFFFFFF else TAG_LONG
    if isinstance(value, float):
        return TAG_DOUBLE
    if isinstance(value, str):
        return TAG_STRING
    if isinstance(value, (bytes, bytearray)):
        return TAG_BYTE_ARRAY
    if isinstance(value, (list, tuple)):
        return TAG_LIST
    if isinstance(value, dict):
        return TAG_COMPOUND
    raise TypeError(f"no NBT tag for {type(value).__name__}")


def _encode_string(text: str, out: bytearray) -> None:
    raw = encode_mutf8(text)
    if len(raw) > 0xFFFF:
        raise WireError("STRING_TOO_LONG", f"{len(raw)} bytes in an NBT string")
    out += _USHORT.pack(len(raw))
    out += raw


def _encode_payload(tag: int, value: Any, out: bytearray, depth: int) -> None:
    if tag == TAG_STRING:
        _encode_string(value, out)
    elif tag == TAG_COMPOUND:
        if depth >= DEFAULT_MAX_DEPTH:
            raise WireError("NBT_TOO_DEEP", f"nested more than {DEFAULT_MAX_DEPTH}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("NBT compound keys are strings")
            item_tag = _tag_of(item)
            out.append(item_tag)
            _encode_string(key, out)
            _encode_payload(item_tag, item, out, depth + 1)
        out.append(TAG_END)
    elif tag == TAG_LIST:
        if depth >= DEFAULT_MAX_DEPTH:
            raise WireError("NBT_TOO_DEEP", f"nested more than {DEFAULT_MAX_DEPTH}")
        tags = {_tag_of(item) for item in value}
        if len(tags) > 1:
            raise TypeError("an NBT list holds one tag type")
        item_tag = tags.pop() if tags else TAG_END
        out.append(item_tag)
        out += _INT.pack(len(value))
        for item in value:
            _encode_payload(item_tag, item, out, depth + 1)
    elif tag == TAG_BYTE_ARRAY:
        out += _INT.pack(len(value))
        out += value
    else:
        out += _FIXED[tag].pack(value)


def encode_network_nbt(value: NbtValue) -> bytes:
    """Encode ``value`` as a nameless network root tag.

    Python types choose the tag: ``dict`` compound, ``list`` list, ``str`` string,
    ``bool`` byte, ``int`` int (long if it needs 64 bits), ``float`` double, ``bytes``
    byte array.  Values of other types raise ``TypeError``.
    """
    tag = _tag_of(value)
    out = bytearray((tag,))
    _encode_payload(tag, value, out, 0)
    return bytes(out)


class _Decoder:
    __slots__ = ("data", "offset", "end", "max_depth")

    def __init__(self, data: Bytes, offset: int, max_depth: int, max_size: int) -> None:
        self.data = data
        self.offset = offset
        self.end = min(len(data), offset + max_size)
        self.max_depth = max_depth

    def take(self, size: int) -> int:
        start = self.offset
        if start + size > self.end:
            if start + size > len(self.data):
                raise WireError("TRUNCATED", "NBT cut short")
            raise WireError("NBT_TOO_LARGE", "NBT longer than the size limit")
        self.offset = start + size
        return start

    def count(self, item_size: int) -> int:
        """Read a list or array length whose items are at least ``item_size`` bytes."""
        (count,) = _INT.unpack_from(self.data, self.take(4))
        if count < 0:
            raise WireError("NEGATIVE_LENGTH", f"NBT length {count}")
        if count * item_size > self.end - self.offset:
            self.take(count * item_size)
        return count

    def string(self) -> str:
        (size,) = _USHORT.unpack_from(self.data, self.take(2))
        start = self.take(size)
        return decode_mutf8(self.data[start:start + size])

    def payload(self, tag: int, depth: int) -> Any:
        fixed = _FIXED.get(tag)
        if fixed is not None:
            return fixed.unpack_from(self.data, self.take(fixed.size))[0]
        if tag == TAG_STRING:
            return self.string()
        if tag == TAG_COMPOUND or tag == TAG_LIST:
            if depth >= self.max_depth:
                raise WireError("NBT_TOO_DEEP", f"nested more than {self.max_depth}")
            if tag == TAG_COMPOUND:
                compound = {}
                while True:
                    item_tag = self.data[self.take(1)]
                    if item_tag == TAG_END:
                        return compound
                    key = self.string()
                    compound[key] = self.payload(item_tag, depth + 1)
            item_tag = self.data[self.take(1)]
            if item_tag > TAG_LONG_ARRAY:
                raise WireError("BAD_NBT_TAG", f"tag type {item_tag}")
            count = self.count(_MIN_SIZE[item_tag])
            if item_tag == TAG_END and count:
                raise WireError("BAD_NBT_TAG", "list of end tags")
            items = []
            # A loop, not a comprehension: one Python frame per nesting level.
            for _ in range(count):
                items.append(self.payload(item_tag, depth + 1))
            return items
        if tag == TAG_BYTE_ARRAY:
            count = self.count(1)
            start = self.take(count)
            return bytes(self.data[start:start + count])
        if tag == TAG_INT_ARRAY or tag == TAG_LONG_ARRAY:
            width, code = (4, "i") if tag == TAG_INT_ARRAY else (8, "q")
            count = self.count(width)
            start = self.take(count * width)
            return list(struct.unpack_from(f">{count}{code}", self.data, start))
        raise WireError("BAD_NBT_TAG", f"tag type {tag}")


#: Fewest bytes an item of each tag type takes, to bound list lengths before reading.
_MIN_SIZE = {
    TAG_END: 0, TAG_BYTE: 1, TAG_SHORT: 2, TAG_INT: 4, TAG_LONG: 8, TAG_FLOAT: 4,
    TAG_DOUBLE: 8, TAG_BYTE_ARRAY: 4, TAG_STRING: 2, TAG_LIST: 5, TAG_COMPOUND: 1,
    TAG_INT_ARRAY: 4, TAG_LONG_ARRAY: 4,
}


def decode_network_nbt(data: Bytes, offset: int = 0, max_depth: int = DEFAULT_MAX_DEPTH,
                       max_size: int = DEFAULT_MAX_SIZE) -> tuple[NbtValue | None, int]:
    """Decode a nameless network root tag at ``offset``; return ``(value, offset after)``.

    A root ``TAG_End`` (absent NBT) decodes to ``None``.  Bytes and shorts come back as
    ``int``, floats as ``float``, arrays as ``bytes`` or lists of ``int``.  The input is one
    whole packet, so running out of bytes is ``TRUNCATED``, not a reason to wait.
    """
    decoder = _Decoder(data, offset, max_depth, max_size)
    tag = data[decoder.take(1)]
    if tag == TAG_END:
        return None, decoder.offset
    value = decoder.payload(tag, 0)
    return value, decoder.offset


def skip_named_nbt(data: Bytes, offset: int = 0, max_size: int = DEFAULT_MAX_SIZE) -> int:
    """The offset after the named root tag at ``offset``: NBT in play packets before 1.20.2
    (a dimension codec, a dimension type) carries a root name the network form later
    dropped.  A root ``TAG_End`` is absent NBT, one byte."""
    decoder = _Decoder(data, offset, DEFAULT_MAX_DEPTH, max_size)
    tag = data[decoder.take(1)]
    if tag == TAG_END:
        return decoder.offset
    decoder.string()
    decoder.payload(tag, 0)
    return decoder.offset
