"""The STUN message: header, attribute list, encoding and lazy decoding (RFC 8489 §5, §14).

Decoding makes one pass over the attributes, checks their framing, records
where each one starts and verifies FINGERPRINT; values are converted only when
asked for. MESSAGE-INTEGRITY is verified against the bytes as received.
"""

from __future__ import annotations

import hmac
import logging
import os
import struct
import zlib
from collections.abc import Iterable
from typing import Any

from ..errors import StunEncodeError, StunFingerprintError, StunParseError
from .attributes import (
    DECODERS,
    ENCODERS,
    attr_name,
    decode_bytes,
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
from .integrity import hmac_sha1, hmac_sha256

__all__ = ["Message", "is_stun"]

_new_message = object.__new__

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!HHI12s")
_TL = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
_unpack_header = _HEADER.unpack_from
_unpack_tl = _TL.unpack_from
_unpack_u32 = _U32.unpack_from
_crc32 = zlib.crc32
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # indexed by length % 4

_MI = int(Attr.MESSAGE_INTEGRITY)
_MI256 = int(Attr.MESSAGE_INTEGRITY_SHA256)
_FP = int(Attr.FINGERPRINT)
_INTEGRITY_TYPES = frozenset((_MI, _MI256, _FP))
_MI_HEADER = _TL.pack(_MI, 20)
_FP_HEADER = _TL.pack(_FP, 4)


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
# Message type -> (Method, MessageClass) for every known pair: decoding then
# costs one dictionary lookup instead of two enum constructions.
_TYPES: dict[int, tuple[int, MessageClass]] = {
    _message_type(m, c): (m, c) for m in Method for c in MessageClass
}


def _header_error(mtype: int, length: int, cookie: int, size: int) -> StunParseError:
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


class Message:
    """A STUN message.

    Build one with :meth:`add` and :meth:`encode`, or parse received bytes with
    :meth:`decode`. Values are typed as described in :mod:`icekit.stun.attributes`.
    """

    __slots__ = (
        "_attrs",
        "_index",
        "_mi",
        "_mi256",
        "_raw",
        "method",
        "msg_class",
        "transaction_id",
    )

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
        if not isinstance(method, int) or not 0 <= method <= 0xFFF:
            raise StunEncodeError(f"method must be a 12-bit int, not {method!r}")
        if msg_class not in _CLASSES:
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
        # Decoded messages: attribute type -> offset of its first occurrence.
        self._index: dict[int, int] = {}
        # Offsets of MESSAGE-INTEGRITY(-SHA256) in _raw, or -1.
        self._mi = -1
        self._mi256 = -1

    # -- building --------------------------------------------------------------------

    def add(self, attr: int, value: Any = None) -> Message:
        """Append an attribute; returns the message so calls can be chained.

        MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are not added by hand: pass
        keys to :meth:`encode` instead.
        """
        if attr in _INTEGRITY_TYPES:
            raise StunEncodeError(
                f"{attr_name(attr)} is computed by encode(); do not add it by hand"
            )
        if not isinstance(attr, int) or not 0 <= attr <= 0xFFFF:
            raise StunEncodeError(f"attribute type must be a 16-bit int, not {attr!r}")
        self._materialize().append((attr, value))
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
        return [(t, self._value_at(t, pos)) for t, pos in self._walk()]

    def get(self, attr: int) -> Any:
        """The typed value of the first ``attr`` attribute, or ``None``.

        Raises :class:`~icekit.errors.StunParseError` if a received value is
        malformed (e.g. a PRIORITY that is not 4 bytes long).
        """
        if self._attrs is None:
            pos = self._index.get(attr)
            if pos is None:
                return None
            raw = self._raw
            assert raw is not None
            try:
                return DECODERS.get(attr, decode_bytes)(
                    raw,
                    pos + 4,
                    (raw[pos + 2] << 8) | raw[pos + 3],
                    self.transaction_id,
                )
            except StunParseError as exc:
                raise StunParseError(f"{attr_name(attr)}: {exc}") from None
        for t, value in self._attrs:
            if t == attr:
                return value
        return None

    def get_all(self, attr: int) -> list[Any]:
        """The typed values of every ``attr`` attribute, in order."""
        if self._attrs is None:
            if attr not in self._index:
                return []
            return [self._value_at(t, pos) for t, pos in self._walk() if t == attr]
        return [value for t, value in self._attrs if t == attr]

    def __contains__(self, attr: int) -> bool:
        if self._attrs is None:
            return attr in self._index
        return any(t == attr for t, _ in self._attrs)

    @property
    def unknown_required(self) -> tuple[int, ...]:
        """Unknown comprehension-required attribute types (< 0x8000), each once.

        A server or agent answers a request carrying any with 420 (RFC 8489 §7.3.1).
        """
        if self._attrs is None:
            types: Iterable[int] = self._index
        else:
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

    def _walk(self) -> list[tuple[int, int]]:
        """(type, offset) of every attribute kept by :meth:`decode`, in order."""
        raw = self._raw
        assert raw is not None
        found = []
        pos, end = HEADER_LENGTH, len(raw)
        protected = False
        while pos < end:
            attr, alen = _TL.unpack_from(raw, pos)
            if attr == _MI:
                if not protected:
                    found.append((attr, pos))
                protected = True
            elif attr == _MI256:
                if pos == self._mi256:
                    found.append((attr, pos))
                protected = True
            elif attr == _FP or not protected:
                found.append((attr, pos))
            pos += 4 + alen + (-alen & 3)
        return found

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
        parts: list[bytes] = []
        append = parts.append
        for attr, value in self._materialize():
            if attr in _INTEGRITY_TYPES:
                continue  # recomputed below
            encoder = ENCODERS.get(attr)
            try:
                body = (
                    encoder(value, txid) if encoder is not None else _raw_value(value)
                )
            except StunEncodeError as exc:
                raise StunEncodeError(f"{attr_name(attr)}: {exc}") from None
            except (struct.error, TypeError, ValueError, OverflowError) as exc:
                raise StunEncodeError(
                    f"{attr_name(attr)}: cannot encode {value!r} ({exc})"
                ) from None
            length = len(body)
            if length > 0xFFFF:
                raise StunEncodeError(
                    f"{attr_name(attr)}: value of {length} bytes is too long"
                )
            append(_TL.pack(attr, length))
            append(body)
            if length & 3:
                append(_PADDING[length & 3])
        body = b"".join(parts)
        mtype = _message_type(self.method, self.msg_class)
        if integrity_key is not None:
            # RFC 8489 §14.5: the HMAC covers the header (length counting the
            # MESSAGE-INTEGRITY attribute itself) and everything before it.
            header = _HEADER.pack(mtype, len(body) + 24, MAGIC_COOKIE, txid)
            body += _MI_HEADER + hmac_sha1(integrity_key, header, body)
        if integrity_sha256_key is not None:
            if sha256_length not in (16, 20, 24, 28, 32):
                raise StunEncodeError(
                    f"MESSAGE-INTEGRITY-SHA256 length must be 16..32 and a multiple of 4, "
                    f"not {sha256_length}"
                )
            header = _HEADER.pack(
                mtype, len(body) + 4 + sha256_length, MAGIC_COOKIE, txid
            )
            mac = hmac_sha256(integrity_sha256_key, header, body)[:sha256_length]
            body += _TL.pack(_MI256, sha256_length) + mac
        if fingerprint:
            header = _HEADER.pack(mtype, len(body) + 8, MAGIC_COOKIE, txid)
            crc = zlib.crc32(body, zlib.crc32(header)) ^ FINGERPRINT_XOR
            return header + body + _FP_HEADER + _U32.pack(crc)
        if len(body) > 0xFFFF:
            raise StunEncodeError(f"message body of {len(body)} bytes is too long")
        return _HEADER.pack(mtype, len(body), MAGIC_COOKIE, txid) + body

    # -- decoding --------------------------------------------------------------------

    @classmethod
    def decode(cls, data: bytes) -> Message:
        """Parse one STUN message and verify its FINGERPRINT, if any.

        Raises :class:`~icekit.errors.StunParseError` for malformed framing and
        :class:`~icekit.errors.StunFingerprintError` for a wrong FINGERPRINT.
        Values are checked when read (:meth:`get` raises ``StunParseError``).
        Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256
        and FINGERPRINT are ignored (RFC 8489 §14.5).
        """
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise StunParseError(
                    f"STUN data must be bytes, not {type(data).__name__}"
                )
            data = bytes(data)
        end = len(data)
        if end < HEADER_LENGTH:
            raise StunParseError(
                f"STUN message of {end} bytes is shorter than its header"
            )
        mtype, length, cookie, txid = _unpack_header(data)
        if (
            mtype & 0xC000
            or cookie != MAGIC_COOKIE
            or length + HEADER_LENGTH != end
            or length & 3
        ):
            raise _header_error(mtype, length, cookie, end)

        msg = _new_message(cls)
        known = _TYPES.get(mtype)
        if known is None:
            method, klass = _split_type(mtype)
            msg.method, msg.msg_class = method, _CLASSES[klass]
        else:
            msg.method, msg.msg_class = known
        msg.transaction_id = txid
        msg._attrs = None
        msg._raw = data
        msg._index = index = {}

        # One pass over the type-length headers (RFC 8489 §14): pos and end
        # are multiples of 4, so every header read is in bounds.
        unpack_tl = _unpack_tl
        pos = HEADER_LENGTH
        while pos < end:
            attr, alen = unpack_tl(data, pos)
            if attr in _INTEGRITY_TYPES:
                break
            if attr not in index:
                index[attr] = pos
            pos += 4 + alen + (-alen & 3)
        else:
            if pos != end:
                raise StunParseError("the last attribute overruns the message")
            msg._mi = msg._mi256 = -1
            return msg

        # MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, in that
        # order; anything else after MESSAGE-INTEGRITY is ignored (§14.5, §14.6).
        mi = mi256 = -1
        while pos < end:
            attr, alen = unpack_tl(data, pos)
            nxt = pos + 4 + alen + (-alen & 3)
            if nxt > end:
                raise StunParseError(
                    f"attribute {attr_name(attr)} overruns the message"
                )
            if attr == _MI:
                if mi < 0 and mi256 < 0:
                    if alen != 20:
                        raise StunParseError(
                            f"MESSAGE-INTEGRITY length {alen}, expected 20"
                        )
                    mi = index[attr] = pos
            elif attr == _MI256:
                if mi256 < 0:
                    if alen < 16 or alen > 32 or alen & 3:
                        raise StunParseError(
                            f"MESSAGE-INTEGRITY-SHA256 length {alen} is not 16..32 "
                            "and a multiple of 4"
                        )
                    mi256 = index[attr] = pos
            elif attr == _FP:
                # §14.7: the last attribute; CRC-32 of everything before it,
                # whose length field already counts FINGERPRINT.
                if alen != 4 or nxt != end:
                    raise StunParseError(
                        "FINGERPRINT must be the last attribute, 4 bytes long"
                    )
                if (
                    _crc32(data[:pos]) ^ FINGERPRINT_XOR
                    != _unpack_u32(data, pos + 4)[0]
                ):
                    raise StunFingerprintError("FINGERPRINT does not match the message")
                index[attr] = pos
            pos = nxt
        msg._mi = mi
        msg._mi256 = mi256
        return msg

    # -- integrity -------------------------------------------------------------------

    @property
    def has_integrity(self) -> bool:
        """Did the received message carry MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256?"""
        return self._mi >= 0 or self._mi256 >= 0

    def verify_integrity(self, key: bytes) -> bool:
        """Check the received MESSAGE-INTEGRITY(-SHA256) against ``key``, in constant time.

        MESSAGE-INTEGRITY-SHA256 is checked when present, MESSAGE-INTEGRITY
        otherwise (RFC 8489 §9.1.3, §9.2.4). A message without either, or one
        that was built rather than decoded, fails.
        """
        raw = self._raw
        if raw is None:
            return False
        pos = self._mi256
        if pos >= 0:
            alen = raw[pos + 3]
            header = raw[:2] + _U16.pack(pos - HEADER_LENGTH + 4 + alen)
            mac = hmac_sha256(key, header, raw[4:pos])[:alen]
            return hmac.compare_digest(mac, raw[pos + 4 : pos + 4 + alen])
        pos = self._mi
        if pos >= 0:
            # RFC 8489 §14.5: length field as if MESSAGE-INTEGRITY were last.
            mac = hmac_sha1(key, raw[:2] + _U16.pack(pos + 4) + raw[4:pos])
            return hmac.compare_digest(mac, raw[pos + 4 : pos + 24])
        return False


def _raw_value(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise StunEncodeError(
            f"an unknown attribute takes bytes, not {type(value).__name__}"
        )
    return bytes(value)
