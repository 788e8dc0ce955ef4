"""The STUN message: header, attribute list, encoding and lazy decoding (RFC 8489 §5, §14).

Decoding makes one pass over the attribute headers, checks their framing,
records where each attribute starts and verifies FINGERPRINT; values are
converted only when asked for. MESSAGE-INTEGRITY is verified against the bytes
as received.

Connectivity checks from one peer all have the same shape (the same attribute
types and lengths in the same order), so the result of the header walk (a
"layout") is cached, keyed by the message type, length and first attribute
header. A cached layout is reused only after one precompiled ``struct`` read
confirms that every attribute header of the new message matches it.
"""

from __future__ import annotations

import hmac
import logging
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any

from ..errors import StunEncodeError, StunFingerprintError, StunParseError
from .attributes import (
    DECODERS,
    TLV_ENCODERS,
    _decode_none,
    _decode_u32,
    _decode_u64,
    attr_name,
    decode_bytes,
    decode_text,
    tlv_raw,
)
from .constants import (
    ERROR_REASONS,
    FINGERPRINT_XOR,
    HEADER_LENGTH,
    MAGIC_COOKIE,
    Attr,
    MessageClass,
    Method,
)
from .integrity import _sha1_cache, hmac_sha256, sha1_states

__all__ = ["Message", "is_stun"]

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!HHI12s")
# Type+length as one word, cookie, transaction id, first attribute header.
_HEADER_FIRST = struct.Struct("!II12sI")
_TL = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # indexed by length % 4
_unpack_header_first = _HEADER_FIRST.unpack_from
_unpack_tl = _TL.unpack_from
_unpack_u32 = _U32.unpack_from
_unpack_u64 = struct.Struct("!Q").unpack_from
_crc32 = zlib.crc32
_new_message = object.__new__
_compare_digest = hmac.compare_digest

_MI = int(Attr.MESSAGE_INTEGRITY)
_MI256 = int(Attr.MESSAGE_INTEGRITY_SHA256)
_FP = int(Attr.FINGERPRINT)
_INTEGRITY_TYPES = frozenset((_MI, _MI256, _FP))
# The integrity attributes are recomputed by encode(), never copied.
_TLV_ENCODERS = {t: e for t, e in TLV_ENCODERS.items() if t not in _INTEGRITY_TYPES}
_MI_HEADER = _TL.pack(_MI, 20)
_FP_HEADER = _TL.pack(_FP, 4)

# Layouts of up to this many attributes are cached; at most this many layouts.
_LAYOUT_MAX_ATTRS = 32
_LAYOUT_CACHE_SIZE = 512


def _message_type(method: int, msg_class: int) -> int:
    """Interleave method and class bits into the 14-bit message type (RFC 8489 §5)."""
    return (
        (method & 0x00F) | ((method & 0x070) << 1) | ((method & 0xF80) << 2) | msg_class
    )


def _split_type(message_type: int) -> tuple[int, int]:
    method = (
        (message_type & 0x000F)
        | ((message_type & 0x00E0) >> 1)
        | ((message_type & 0x3E00) >> 2)
    )
    return method, message_type & 0x0110


_CLASSES = {int(c): c for c in MessageClass}
_VALID_METHODS = frozenset(range(0x1000))
_TYPES: dict[int, tuple[int, MessageClass]] = {
    _message_type(m, c): (m, c) for m in Method for c in MessageClass
}


def _method_and_class(mtype: int) -> tuple[int, MessageClass]:
    known = _TYPES.get(mtype)
    if known is not None:
        return known
    method, klass = _split_type(mtype)
    return method, _CLASSES[klass]


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


def _random_transaction_id() -> bytes:
    return os.urandom(12)


def is_stun(data: bytes) -> bool:
    """Is ``data`` plausibly one whole STUN message? (header checks only, RFC 8489 §5, RFC 7983)."""
    return (
        len(data) >= HEADER_LENGTH
        and data[0] < 4
        and data[4:8] == _COOKIE_BYTES
        and ((data[2] << 8) | data[3]) + HEADER_LENGTH == len(data)
        and not data[3] & 3
    )


#: message bytes, transaction id -> typed value of one attribute
Reader = Callable[[bytes, bytes], Any]


def _reader(attr: int, pos: int, length: int) -> Reader:
    """A function reading the value of ``attr`` at ``pos`` (value offset) of any message."""
    decoder = DECODERS.get(attr, decode_bytes)
    # The attributes of every connectivity check get a direct reader.
    if decoder is _decode_u32 and length == 4:
        return lambda raw, txid: _unpack_u32(raw, pos)[0]
    if decoder is _decode_u64 and length == 8:
        return lambda raw, txid: _unpack_u64(raw, pos)[0]
    if decoder is _decode_none and length == 0:
        return lambda raw, txid: None
    if decoder is decode_text:

        def read_text(raw: bytes, txid: bytes) -> str:
            try:
                return raw[pos : pos + length].decode("utf-8")
            except UnicodeDecodeError:
                raise StunParseError(f"{attr_name(attr)}: not valid UTF-8") from None

        return read_text

    def read(raw: bytes, txid: bytes) -> Any:
        try:
            return decoder(raw, pos, length, txid)
        except StunParseError as exc:
            raise StunParseError(f"{attr_name(attr)}: {exc}") from None

    return read


class _Layout:
    """Where the attributes of a decoded message are: shared by same-shaped messages."""

    __slots__ = (
        "cacheable",
        "check",
        "expected",
        "fp",
        "method",
        "mi",
        "mi256",
        "mi_prefix",
        "msg_class",
        "order",
        "size",
        "unknown",
        "values",
    )

    def __init__(self, data: bytes, mtype: int) -> None:
        """Walk the attribute headers of ``data`` (RFC 8489 §14), raising StunParseError."""
        end = len(data)
        self.size = end
        self.method, self.msg_class = _method_and_class(mtype)
        values: dict[int, Reader] = {}
        order: list[tuple[int, int]] = []
        headers: list[int] = []  # offsets of every header read, for `check`
        mi = mi256 = fp = -1
        pos = HEADER_LENGTH
        # pos and end are multiples of 4, so every header read is in bounds.
        while pos < end:
            attr, alen = _unpack_tl(data, pos)
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
                    values[attr] = _reader(attr, pos + 4, alen)
            pos = nxt
        self.values = values
        self.order = tuple(order)
        self.mi, self.mi256, self.fp = mi, mi256, fp
        # The first 4 bytes of what MESSAGE-INTEGRITY covers: the type (part
        # of the cache key) and the length as if it were last (§14.5).
        self.mi_prefix = data[:2] + _U16.pack(mi + 4) if mi >= 0 else b""
        self.unknown = tuple(t for t in values if t < 0x8000 and t not in DECODERS)
        # One struct read of every header word after the first (which is in
        # the cache key) confirms that a new message has this same layout.
        # Only short layouts are cached and checked this way.
        self.cacheable = len(headers) <= _LAYOUT_MAX_ATTRS
        self.check: struct.Struct | None = None
        self.expected: tuple[Any, ...] = ()
        if self.cacheable and len(headers) > 1:
            fmt, last = ["!"], 0
            for offset in headers[1:]:
                fmt.append(f"{offset - last}xI")
                last = offset + 4
            self.check = struct.Struct("".join(fmt))
            self.expected = self.check.unpack_from(data)


_layouts: dict[int, _Layout] = {}


class Message:
    """A STUN message.

    Build one with :meth:`add` and :meth:`encode`, or parse received bytes with
    :meth:`decode`. Values are typed as described in :mod:`icekit.stun.attributes`.
    """

    __slots__ = ("_attrs", "_layout", "_raw", "method", "msg_class", "transaction_id")

    method: int
    msg_class: int
    transaction_id: bytes

    def __init__(
        self, method: int, msg_class: int, transaction_id: bytes | None = None
    ) -> None:
        if transaction_id is None:
            transaction_id = _random_transaction_id()
        elif not isinstance(transaction_id, bytes) or len(transaction_id) != 12:
            raise StunEncodeError(
                f"transaction id must be 12 bytes, not {transaction_id!r}"
            )
        try:
            valid = method in _VALID_METHODS and msg_class in _CLASSES
        except TypeError:  # unhashable
            valid = False
        if not valid:
            if not isinstance(method, int) or not 0 <= method <= 0xFFF:
                raise StunEncodeError(f"method must be a 12-bit int, not {method!r}")
            raise StunEncodeError(
                f"message class must be a MessageClass, not {msg_class!r}"
            )
        #: :class:`Method` (a plain int for methods icekit does not know)
        self.method = method
        #: :class:`MessageClass`
        self.msg_class = msg_class
        #: 12 random bytes matching responses to requests
        self.transaction_id = transaction_id
        # Attributes as (type, typed value) pairs; None while a decoded
        # message still reads its values lazily from _raw.
        self._attrs: list[tuple[int, Any]] | None = []
        self._raw: bytes | None = None
        self._layout: _Layout | None = None

    # -- building --------------------------------------------------------------------

    def add(self, attr: int, value: Any = None) -> Message:
        """Append an attribute; returns the message so calls can be chained.

        Values are checked by :meth:`encode`. MESSAGE-INTEGRITY(-SHA256) and
        FINGERPRINT are not added by hand: pass keys to :meth:`encode` instead.
        """
        if attr in _INTEGRITY_TYPES:
            raise StunEncodeError(
                f"{attr_name(attr)} is computed by encode(); do not add it by hand"
            )
        attrs = self._attrs
        if attrs is None:
            attrs = self._materialize()
        attrs.append((attr, value))
        return self

    def success_response(self) -> Message:
        """A success response to this request: same method and transaction id."""
        return Message(self.method, MessageClass.SUCCESS, self.transaction_id)

    def error_response(self, code: int, reason: str | None = None) -> Message:
        """An error response carrying ERROR-CODE (RFC 8489 §14.8).

        ``reason`` defaults to the RFC's phrase for ``code``. A 420 response
        also lists :attr:`unknown_required` in UNKNOWN-ATTRIBUTES (RFC 8489 §7.3.1).
        """
        response = Message(self.method, MessageClass.ERROR, self.transaction_id)
        if reason is None:
            reason = ERROR_REASONS.get(code, "")
        response.add(Attr.ERROR_CODE, (code, reason))
        unknown = self.unknown_required
        if code == 420 and unknown:
            response.add(Attr.UNKNOWN_ATTRIBUTES, unknown)
        return response

    # -- reading ---------------------------------------------------------------------

    @property
    def attributes(self) -> list[tuple[int, Any]]:
        """The attributes in order, as ``(type, typed value)`` pairs (a copy).

        A decoded message lists MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT too,
        but not the attributes that followed MESSAGE-INTEGRITY and were ignored.
        Raises :class:`~icekit.errors.StunParseError` if a value is malformed.
        """
        if self._attrs is not None:
            return list(self._attrs)
        layout = self._layout
        assert layout is not None
        return [(t, self._value_at(t, pos)) for t, pos in layout.order]

    def get(self, attr: int) -> Any:
        """The typed value of the first ``attr`` attribute, or ``None``.

        Raises :class:`~icekit.errors.StunParseError` if a received value is
        malformed (e.g. a PRIORITY that is not 4 bytes long).
        """
        if self._attrs is None:
            reader = self._layout.values.get(attr)  # type: ignore[union-attr]
            if reader is None:
                return None
            return reader(self._raw, self.transaction_id)  # type: ignore[arg-type]
        for t, value in self._attrs:
            if t == attr:
                return value
        return None

    def get_all(self, attr: int) -> list[Any]:
        """The typed values of every ``attr`` attribute, in order."""
        if self._attrs is None:
            layout = self._layout
            assert layout is not None
            if attr not in layout.values:
                return []
            return [self._value_at(t, pos) for t, pos in layout.order if t == attr]
        return [value for t, value in self._attrs if t == attr]

    def __contains__(self, attr: int) -> bool:
        if self._attrs is None:
            return attr in self._layout.values  # type: ignore[union-attr]
        return any(t == attr for t, _ in self._attrs)

    @property
    def unknown_required(self) -> tuple[int, ...]:
        """Unknown comprehension-required attribute types (< 0x8000), each once.

        A server or agent answers a request carrying any with 420 (RFC 8489 §7.3.1).
        """
        if self._attrs is None:
            return self._layout.unknown  # type: ignore[union-attr]
        types = dict.fromkeys(t for t, _ in self._attrs)
        return tuple(t for t in types if t < 0x8000 and t not in DECODERS)

    @property
    def raw(self) -> bytes | None:
        """The bytes this message was decoded from, or ``None`` for a built message."""
        return self._raw

    def _value_at(self, attr: int, pos: int) -> Any:
        raw = self._raw
        assert raw is not None
        length = (raw[pos + 2] << 8) | raw[pos + 3]
        try:
            return DECODERS.get(attr, decode_bytes)(
                raw, pos + 4, length, self.transaction_id
            )
        except StunParseError as exc:
            raise StunParseError(f"{attr_name(attr)}: {exc}") from None

    def _materialize(self) -> list[tuple[int, Any]]:
        attrs = self._attrs
        if attrs is None:
            attrs = self._attrs = self.attributes
        return attrs

    def __repr__(self) -> str:
        method = (
            self.method.name
            if isinstance(self.method, Method)
            else f"0x{self.method:03x}"
        )
        klass = MessageClass(self.msg_class).name
        try:
            attrs = ", ".join(f"{attr_name(t)}={v!r}" for t, v in self.attributes)
        except StunParseError:
            attrs = "<malformed>"
        return f"<Message {method} {klass} {self.transaction_id.hex()} [{attrs}]>"

    # -- encoding --------------------------------------------------------------------

    def encode(
        self,
        integrity_key: bytes | None = None,
        fingerprint: bool = True,
        integrity_sha256_key: bytes | None = None,
        sha256_length: int = 32,
    ) -> bytes:
        """Serialise the message.

        ``integrity_key`` adds MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5),
        ``integrity_sha256_key`` adds MESSAGE-INTEGRITY-SHA256 (§14.6) truncated
        to ``sha256_length`` bytes (16..32, a multiple of 4), ``fingerprint``
        adds FINGERPRINT (§14.7). They go last, in that order. Raises
        :class:`~icekit.errors.StunEncodeError` for a value that cannot be encoded.
        """
        txid = self.transaction_id
        attrs = self._attrs
        if attrs is None:
            attrs = self._materialize()
        parts: list[bytes] = []
        append = parts.append
        attr: Any = None
        value: Any = None
        try:
            for attr, value in attrs:
                encoder = _TLV_ENCODERS.get(attr)
                if encoder is not None:
                    append(encoder(attr, value, txid))
                elif attr not in _INTEGRITY_TYPES:  # those are recomputed below
                    append(tlv_raw(attr, value, txid))
        except StunEncodeError as exc:
            raise StunEncodeError(f"{_name_of(attr)}: {exc}") from None
        except (struct.error, TypeError, ValueError, OverflowError) as exc:
            raise StunEncodeError(
                f"{_name_of(attr)}: cannot encode {value!r} ({exc})"
            ) from None
        body = b"".join(parts)
        method = self.method
        mtype = (
            (method & 0x00F)
            | ((method & 0x070) << 1)
            | ((method & 0xF80) << 2)
            | self.msg_class
        )
        length = len(body)
        if integrity_key is not None:
            # RFC 8489 §14.5: the HMAC covers the header (length counting the
            # MESSAGE-INTEGRITY attribute itself) and everything before it.
            inner, outer = _sha1_cache.get(integrity_key) or sha1_states(integrity_key)
            inner = inner.copy()
            inner.update(_HEADER.pack(mtype, length + 24, MAGIC_COOKIE, txid))
            inner.update(body)
            outer = outer.copy()
            outer.update(inner.digest())
            body = b"".join((body, _MI_HEADER, outer.digest()))
            length += 24
        if integrity_sha256_key is not None:
            if sha256_length not in (16, 20, 24, 28, 32):
                raise StunEncodeError(
                    f"MESSAGE-INTEGRITY-SHA256 length must be 16..32 and a multiple of 4, "
                    f"not {sha256_length}"
                )
            header = _HEADER.pack(mtype, length + 4 + sha256_length, MAGIC_COOKIE, txid)
            mac = hmac_sha256(integrity_sha256_key, header, body)[:sha256_length]
            body = b"".join((body, _TL.pack(_MI256, sha256_length), mac))
            length += 4 + sha256_length
        if fingerprint:
            length += 8
        if length > 0xFFFF:
            raise StunEncodeError(f"message body of {length} bytes is too long")
        header = _HEADER.pack(mtype, length, MAGIC_COOKIE, txid)
        if fingerprint:
            # RFC 8489 §14.7: CRC-32 of the message up to FINGERPRINT, XOR 0x5354554e.
            crc = _crc32(body, _crc32(header)) ^ FINGERPRINT_XOR
            return b"".join((header, body, _FP_HEADER, _U32.pack(crc)))
        return header + body

    # -- decoding --------------------------------------------------------------------

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Message:
        """Parse one STUN message and verify its FINGERPRINT, if any.

        Raises :class:`~icekit.errors.StunParseError` for malformed framing and
        :class:`~icekit.errors.StunFingerprintError` for a wrong FINGERPRINT.
        Values are checked when read (:meth:`get` raises ``StunParseError``).
        Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256
        and FINGERPRINT are ignored (RFC 8489 §14.5).
        """
        if type(data) is bytes:
            buf = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            buf = bytes(data)
        else:
            raise StunParseError(f"STUN data must be bytes, not {type(data).__name__}")
        end = len(buf)
        if end >= 24:
            type_length, cookie, txid, first = _unpack_header_first(buf)
            key = (type_length << 32) | first
            layout = _layouts.get(key)
            if (
                layout is None
                or layout.size != end
                or cookie != MAGIC_COOKIE
                or (
                    layout.check is not None
                    and layout.check.unpack_from(buf) != layout.expected
                )
            ):
                mtype, length = type_length >> 16, type_length & 0xFFFF
                if (
                    mtype & 0xC000
                    or cookie != MAGIC_COOKIE
                    or length + HEADER_LENGTH != end
                ):
                    raise _header_error(mtype, length, cookie, end)
                if length & 3:
                    raise _header_error(mtype, length, cookie, end)
                layout = _Layout(buf, mtype)
                if layout.cacheable:
                    if len(_layouts) >= _LAYOUT_CACHE_SIZE:
                        _layouts.clear()
                    _layouts[key] = layout
        else:
            if end < HEADER_LENGTH:
                raise _header_error(0, 0, 0, end)
            mtype, length, cookie, txid = _HEADER.unpack_from(buf)
            if (
                mtype & 0xC000
                or cookie != MAGIC_COOKIE
                or length + HEADER_LENGTH != end
                or length
            ):
                raise _header_error(mtype, length, cookie, end)
            layout = _Layout(buf, mtype)
        fp = layout.fp
        # RFC 8489 §14.7: CRC-32 of everything before FINGERPRINT, whose
        # length field already counts FINGERPRINT (it is last).
        if (
            fp >= 0
            and _crc32(buf[:fp]) ^ FINGERPRINT_XOR != _unpack_u32(buf, fp + 4)[0]
        ):
            raise StunFingerprintError("FINGERPRINT does not match the message")
        msg = _new_message(cls)
        msg.method = layout.method
        msg.msg_class = layout.msg_class
        msg.transaction_id = txid
        msg._attrs = None
        msg._raw = buf
        msg._layout = layout
        return msg

    # -- integrity -------------------------------------------------------------------

    @property
    def has_integrity(self) -> bool:
        """Did the received message carry MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256?"""
        layout = self._layout
        return layout is not None and (layout.mi >= 0 or layout.mi256 >= 0)

    def verify_integrity(self, key: bytes) -> bool:
        """Check the received MESSAGE-INTEGRITY(-SHA256) against ``key``, in constant time.

        MESSAGE-INTEGRITY-SHA256 is checked when present, MESSAGE-INTEGRITY
        otherwise (RFC 8489 §9.1.3, §9.2.4). A message without either, or one
        that was built rather than decoded, fails.
        """
        layout = self._layout
        if layout is None:
            return False
        raw = self._raw
        assert raw is not None
        pos = layout.mi256
        if pos >= 0:
            # RFC 8489 §14.6: length field as if MESSAGE-INTEGRITY-SHA256 were last.
            alen = raw[pos + 3]
            header = raw[:2] + _U16.pack(pos - HEADER_LENGTH + 4 + alen)
            mac = hmac_sha256(key, header, raw[4:pos])[:alen]
            return hmac.compare_digest(mac, raw[pos + 4 : pos + 4 + alen])
        pos = layout.mi
        if pos >= 0:
            # RFC 8489 §14.5: length field as if MESSAGE-INTEGRITY were last.
            inner, outer = _sha1_cache.get(key) or sha1_states(key)
            inner = inner.copy()
            inner.update(layout.mi_prefix)
            inner.update(raw[4:pos])
            outer = outer.copy()
            outer.update(inner.digest())
            return _compare_digest(outer.digest(), raw[pos + 4 : pos + 24])
        return False


def _raw_value(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise StunEncodeError(
            f"an unknown attribute takes bytes, not {type(value).__name__}"
        )
    return bytes(value)


def _name_of(attr: Any) -> str:
    return attr_name(attr) if isinstance(attr, int) else repr(attr)
