"""Value codecs of the STUN attributes (RFC 8489 §14 and the RFCs in ``constants``).

Each known attribute type has an encoder (typed value -> value bytes, without
the type-length header or padding) and a decoder (received bytes at an offset
-> typed value). Decoders run lazily, when :meth:`Message.get` asks for a value,
so an agent pays only for the attributes it reads.

Typed values:

* addresses (MAPPED-ADDRESS, XOR-*-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN,
  OTHER-ADDRESS): ``(host, port)``
* USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN: ``str``
* PRIORITY, LIFETIME, NOMINATION, CONNECTION-ID, CHANNEL-NUMBER,
  REQUESTED-TRANSPORT, REQUESTED-/ADDITIONAL-ADDRESS-FAMILY, CHANGE-REQUEST,
  RESPONSE-PORT, FINGERPRINT, PASSWORD-ALGORITHM: ``int``
* ICE-CONTROLLING, ICE-CONTROLLED: ``int`` (64-bit tie-breaker)
* USE-CANDIDATE, DONT-FRAGMENT: ``None``; EVEN-PORT: ``bool`` (the R bit)
* ERROR-CODE: ``(code, reason)``; ADDRESS-ERROR-CODE: ``(family, code, reason)``
* UNKNOWN-ATTRIBUTES, PASSWORD-ALGORITHMS: ``tuple[int, ...]``
* ICMP: ``(icmp_type, icmp_code, error_data)``
* DATA, PADDING, RESERVATION-TOKEN, USERHASH, MESSAGE-INTEGRITY(-SHA256) and
  unknown types: ``bytes``
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import StunEncodeError, StunParseError
from .constants import MAGIC_COOKIE, Attr

__all__ = [
    "DECODERS",
    "ENCODERS",
    "EXPECTED_LENGTH",
    "TLV_ENCODERS",
    "TXID_TLV_ENCODERS",
    "VALUE_TLV_ENCODERS",
    "VARIABLE",
    "Decoder",
    "Encoder",
    "TLVEncoder",
    "attr_name",
    "decode_address",
    "encode_address",
    "tlv_raw",
]

#: value, transaction id -> value bytes
Encoder = Callable[[Any, bytes], bytes]
#: message bytes, value offset, value length, transaction id -> typed value
Decoder = Callable[[bytes, int, int, bytes], Any]

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_U16_PAD = struct.Struct("!H2x")
_U8_PAD = struct.Struct("!B3x")
_ADDR4 = struct.Struct("!xBH4s")
_ADDR6 = struct.Struct("!xBH16s")
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
_COOKIE_HI = MAGIC_COOKIE >> 16
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_ntop = socket.inet_ntop
_inet_ntoa = socket.inet_ntoa
_inet_pton = socket.inet_pton

#: Marker in :data:`EXPECTED_LENGTH` for attributes whose length varies.
VARIABLE = -1


def attr_name(attr_type: int) -> str:
    """The RFC name of an attribute type (``XOR-MAPPED-ADDRESS``), or its hex value."""
    try:
        return Attr(attr_type).name.replace("_", "-")
    except ValueError:
        return f"0x{attr_type:04X}"


# -- addresses (RFC 8489 §14.1, §14.2) ---------------------------------------


def _host_bytes(host: object) -> bytes:
    if not isinstance(host, str):
        raise StunEncodeError(f"address host must be str, not {type(host).__name__}")
    try:
        return _inet_pton(_AF_INET, host)
    except (OSError, ValueError):
        pass
    try:
        return _inet_pton(_AF_INET6, host)
    except (OSError, ValueError):
        raise StunEncodeError(
            f"address host {host!r} is not an IPv4 or IPv6 literal"
        ) from None


def _split_address(value: object) -> tuple[bytes, int]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise StunEncodeError(f"address must be a (host, port) tuple, not {value!r}")
    host, port = value
    if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise StunEncodeError(f"address port must be an int in 0..65535, not {port!r}")
    return _host_bytes(host), port


def encode_address(value: Any, txid: bytes) -> bytes:
    """Encode ``(host, port)`` as MAPPED-ADDRESS and friends do (RFC 8489 §14.1)."""
    packed, port = _split_address(value)
    if len(packed) == 4:
        return _ADDR4.pack(1, port, packed)
    return _ADDR6.pack(2, port, packed)


def encode_xor_address(value: Any, txid: bytes) -> bytes:
    """Encode ``(host, port)`` as XOR-MAPPED-ADDRESS (RFC 8489 §14.2)."""
    packed, port = _split_address(value)
    port ^= _COOKIE_HI
    if len(packed) == 4:
        return _ADDR4.pack(
            1, port, (int.from_bytes(packed, "big") ^ MAGIC_COOKIE).to_bytes(4, "big")
        )
    pad = int.from_bytes(_COOKIE_BYTES + txid, "big")
    return _ADDR6.pack(
        2, port, (int.from_bytes(packed, "big") ^ pad).to_bytes(16, "big")
    )


def decode_address(data: bytes, pos: int, length: int, txid: bytes) -> tuple[str, int]:
    """Decode MAPPED-ADDRESS and friends (RFC 8489 §14.1)."""
    if length == 8 and data[pos + 1] == 1:
        return _inet_ntoa(data[pos + 4 : pos + 8]), _U16.unpack_from(data, pos + 2)[0]
    if length == 20 and data[pos + 1] == 2:
        return _inet_ntop(_AF_INET6, data[pos + 4 : pos + 20]), _U16.unpack_from(
            data, pos + 2
        )[0]
    raise StunParseError(
        f"address attribute: bad family {data[pos + 1] if length > 1 else None} "
        f"or length {length}"
    )


def decode_xor_address(
    data: bytes, pos: int, length: int, txid: bytes
) -> tuple[str, int]:
    """Decode XOR-MAPPED-ADDRESS and friends (RFC 8489 §14.2)."""
    port = _U16.unpack_from(data, pos + 2)[0] ^ _COOKIE_HI if length >= 4 else 0
    if length == 8 and data[pos + 1] == 1:
        addr = _U32.unpack_from(data, pos + 4)[0] ^ MAGIC_COOKIE
        return _inet_ntoa(_U32.pack(addr)), port
    if length == 20 and data[pos + 1] == 2:
        pad = int.from_bytes(_COOKIE_BYTES + txid, "big")
        addr6 = int.from_bytes(data[pos + 4 : pos + 20], "big") ^ pad
        return _inet_ntop(_AF_INET6, addr6.to_bytes(16, "big")), port
    raise StunParseError(
        f"XOR address attribute: bad family {data[pos + 1] if length > 1 else None} "
        f"or length {length}"
    )


# -- text ----------------------------------------------------------------------


def _text_encoder(max_bytes: int, max_chars: int) -> Encoder:
    def encode(value: Any, txid: bytes) -> bytes:
        if not isinstance(value, str):
            raise StunEncodeError(
                f"text attribute must be str, not {type(value).__name__}"
            )
        if len(value) > max_chars:
            raise StunEncodeError(f"text attribute longer than {max_chars} characters")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise StunEncodeError("text attribute is not encodable as UTF-8") from None
        if len(raw) > max_bytes:
            raise StunEncodeError(f"text attribute longer than {max_bytes} bytes")
        return raw

    return encode


def decode_text(data: bytes, pos: int, length: int, txid: bytes) -> str:
    """Decode a UTF-8 text attribute."""
    try:
        return data[pos : pos + length].decode("utf-8")
    except UnicodeDecodeError:
        raise StunParseError("text attribute is not valid UTF-8") from None


# RFC 8489 §14.3: USERNAME fewer than 509 bytes; §14.9, §14.10, §14.14 and
# RFC 8016 §3.2: REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN fewer than 128
# characters (up to 763 bytes).
_encode_username = _text_encoder(508, 508)
_encode_short_text = _text_encoder(763, 127)


# -- integers and flags --------------------------------------------------------


def _encode_u32(value: Any, txid: bytes) -> bytes:
    return _U32.pack(value)


def _wrong_length(length: int, expected: int) -> StunParseError:
    return StunParseError(f"value of {length} bytes, expected {expected}")


def _decode_u32(data: bytes, pos: int, length: int, txid: bytes) -> Any:
    if length != 4:
        raise _wrong_length(length, 4)
    return _U32.unpack_from(data, pos)[0]


def _encode_u64(value: Any, txid: bytes) -> bytes:
    return _U64.pack(value)


def _decode_u64(data: bytes, pos: int, length: int, txid: bytes) -> Any:
    if length != 8:
        raise _wrong_length(length, 8)
    return _U64.unpack_from(data, pos)[0]


def _encode_u16_pad(value: Any, txid: bytes) -> bytes:
    return _U16_PAD.pack(value)


def _decode_u16_pad(data: bytes, pos: int, length: int, txid: bytes) -> Any:
    if length != 4:
        raise _wrong_length(length, 4)
    return _U16.unpack_from(data, pos)[0]


def _encode_u8_pad(value: Any, txid: bytes) -> bytes:
    return _U8_PAD.pack(value)


def _decode_u8_pad(data: bytes, pos: int, length: int, txid: bytes) -> int:
    if length != 4:
        raise _wrong_length(length, 4)
    return data[pos]


def _encode_none(value: Any, txid: bytes) -> bytes:
    if value is not None:
        raise StunEncodeError(f"flag attribute takes None, not {value!r}")
    return b""


def _decode_none(data: bytes, pos: int, length: int, txid: bytes) -> None:
    if length:
        raise _wrong_length(length, 0)


def _encode_even_port(value: Any, txid: bytes) -> bytes:
    # RFC 8656 §18.8: one byte, the R bit is the top bit.
    if not isinstance(value, bool):
        raise StunEncodeError(f"EVEN-PORT takes a bool, not {value!r}")
    return b"\x80" if value else b"\x00"


def _decode_even_port(data: bytes, pos: int, length: int, txid: bytes) -> bool:
    if length != 1:
        raise _wrong_length(length, 1)
    return bool(data[pos] & 0x80)


def _encode_bytes(value: Any, txid: bytes) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise StunEncodeError(f"attribute takes bytes, not {type(value).__name__}")
    return bytes(value)


def _fixed_bytes_encoder(size: int) -> Encoder:
    def encode(value: Any, txid: bytes) -> bytes:
        raw = _encode_bytes(value, txid)
        if len(raw) != size:
            raise StunEncodeError(
                f"attribute takes exactly {size} bytes, not {len(raw)}"
            )
        return raw

    return encode


def decode_bytes(data: bytes, pos: int, length: int, txid: bytes) -> bytes:
    """The raw value bytes."""
    return data[pos : pos + length]


def _fixed_bytes_decoder(size: int) -> Decoder:
    def decode(data: bytes, pos: int, length: int, txid: bytes) -> bytes:
        if length != size:
            raise _wrong_length(length, size)
        return data[pos : pos + length]

    return decode


# -- errors (RFC 8489 §14.8, RFC 8656 §18.12) ---------------------------------


def _error_parts(code: Any, reason: Any) -> tuple[int, int, bytes]:
    if not isinstance(code, int) or not 300 <= code <= 699:
        raise StunEncodeError(f"error code must be an int in 300..699, not {code!r}")
    if not isinstance(reason, str):
        raise StunEncodeError(f"error reason must be str, not {type(reason).__name__}")
    if len(reason) > 127:
        raise StunEncodeError("error reason longer than 127 characters")
    return code // 100, code % 100, _encode_short_text(reason, b"")


def _encode_error_code(value: Any, txid: bytes) -> bytes:
    if not isinstance(value, tuple) or len(value) != 2:
        raise StunEncodeError(f"ERROR-CODE takes (code, reason), not {value!r}")
    klass, number, reason = _error_parts(*value)
    return bytes((0, 0, klass, number)) + reason


def _decode_code(data: bytes, pos: int, length: int) -> int:
    if length < 4:
        raise StunParseError(f"error code attribute too short ({length} bytes)")
    klass, number = data[pos + 2] & 0x07, data[pos + 3]
    if not 3 <= klass <= 6 or number > 99:
        raise StunParseError(f"error code class {klass} number {number} out of range")
    return klass * 100 + number


def _decode_error_code(
    data: bytes, pos: int, length: int, txid: bytes
) -> tuple[int, str]:
    code = _decode_code(data, pos, length)
    return code, decode_text(data, pos + 4, length - 4, txid)


def _encode_address_error_code(value: Any, txid: bytes) -> bytes:
    if not isinstance(value, tuple) or len(value) != 3:
        raise StunEncodeError(
            f"ADDRESS-ERROR-CODE takes (family, code, reason), not {value!r}"
        )
    family, code, reason = value
    if not isinstance(family, int) or not 0 <= family <= 0xFF:
        raise StunEncodeError(
            f"address family must be an int in 0..255, not {family!r}"
        )
    klass, number, raw = _error_parts(code, reason)
    return bytes((family, 0, klass, number)) + raw


def _decode_address_error_code(
    data: bytes, pos: int, length: int, txid: bytes
) -> tuple[int, int, str]:
    code = _decode_code(data, pos, length)
    return data[pos], code, decode_text(data, pos + 4, length - 4, txid)


# -- lists -------------------------------------------------------------------------


def _encode_unknown_attributes(value: Any, txid: bytes) -> bytes:
    # RFC 8489 §14.13: a list of 16-bit attribute types.
    try:
        return b"".join(_U16.pack(t) for t in value)
    except (TypeError, struct.error):
        raise StunEncodeError(
            f"UNKNOWN-ATTRIBUTES takes 16-bit ints, not {value!r}"
        ) from None


def _decode_unknown_attributes(
    data: bytes, pos: int, length: int, txid: bytes
) -> tuple[int, ...]:
    if length % 2:
        raise StunParseError(f"UNKNOWN-ATTRIBUTES length {length} is odd")
    return tuple(_U16.unpack_from(data, pos + i)[0] for i in range(0, length, 2))


def _encode_password_algorithm(value: Any, txid: bytes) -> bytes:
    # RFC 8489 §14.11: algorithm (16 bits), parameters length (16 bits), params.
    # MD5 and SHA-256, the only registered algorithms, have no parameters.
    try:
        return _U16.pack(value) + b"\x00\x00"
    except (TypeError, struct.error):
        raise StunEncodeError(
            f"password algorithm must be a 16-bit int, not {value!r}"
        ) from None


def _read_algorithms(data: bytes, pos: int, length: int) -> tuple[int, ...]:
    algorithms = []
    end = pos + length
    while pos < end:
        if pos + 4 > end:
            raise StunParseError("password algorithm entry truncated")
        algorithm, params = (
            _U16.unpack_from(data, pos)[0],
            _U16.unpack_from(data, pos + 2)[0],
        )
        pos += 4 + params + (-params & 3)
        if pos > end:
            raise StunParseError("password algorithm parameters overrun the attribute")
        algorithms.append(algorithm)
    return tuple(algorithms)


def _decode_password_algorithm(data: bytes, pos: int, length: int, txid: bytes) -> int:
    algorithms = _read_algorithms(data, pos, length)
    if len(algorithms) != 1:
        raise StunParseError("PASSWORD-ALGORITHM must hold exactly one algorithm")
    return algorithms[0]


def _encode_password_algorithms(value: Any, txid: bytes) -> bytes:
    if not isinstance(value, (tuple, list)):
        raise StunEncodeError(
            f"PASSWORD-ALGORITHMS takes a tuple of ints, not {value!r}"
        )
    return b"".join(_encode_password_algorithm(a, txid) for a in value)


def _decode_password_algorithms(
    data: bytes, pos: int, length: int, txid: bytes
) -> tuple[int, ...]:
    return _read_algorithms(data, pos, length)


# -- ICMP (RFC 8656 §18.13) ------------------------------------------------------------

_ICMP = struct.Struct("!2xBBI")


def _encode_icmp(value: Any, txid: bytes) -> bytes:
    if not isinstance(value, tuple) or len(value) != 3:
        raise StunEncodeError(f"ICMP takes (type, code, error_data), not {value!r}")
    return _ICMP.pack(*value)


def _decode_icmp(
    data: bytes, pos: int, length: int, txid: bytes
) -> tuple[int, int, int]:
    if length != 8:
        raise _wrong_length(length, 8)
    icmp_type, icmp_code, error_data = _ICMP.unpack_from(data, pos)
    return int(icmp_type), int(icmp_code), int(error_data)


# -- tables ------------------------------------------------------------------------------

A = Attr
_ADDRESS_ATTRS = (
    A.MAPPED_ADDRESS,
    A.ALTERNATE_SERVER,
    A.RESPONSE_ORIGIN,
    A.OTHER_ADDRESS,
)
_XOR_ADDRESS_ATTRS = (A.XOR_MAPPED_ADDRESS, A.XOR_PEER_ADDRESS, A.XOR_RELAYED_ADDRESS)

#: attribute type -> (encoder, decoder, expected value length or VARIABLE)
_TABLE: dict[int, tuple[Encoder, Decoder, int]] = {
    A.USERNAME: (_encode_username, decode_text, VARIABLE),
    A.REALM: (_encode_short_text, decode_text, VARIABLE),
    A.NONCE: (_encode_short_text, decode_text, VARIABLE),
    A.SOFTWARE: (_encode_short_text, decode_text, VARIABLE),
    A.ALTERNATE_DOMAIN: (_encode_short_text, decode_text, VARIABLE),
    A.PRIORITY: (_encode_u32, _decode_u32, 4),
    A.LIFETIME: (_encode_u32, _decode_u32, 4),
    A.NOMINATION: (_encode_u32, _decode_u32, 4),
    A.CONNECTION_ID: (_encode_u32, _decode_u32, 4),
    A.CHANGE_REQUEST: (_encode_u32, _decode_u32, 4),
    A.FINGERPRINT: (_encode_u32, _decode_u32, 4),
    A.ICE_CONTROLLED: (_encode_u64, _decode_u64, 8),
    A.ICE_CONTROLLING: (_encode_u64, _decode_u64, 8),
    A.CHANNEL_NUMBER: (_encode_u16_pad, _decode_u16_pad, 4),
    A.RESPONSE_PORT: (_encode_u16_pad, _decode_u16_pad, 4),
    A.REQUESTED_TRANSPORT: (_encode_u8_pad, _decode_u8_pad, 4),
    A.REQUESTED_ADDRESS_FAMILY: (_encode_u8_pad, _decode_u8_pad, 4),
    A.ADDITIONAL_ADDRESS_FAMILY: (_encode_u8_pad, _decode_u8_pad, 4),
    A.USE_CANDIDATE: (_encode_none, _decode_none, 0),
    A.DONT_FRAGMENT: (_encode_none, _decode_none, 0),
    A.EVEN_PORT: (_encode_even_port, _decode_even_port, 1),
    A.DATA: (_encode_bytes, decode_bytes, VARIABLE),
    A.PADDING: (_encode_bytes, decode_bytes, VARIABLE),
    A.RESERVATION_TOKEN: (_fixed_bytes_encoder(8), _fixed_bytes_decoder(8), 8),
    A.USERHASH: (_fixed_bytes_encoder(32), _fixed_bytes_decoder(32), 32),
    A.MESSAGE_INTEGRITY: (_fixed_bytes_encoder(20), _fixed_bytes_decoder(20), 20),
    A.MESSAGE_INTEGRITY_SHA256: (_encode_bytes, decode_bytes, VARIABLE),
    A.ERROR_CODE: (_encode_error_code, _decode_error_code, VARIABLE),
    A.ADDRESS_ERROR_CODE: (
        _encode_address_error_code,
        _decode_address_error_code,
        VARIABLE,
    ),
    A.UNKNOWN_ATTRIBUTES: (
        _encode_unknown_attributes,
        _decode_unknown_attributes,
        VARIABLE,
    ),
    A.PASSWORD_ALGORITHM: (
        _encode_password_algorithm,
        _decode_password_algorithm,
        VARIABLE,
    ),
    A.PASSWORD_ALGORITHMS: (
        _encode_password_algorithms,
        _decode_password_algorithms,
        VARIABLE,
    ),
    A.ICMP: (_encode_icmp, _decode_icmp, 8),
}
for _t in _ADDRESS_ATTRS:
    _TABLE[_t] = (encode_address, decode_address, VARIABLE)
for _t in _XOR_ADDRESS_ATTRS:
    _TABLE[_t] = (encode_xor_address, decode_xor_address, VARIABLE)

# The keys are the Attr members: a lookup with ``Attr.X`` (what callers pass)
# then matches by identity, one with a plain int (read off the wire) by value.
#: attribute type -> encoder
ENCODERS: dict[int, Encoder] = {t: v[0] for t, v in _TABLE.items()}
#: attribute type -> decoder
DECODERS: dict[int, Decoder] = {t: v[1] for t, v in _TABLE.items()}
#: attribute type -> exact value length, or VARIABLE; checked while decoding
EXPECTED_LENGTH: dict[int, int] = {t: v[2] for t, v in _TABLE.items()}


# -- whole-attribute encoders ----------------------------------------------------
#
# The encode loop calls one function per attribute that returns the complete
# type-length-value with padding: a single ``struct`` call for the fixed-size
# attributes of connectivity checks, a generic wrapper for the rest.

#: attribute type, value, transaction id -> type, length, value and padding
TLVEncoder = Callable[[int, Any, bytes], bytes]

_TLV_U32 = struct.Struct("!HHI")
_TLV_U64 = struct.Struct("!HHQ")
_TL = struct.Struct("!HH")
_PAD = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")


def _tlv_u32(attr: int, value: Any, txid: bytes) -> bytes:
    return _TLV_U32.pack(attr, 4, value)


def _tlv_u64(attr: int, value: Any, txid: bytes) -> bytes:
    return _TLV_U64.pack(attr, 8, value)


def _tlv_flag(attr: int, value: Any, txid: bytes) -> bytes:
    if value is not None:
        raise StunEncodeError(f"flag attribute takes None, not {value!r}")
    return _TL.pack(attr, 0)


def _tlv_generic(encoder: Encoder) -> TLVEncoder:
    def encode(attr: int, value: Any, txid: bytes) -> bytes:
        body = encoder(value, txid)
        length = len(body)
        if length > 0xFFFF:
            raise StunEncodeError(f"value of {length} bytes is too long")
        return _TL.pack(attr, length) + body + _PAD[length & 3]

    return encode


def tlv_raw(attr: int, value: Any, txid: bytes) -> bytes:
    """Encode an attribute icekit does not know: ``value`` must be bytes."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise StunEncodeError(
            f"an unknown attribute takes bytes, not {type(value).__name__}"
        )
    return _tlv_generic(_encode_bytes)(attr, value, txid)


_username_tlvs: dict[str, bytes] = {}


def _tlv_username(attr: int, value: Any, txid: bytes) -> bytes:
    # USERNAME is in every connectivity check and consent refresh, with the
    # same value for a given pair of agents: remember the encoded attribute.
    tlv = _username_tlvs.get(value) if type(value) is str else None
    if tlv is None:
        tlv = _tlv_generic(_encode_username)(attr, value, txid)
        if type(value) is str:
            if len(_username_tlvs) >= 256:
                _username_tlvs.clear()
            _username_tlvs[value] = tlv
    return tlv


_FAST_TLV: dict[Encoder, TLVEncoder] = {
    _encode_u32: _tlv_u32,
    _encode_u64: _tlv_u64,
    _encode_none: _tlv_flag,
    _encode_username: _tlv_username,
}
#: attribute type -> whole-attribute encoder
TLV_ENCODERS: dict[int, TLVEncoder] = {
    t: _FAST_TLV.get(encoder) or _tlv_generic(encoder)
    for t, encoder in ENCODERS.items()
}


# -- whole-attribute encoders of one argument -------------------------------------
#
# Message.encode() calls these: for the integer attributes of connectivity
# checks they are bound ``struct`` packers (one C call per attribute).

#: value -> type, length, value and padding
ValueTLVEncoder = Callable[[Any], bytes]


def _username_tlv(value: Any) -> bytes:
    # USERNAME is in every connectivity check and consent refresh, with the
    # same value for a given pair of agents: remember the encoded attribute.
    tlv = _username_tlvs.get(value) if type(value) is str else None
    if tlv is None:
        tlv = _tlv_username(A.USERNAME, value, b"")
    return tlv


def _value_tlv(attr: int, encoder: Encoder) -> ValueTLVEncoder:
    if encoder is _encode_u32:
        return partial(_TLV_U32.pack, int(attr), 4)
    if encoder is _encode_u64:
        return partial(_TLV_U64.pack, int(attr), 8)
    if encoder is _encode_none:
        # A KeyError (or TypeError) for any value but None, reported by encode().
        return {None: _TL.pack(attr, 0)}.__getitem__
    if encoder is _encode_username:
        return _username_tlv
    generic = _tlv_generic(encoder)

    def encode(value: Any) -> bytes:
        return generic(attr, value, b"")

    return encode


#: attribute type -> whole-attribute encoder, for the types whose value does
#: not depend on the transaction id (all but the XOR-ed addresses)
VALUE_TLV_ENCODERS: dict[int, ValueTLVEncoder] = {
    t: _value_tlv(t, encoder)
    for t, encoder in ENCODERS.items()
    if t not in _XOR_ADDRESS_ATTRS
}
#: attribute type -> whole-attribute encoder, for the XOR-ed address types
TXID_TLV_ENCODERS: dict[int, TLVEncoder] = {
    t: TLV_ENCODERS[t] for t in _XOR_ADDRESS_ATTRS
}
