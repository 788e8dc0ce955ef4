"""The STUN message: header, attribute list, encoding and lazy decoding (RFC 8489 §5, §14).

Decoding finds where the attributes are (see :mod:`icekit.stun.layout`, which
caches that per message shape) and verifies FINGERPRINT; values are converted
only when asked for. MESSAGE-INTEGRITY is verified against the bytes as
received.
"""

from __future__ import annotations

import hmac
import logging
import os
import struct
import zlib
from typing import Any

from ..demux import is_stun_candidate
from ..errors import StunEncodeError, StunFingerprintError, StunParseError
from .attributes import (
    DECODERS,
    TXID_TLV_ENCODERS,
    VALUE_TLV_ENCODERS,
    attr_name,
    decode_bytes,
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
from .integrity import IntegrityKey, KeyLike, hmac_sha256
from .layout import Layout, Reader, layout_for
from .layout import layouts as _layouts

__all__ = ["Message", "is_stun"]

logger = logging.getLogger(__name__)

# Type, length and cookie as one word (the layout cache key), transaction id.
_HEAD = struct.Struct("!Q12s")
_TL = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_unpack_head = _HEAD.unpack_from
_unpack_u32 = _U32.unpack_from
_crc32 = zlib.crc32
_new_message = object.__new__
_compare_digest = hmac.compare_digest
_struct_error = struct.error

# Sets and dictionaries hold the enum members themselves, so that lookups
# with ``Attr.X`` / ``Method.X`` match by identity.
_MI = Attr.MESSAGE_INTEGRITY
_MI256 = Attr.MESSAGE_INTEGRITY_SHA256
_FP = Attr.FINGERPRINT
_INTEGRITY_TYPES = frozenset((_MI, _MI256, _FP))
# The integrity attributes are recomputed by encode(), never copied.
_VALUE_TLV = {t: e for t, e in VALUE_TLV_ENCODERS.items() if t not in _INTEGRITY_TYPES}
_MI_HEADER = _TL.pack(_MI, 20)
_FP_TLV = struct.Struct("!HHI")
_pack_head8 = struct.Struct("!HHI").pack

_pack_fp = _FP_TLV.pack

_CLASSES = {c: c for c in MessageClass}
_VALID_METHODS = frozenset([*Method, *range(0x1000)])


def _random_transaction_id() -> bytes:
    return os.urandom(12)


def is_stun(data: bytes) -> bool:
    """Is ``data`` plausibly one whole STUN message? (header checks only, RFC 8489 §5, RFC 7983)."""
    return is_stun_candidate(data) and ((data[2] << 8) | data[3]) + HEADER_LENGTH == len(data)


class Message:
    """A STUN message.

    Build one with :meth:`add` and :meth:`encode`, or parse received bytes with
    :meth:`decode`. Values are typed as described in :mod:`icekit.stun.attributes`.
    """

    __slots__ = (
        "_attrs",
        "_layout",
        "_raw",
        "_values",
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
        elif (
            type(transaction_id) is not bytes and not isinstance(transaction_id, bytes)
        ) or len(transaction_id) != 12:
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
        self._layout: Layout | None = None
        # The layout's value readers while values are read lazily from _raw.
        self._values: dict[int, Reader] | None = None

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
        values = self._values
        if values is not None:
            reader = values.get(attr)
            if reader is None:
                return None
            return reader(self._raw)[0]  # type: ignore[arg-type]
        for t, value in self._attrs:  # type: ignore[union-attr]
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
        values = self._values
        if values is not None:
            return attr in values
        return any(t == attr for t, _ in self._attrs)  # type: ignore[union-attr]

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
            self._values = None
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
        integrity_key: KeyLike | None = None,
        fingerprint: bool = True,
        integrity_sha256_key: KeyLike | None = None,
        sha256_length: int = 32,
    ) -> bytes:
        """Serialise the message.

        ``integrity_key`` adds MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5),
        ``integrity_sha256_key`` adds MESSAGE-INTEGRITY-SHA256 (§14.6) truncated
        to ``sha256_length`` bytes (16..32, a multiple of 4), ``fingerprint``
        adds FINGERPRINT (§14.7). They go last, in that order. A key is
        bytes or an :class:`~icekit.stun.IntegrityKey` (faster: its HMAC
        states are computed once). Raises
        :class:`~icekit.errors.StunEncodeError` for a value that cannot be encoded.
        """
        txid = self.transaction_id
        attrs = self._attrs
        if attrs is None:
            attrs = self._materialize()
        if type(txid) is not bytes or len(txid) != 12:
            raise StunEncodeError(f"transaction id must be 12 bytes, not {txid!r}")
        # The transaction id leads the body so that HMAC and CRC take the
        # header's first 8 bytes and the rest in one piece each.
        parts: list[bytes] = [txid]
        append = parts.append
        value_tlv = _VALUE_TLV.get
        attr: Any = None
        value: Any = None
        try:
            for attr, value in attrs:
                encoder = value_tlv(attr)
                if encoder is not None:
                    append(encoder(value))
                else:
                    append(_other_tlv(attr, value, txid))
        except StunEncodeError as exc:
            raise StunEncodeError(f"{_name_of(attr)}: {exc}") from None
        except KeyError:  # the encoder of a flag attribute got a value
            raise StunEncodeError(
                f"{_name_of(attr)}: a flag attribute takes None, not {value!r}"
            ) from None
        except (struct.error, TypeError, ValueError, OverflowError) as exc:
            raise StunEncodeError(
                f"{_name_of(attr)}: cannot encode {value!r} ({exc})"
            ) from None
        body = b"".join(parts)
        method = self.method
        if method < 0x10:  # every method icekit knows: no bits to move
            mtype = method | self.msg_class
        else:
            mtype = (
                (method & 0x00F)
                | ((method & 0x070) << 1)
                | ((method & 0xF80) << 2)
                | self.msg_class
            )
        length = len(body) - 12
        if integrity_key is not None:
            # RFC 8489 §14.5: the HMAC covers the header (length counting the
            # MESSAGE-INTEGRITY attribute itself) and everything before it.
            if not isinstance(integrity_key, IntegrityKey):
                integrity_key = IntegrityKey(integrity_key)
            inner = integrity_key.sha1_inner.copy()
            inner.update(_pack_head8(mtype, length + 24, MAGIC_COOKIE))
            inner.update(body)
            outer = integrity_key.sha1_outer.copy()
            outer.update(inner.digest())
            body = b"".join((body, _MI_HEADER, outer.digest()))
            length += 24
        if integrity_sha256_key is not None:
            if sha256_length not in (16, 20, 24, 28, 32):
                raise StunEncodeError(
                    f"MESSAGE-INTEGRITY-SHA256 length must be 16..32 and a multiple of 4, "
                    f"not {sha256_length}"
                )
            header = _pack_head8(mtype, length + 4 + sha256_length, MAGIC_COOKIE)
            mac = hmac_sha256(integrity_sha256_key, header, body)[:sha256_length]
            body = b"".join((body, _TL.pack(_MI256, sha256_length), mac))
            length += 4 + sha256_length
        if fingerprint:
            length += 8
        if length > 0xFFFF:
            raise StunEncodeError(f"message body of {length} bytes is too long")
        header = _pack_head8(mtype, length, MAGIC_COOKIE)
        if fingerprint:
            # RFC 8489 §14.7: CRC-32 of the message up to FINGERPRINT, XOR 0x5354554e.
            crc = _crc32(body, _crc32(header)) ^ FINGERPRINT_XOR
            return b"".join((header, body, _pack_fp(_FP, 4, crc)))
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
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise StunParseError(
                    f"STUN data must be bytes, not {type(data).__name__}"
                )
            data = bytes(data)
        # A cached layout fits if the type, length and cookie (the key), the
        # size (Struct.unpack demands it) and every attribute header match.
        try:
            key, txid = _unpack_head(data)
            layout = _layouts[key]
            fields = layout.unpack(data)
        except (KeyError, _struct_error):
            fields = None
        # RFC 8489 §14.7: FINGERPRINT is the CRC-32 of everything before it
        # (whose length field already counts FINGERPRINT, the last attribute).
        if fields is None or fields[layout.hslice] != layout.expected:
            layout = layout_for(data)
            txid = data[8:20]
            fp = layout.fp
            if (
                fp >= 0
                and _crc32(data[:fp]) ^ FINGERPRINT_XOR != _unpack_u32(data, fp + 4)[0]
            ):
                raise StunFingerprintError("FINGERPRINT does not match the message")
        else:
            fp = layout.fp
            if fp >= 0 and _crc32(data[:fp]) ^ FINGERPRINT_XOR != fields[-1]:
                raise StunFingerprintError("FINGERPRINT does not match the message")
        msg = _new_message(cls)
        msg.method = layout.method
        msg.msg_class = layout.msg_class
        msg.transaction_id = txid
        msg._attrs = None
        msg._raw = data
        msg._layout = layout
        msg._values = layout.values
        return msg

    # -- integrity -------------------------------------------------------------------

    @property
    def has_integrity(self) -> bool:
        """Did the received message carry MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256?"""
        layout = self._layout
        return layout is not None and (layout.mi >= 0 or layout.mi256 >= 0)

    def verify_integrity(self, key: KeyLike) -> bool:
        """Check the received MESSAGE-INTEGRITY(-SHA256) against ``key``, in constant time.

        MESSAGE-INTEGRITY-SHA256 is checked when present, MESSAGE-INTEGRITY
        otherwise (RFC 8489 §9.1.3, §9.2.4). A message without either, or one
        that was built rather than decoded, fails. ``key`` is bytes or an
        :class:`~icekit.stun.IntegrityKey` (faster: states computed once).
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
            # RFC 8489 §14.5: length field as if MESSAGE-INTEGRITY were last;
            # the layout holds those first 8 header bytes.
            if not isinstance(key, IntegrityKey):
                key = IntegrityKey(key)
            inner = key.sha1_inner.copy()
            inner.update(layout.mi_header)
            inner.update(raw[8:pos])
            outer = key.sha1_outer.copy()
            outer.update(inner.digest())
            return _compare_digest(outer.digest(), raw[pos + 4 : pos + 24])
        return False


def _other_tlv(attr: Any, value: Any, txid: bytes) -> bytes:
    encoder = TXID_TLV_ENCODERS.get(attr)
    if encoder is not None:
        return encoder(attr, value, txid)
    if attr in _INTEGRITY_TYPES:  # recomputed by encode()
        return b""
    return tlv_raw(attr, value, txid)


def _name_of(attr: Any) -> str:
    return attr_name(attr) if isinstance(attr, int) else repr(attr)
