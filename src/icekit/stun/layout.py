"""Where the attributes of a received STUN message are: the decoder's "layout".

Decoding makes one pass over the attribute headers (RFC 8489 §14), checks their
framing and records where each attribute starts; values are converted only
when asked for.

Connectivity checks from one peer all have the same shape (the same attribute
types and lengths in the same order), so a layout is cached, keyed by the
first eight bytes of the header (type, length and magic cookie). A cached
layout is reused for a new message only after one precompiled ``struct`` read,
which needs the exact message size, has returned the same attribute headers;
the same read yields the FINGERPRINT value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from socket import inet_ntoa
from typing import Any

from ..errors import StunParseError
from .attributes import (
    DECODERS,
    _decode_none,
    _decode_u32,
    _decode_u64,
    attr_name,
    decode_bytes,
    decode_text,
    decode_xor_address,
)
from .constants import HEADER_LENGTH, MAGIC_COOKIE, Attr, MessageClass, Method

__all__ = ["Layout", "Reader", "layout_for", "method_and_class"]

#: message bytes -> a sequence whose first item is the typed value of one attribute
Reader = Callable[[bytes], "tuple[Any, ...]"]

_TL = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_HEAD = struct.Struct("!HHI")
_KEY = struct.Struct("!Q")
_COOKIE_HI = MAGIC_COOKIE >> 16
_MI = int(Attr.MESSAGE_INTEGRITY)
_MI256 = int(Attr.MESSAGE_INTEGRITY_SHA256)
_FP = int(Attr.FINGERPRINT)
_XOR_MAPPED = int(Attr.XOR_MAPPED_ADDRESS)
_NONE_VALUE = (None,)

#: Layouts of up to this many attributes are cached; at most this many layouts.
LAYOUT_MAX_ATTRS = 32
LAYOUT_CACHE_SIZE = 512

# Dictionary keys of the known types are the Attr members themselves: a
# lookup with ``Attr.X`` then matches by identity, with a plain int by value.
_KEYS: dict[int, int] = {int(a): a for a in Attr}

# Compiled readers, shared by the layouts that need the same offset and format.
_structs: dict[str, Reader] = {}


def _struct_reader(fmt: str) -> Reader:
    reader = _structs.get(fmt)
    if reader is None:
        if len(_structs) >= 4096:
            _structs.clear()
        reader = _structs[fmt] = struct.Struct(fmt).unpack_from
    return reader


def _message_type(method: int, msg_class: int) -> int:
    return (
        (method & 0x00F) | ((method & 0x070) << 1) | ((method & 0xF80) << 2) | msg_class
    )


_CLASSES = {int(c): c for c in MessageClass}
_TYPES: dict[int, tuple[int, MessageClass]] = {
    _message_type(m, c): (m, c) for m in Method for c in MessageClass
}


def method_and_class(mtype: int) -> tuple[int, MessageClass]:
    """Split a 14-bit message type into method and class (RFC 8489 §5)."""
    known = _TYPES.get(mtype)
    if known is not None:
        return known
    method = (mtype & 0x000F) | ((mtype & 0x00E0) >> 1) | ((mtype & 0x3E00) >> 2)
    return method, _CLASSES[mtype & 0x0110]


def _reader(attr: int, pos: int, length: int) -> Reader:
    """A reader of the value of ``attr`` at value offset ``pos`` of any same-shaped message."""
    decoder = DECODERS.get(attr, decode_bytes)
    # The values of connectivity checks are read by one C call each, or by a
    # short function for text and addresses.
    if decoder is _decode_u32 and length == 4:
        return _struct_reader(f"!{pos}xI")
    if decoder is _decode_u64 and length == 8:
        return _struct_reader(f"!{pos}xQ")
    if decoder is decode_bytes:
        return _struct_reader(f"!{pos}x{length}s")
    if decoder is _decode_none and length == 0:
        return _read_none
    end = pos + length
    if decoder is decode_text:

        def read_text(raw: bytes) -> tuple[str]:
            try:
                return (raw[pos:end].decode("utf-8"),)
            except UnicodeDecodeError:
                raise StunParseError(f"{attr_name(attr)}: not valid UTF-8") from None

        return read_text
    if decoder is decode_xor_address and length == 8:
        unpack = _struct_reader(f"!{pos + 1}xBHI")

        def read_xor_ipv4(raw: bytes) -> tuple[tuple[str, int]]:
            family, port, addr = unpack(raw)
            if family != 1:
                return _read_with(decoder, attr, raw, pos, length)
            # RFC 8489 §14.2: port and address XOR-ed with the magic cookie.
            return ((inet_ntoa(_U32.pack(addr ^ MAGIC_COOKIE)), port ^ _COOKIE_HI),)

        return read_xor_ipv4

    def read(raw: bytes) -> tuple[Any]:
        return _read_with(decoder, attr, raw, pos, length)

    return read


def _read_none(raw: bytes) -> tuple[None]:
    return _NONE_VALUE


def _read_with(
    decoder: Callable[[bytes, int, int, bytes], Any],
    attr: int,
    raw: bytes,
    pos: int,
    length: int,
) -> tuple[Any]:
    try:
        return (decoder(raw, pos, length, raw[8:20]),)
    except StunParseError as exc:
        raise StunParseError(f"{attr_name(attr)}: {exc}") from None


class Layout:
    """Where the attributes of a decoded message are: shared by same-shaped messages."""

    __slots__ = (
        "cacheable",
        "expected",
        "fp",
        "hslice",
        "method",
        "mi",
        "mi256",
        "mi_header",
        "msg_class",
        "order",
        "size",
        "unknown",
        "unpack",
        "values",
    )

    def __init__(self, data: bytes, mtype: int) -> None:
        """Walk the attribute headers of ``data`` (RFC 8489 §14), raising StunParseError.

        The header itself (cookie, length) must already have been checked.
        """
        end = len(data)
        self.size = end
        self.method, self.msg_class = method_and_class(mtype)
        values: dict[int, Reader] = {}
        order: list[tuple[int, int]] = []
        headers: list[int] = []  # offsets of every header read
        mi = mi256 = fp = -1
        pos = HEADER_LENGTH
        # pos and end are multiples of 4, so every header read is in bounds.
        while pos < end:
            attr, alen = _TL.unpack_from(data, pos)
            headers.append(pos)
            nxt = pos + 4 + alen + (-alen & 3)
            if nxt > end:
                raise StunParseError(
                    f"attribute {attr_name(attr)} overruns the message"
                )
            keep = False
            if attr == _FP:
                # §14.7: the last attribute, 4 bytes.
                if alen != 4 or nxt != end:
                    raise StunParseError(
                        "FINGERPRINT must be the last attribute, 4 bytes long"
                    )
                fp = pos
                keep = True
            elif attr == _MI256:
                # §14.6: 16 to 32 bytes, a multiple of 4; may follow MESSAGE-INTEGRITY.
                if mi256 < 0:
                    if alen < 16 or alen > 32 or alen & 3:
                        raise StunParseError(
                            f"MESSAGE-INTEGRITY-SHA256 length {alen} is not 16..32 "
                            "and a multiple of 4"
                        )
                    mi256 = pos
                    keep = True
            elif mi < 0 and mi256 < 0:
                # §14.5: anything else after MESSAGE-INTEGRITY is ignored.
                if attr == _MI:
                    if alen != 20:
                        raise StunParseError(
                            f"MESSAGE-INTEGRITY length {alen}, expected 20"
                        )
                    mi = pos
                keep = True
            if keep:
                order.append((attr, pos))
                if attr not in values:
                    values[_KEYS.get(attr, attr)] = _reader(attr, pos + 4, alen)
            pos = nxt
        self.values = values
        self.order = tuple(order)
        self.mi, self.mi256, self.fp = mi, mi256, fp
        # What MESSAGE-INTEGRITY covers starts with the type, the length as if
        # it were the last attribute (§14.5) and the cookie: the same for
        # every message of this layout.
        self.mi_header = _HEAD.pack(mtype, mi + 4, MAGIC_COOKIE) if mi >= 0 else b""
        self.unknown = tuple(t for t in values if t < 0x8000 and t not in DECODERS)
        self.cacheable = len(headers) <= LAYOUT_MAX_ATTRS
        # One struct read of the whole message: every attribute header (type
        # and length as two fields: most are small cached ints), then the
        # FINGERPRINT value if there is one.
        fmt, last = ["!"], 0
        for offset in headers:
            fmt.append(f"{offset - last}xHH")
            last = offset + 4
        if fp >= 0:
            fmt.append("I")
            last += 4
            self.hslice = slice(0, -1)
        else:
            self.hslice = slice(0, None)
        fmt.append(f"{end - last}x")
        if self.cacheable:
            self.unpack: Callable[[bytes], tuple[Any, ...]] = struct.Struct(
                "".join(fmt)
            ).unpack
            self.expected = self.unpack(data)[self.hslice]
        else:
            self.unpack = _never_cached
            self.expected = ()


def _never_cached(data: bytes) -> tuple[Any, ...]:
    raise struct.error("layout not cached")


def _header_error(mtype: int, length: int, cookie: int, size: int) -> StunParseError:
    if size < HEADER_LENGTH:
        return StunParseError(
            f"STUN message of {size} bytes is shorter than its header"
        )
    if mtype & 0xC000:
        return StunParseError("not STUN: the two top bits of the message type are set")
    if cookie != MAGIC_COOKIE:
        return StunParseError("not STUN: wrong magic cookie")
    if length + HEADER_LENGTH != size:
        return StunParseError(
            f"STUN length field says {length} bytes of attributes "
            f"but {size - HEADER_LENGTH} follow"
        )
    return StunParseError(f"STUN message length {length} is not a multiple of 4")


#: first 8 header bytes (type, length, cookie) as an int -> layout
layouts: dict[int, Layout] = {}


def layout_for(data: bytes) -> Layout:
    """Check the header of ``data``, walk its attributes and cache the layout.

    Raises :class:`~icekit.errors.StunParseError` for malformed framing.
    """
    size = len(data)
    if size < HEADER_LENGTH:
        raise _header_error(0, 0, 0, size)
    mtype, length, cookie = _HEAD.unpack_from(data)
    if (
        mtype & 0xC000
        or cookie != MAGIC_COOKIE
        or length + HEADER_LENGTH != size
        or length & 3
    ):
        raise _header_error(mtype, length, cookie, size)
    layout = Layout(data, mtype)
    if layout.cacheable:
        if len(layouts) >= LAYOUT_CACHE_SIZE:
            layouts.clear()
        layouts[_KEY.unpack_from(data)[0]] = layout
    return layout
