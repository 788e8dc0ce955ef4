"""Message building, decoding and the RFC 8489 rules around integrity and unknown attributes."""

from __future__ import annotations

import struct
import zlib

import pytest

from icekit.errors import StunEncodeError, StunFingerprintError, StunParseError
from icekit.stun import (
    FINGERPRINT_XOR,
    Attr,
    ErrorCode,
    Message,
    MessageClass,
    Method,
    is_stun,
)

TXID = bytes(range(12))
KEY = b"9nq7yWqL1XTLcEVRbZ7zvyIH"


def ice_request() -> Message:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    msg.add(Attr.USERNAME, "rfrag:lfrag")
    msg.add(Attr.PRIORITY, 0x6E0001FF)
    msg.add(Attr.ICE_CONTROLLING, 0x1122334455667788)
    msg.add(Attr.USE_CANDIDATE)
    return msg


def with_tail(data: bytes, tail: bytes, fingerprint: bool = False) -> bytes:
    """Append raw attribute bytes to an encoded message, fixing the length (and FINGERPRINT)."""
    body = data[20:] + tail
    out = (
        data[:2]
        + struct.pack("!H", len(body) + (8 if fingerprint else 0))
        + data[4:20]
        + body
    )
    if fingerprint:
        out += struct.pack(
            "!HHI", Attr.FINGERPRINT, 4, zlib.crc32(out) ^ FINGERPRINT_XOR
        )
    return out


def test_ice_request_round_trip() -> None:
    data = ice_request().encode(integrity_key=KEY)
    assert is_stun(data)
    msg = Message.decode(data)
    assert (msg.method, msg.msg_class, msg.transaction_id) == (
        Method.BINDING,
        MessageClass.REQUEST,
        TXID,
    )
    assert msg.get(Attr.USERNAME) == "rfrag:lfrag"
    assert msg.get(Attr.PRIORITY) == 0x6E0001FF
    assert msg.get(Attr.ICE_CONTROLLING) == 0x1122334455667788
    assert Attr.USE_CANDIDATE in msg
    assert msg.get(Attr.USE_CANDIDATE) is None
    assert Attr.ICE_CONTROLLED not in msg
    assert msg.get(Attr.ICE_CONTROLLED) is None
    assert msg.verify_integrity(KEY)
    assert not msg.verify_integrity(KEY + b"x")
    assert msg.has_integrity
    assert msg.raw == data


def test_decode_is_repeatable_through_the_layout_cache() -> None:
    first = ice_request().encode(integrity_key=KEY)
    other = ice_request()
    other.transaction_id = bytes(12)
    second = other.encode(integrity_key=b"another key of 24 chars!")
    for _ in range(3):
        a, b = Message.decode(first), Message.decode(second)
        assert a.transaction_id == TXID and b.transaction_id == bytes(12)
        assert a.verify_integrity(KEY) and not b.verify_integrity(KEY)
        assert b.verify_integrity(b"another key of 24 chars!")
    # Same type, length and first attribute but a different shape afterwards.
    shaped = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    shaped.add(Attr.USERNAME, "rfrag:lfrag").add(
        Attr.SOFTWARE, "icekit 0.1 test software"
    )
    shaped_data = shaped.encode(fingerprint=False)
    plain = Message(Method.BINDING, MessageClass.REQUEST, TXID)
    plain.add(Attr.USERNAME, "rfrag:lfrag").add(Attr.PRIORITY, 1).add(Attr.LIFETIME, 2)
    plain.add(Attr.ICE_CONTROLLED, 3)
    plain_data = plain.encode(fingerprint=False)
    assert len(shaped_data) == len(plain_data)
    assert Message.decode(shaped_data).get(Attr.SOFTWARE) == "icekit 0.1 test software"
    assert Message.decode(plain_data).get(Attr.LIFETIME) == 2
    assert Message.decode(shaped_data).get(Attr.PRIORITY) is None


def test_success_and_error_responses() -> None:
    request = Message.decode(ice_request().encode(integrity_key=KEY))
    ok = request.success_response()
    assert (ok.method, ok.msg_class, ok.transaction_id) == (
        Method.BINDING,
        MessageClass.SUCCESS,
        TXID,
    )
    ok.add(Attr.XOR_MAPPED_ADDRESS, ("198.51.100.7", 40000))
    decoded = Message.decode(ok.encode(integrity_key=KEY))
    assert decoded.get(Attr.XOR_MAPPED_ADDRESS) == ("198.51.100.7", 40000)

    err = request.error_response(ErrorCode.ROLE_CONFLICT)
    assert err.msg_class == MessageClass.ERROR
    assert err.get(Attr.ERROR_CODE) == (487, "Role Conflict")
    decoded = Message.decode(err.encode())
    assert decoded.get(Attr.ERROR_CODE) == (487, "Role Conflict")
    assert request.error_response(400, "nope").get(Attr.ERROR_CODE) == (400, "nope")


def test_unknown_attributes() -> None:
    msg = ice_request()
    msg.add(0x7F01, b"required")  # unknown comprehension-required
    msg.add(0xBEEF, b"optional!")  # unknown comprehension-optional
    msg.add(0x7F01, b"again")
    data = msg.encode(integrity_key=KEY)
    decoded = Message.decode(data)
    assert decoded.unknown_required == (0x7F01,)
    assert decoded.get(0xBEEF) == b"optional!"
    assert decoded.get_all(0x7F01) == [b"required", b"again"]
    assert decoded.verify_integrity(KEY)
    # A 420 answer lists them (RFC 8489 §7.3.1).
    answer = decoded.error_response(420)
    assert answer.get(Attr.UNKNOWN_ATTRIBUTES) == (0x7F01,)
    assert Message.decode(answer.encode()).get(Attr.UNKNOWN_ATTRIBUTES) == (0x7F01,)
    # Unknown attributes survive a decode/re-encode.
    again = Message.decode(Message.decode(data).encode(integrity_key=KEY))
    assert again.get(0xBEEF) == b"optional!"
    assert again.unknown_required == (0x7F01,)


def test_attributes_after_message_integrity_are_ignored() -> None:
    data = ice_request().encode(integrity_key=KEY, fingerprint=False)
    tampered = with_tail(
        data, struct.pack("!HHI", Attr.PRIORITY, 4, 1), fingerprint=True
    )
    msg = Message.decode(tampered)
    assert msg.get(Attr.PRIORITY) == 0x6E0001FF
    assert msg.get_all(Attr.PRIORITY) == [0x6E0001FF]
    assert msg.verify_integrity(KEY)
    # Also unknown comprehension-required ones: they are not reported.
    tampered = with_tail(data, struct.pack("!HH", 0x7F00, 0))
    assert Message.decode(tampered).unknown_required == ()
    assert [a for a, _ in Message.decode(tampered).attributes][
        -1
    ] == Attr.MESSAGE_INTEGRITY


def test_message_integrity_sha256_and_truncation() -> None:
    for length in (16, 20, 24, 28, 32):
        data = ice_request().encode(integrity_sha256_key=KEY, sha256_length=length)
        msg = Message.decode(data)
        assert len(msg.get(Attr.MESSAGE_INTEGRITY_SHA256)) == length
        assert msg.verify_integrity(KEY)
        assert not msg.verify_integrity(b"wrong")
    for bad in (0, 12, 18, 36):
        with pytest.raises(StunEncodeError, match="SHA256"):
            ice_request().encode(integrity_sha256_key=KEY, sha256_length=bad)
    # Both integrity attributes: SHA256 is checked (RFC 8489 §9.1.3).
    both = Message.decode(
        ice_request().encode(integrity_key=KEY, integrity_sha256_key=KEY)
    )
    assert both.get(Attr.MESSAGE_INTEGRITY) is not None
    assert both.verify_integrity(KEY)
    # A truncated HMAC shorter than 16 bytes is malformed.
    data = ice_request().encode(fingerprint=False)
    truncated = with_tail(
        data, struct.pack("!HH", Attr.MESSAGE_INTEGRITY_SHA256, 12) + bytes(12)
    )
    with pytest.raises(StunParseError, match="SHA256"):
        Message.decode(truncated)


def test_fingerprint_errors() -> None:
    data = bytearray(ice_request().encode(integrity_key=KEY))
    data[-1] ^= 1
    with pytest.raises(StunFingerprintError):
        Message.decode(bytes(data))
    # FINGERPRINT that is not last.
    good = ice_request().encode(fingerprint=True)
    with pytest.raises(StunParseError, match="FINGERPRINT"):
        Message.decode(with_tail(good, struct.pack("!HHI", Attr.PRIORITY, 4, 1)))
    assert not Message.decode(ice_request().encode(fingerprint=False)).verify_integrity(
        KEY
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "shorter"),
        (bytes(19), "shorter"),
        (b"\xc0" + bytes(19), "top bits"),
        (bytes(20), "cookie"),
        (bytes.fromhex("00010004") + b"\x21\x12\xa4\x42" + bytes(12), "length"),
        (bytes.fromhex("00010002") + b"\x21\x12\xa4\x42" + bytes(14), "multiple of 4"),
        (
            bytes.fromhex("00010004")
            + b"\x21\x12\xa4\x42"
            + bytes(12)
            + bytes.fromhex("00240008"),
            "overruns",
        ),
    ],
)
def test_malformed_framing(data: bytes, match: str) -> None:
    with pytest.raises(StunParseError, match=match):
        Message.decode(data)
    if match != "overruns":  # is_stun() looks at the header only
        assert not is_stun(data)


def test_malformed_values_raise_on_get() -> None:
    header = bytes.fromhex("00010008") + b"\x21\x12\xa4\x42" + TXID
    msg = Message.decode(header + struct.pack("!HH", Attr.PRIORITY, 3) + b"abc\x00")
    with pytest.raises(StunParseError, match="PRIORITY"):
        msg.get(Attr.PRIORITY)
    msg = Message.decode(
        header + struct.pack("!HH", Attr.USERNAME, 2) + b"\xff\xfe\x00\x00"
    )
    with pytest.raises(StunParseError, match="USERNAME"):
        msg.get(Attr.USERNAME)
    msg = Message.decode(
        header + struct.pack("!HHBB", Attr.XOR_MAPPED_ADDRESS, 2, 0, 9) + b"\0\0"
    )
    with pytest.raises(StunParseError, match="XOR-MAPPED-ADDRESS"):
        msg.get(Attr.XOR_MAPPED_ADDRESS)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = ice_request().encode()
    assert Message.decode(bytearray(data)).get(Attr.PRIORITY) == 0x6E0001FF
    assert Message.decode(memoryview(data)).get(Attr.PRIORITY) == 0x6E0001FF
    with pytest.raises(StunParseError):
        Message.decode("not bytes")  # type: ignore[arg-type]


def test_all_methods_and_classes_round_trip() -> None:
    for method in Method:
        for klass in (
            MessageClass.REQUEST,
            MessageClass.INDICATION,
            MessageClass.SUCCESS,
            MessageClass.ERROR,
        ):
            msg = Message.decode(Message(method, klass, TXID).encode())
            assert (msg.method, msg.msg_class) == (method, klass)
            assert isinstance(msg.method, Method)
    # RFC 8489 §5: Binding request is 0x0001, success 0x0101, error 0x0111,
    # indication 0x0011; Allocate error response 0x0113.
    assert Message(Method.BINDING, MessageClass.ERROR, TXID).encode()[:2] == b"\x01\x11"
    assert (
        Message(Method.ALLOCATE, MessageClass.ERROR, TXID).encode()[:2] == b"\x01\x13"
    )
    assert (
        Message(Method.BINDING, MessageClass.INDICATION, TXID).encode()[:2]
        == b"\x00\x11"
    )
    # An unknown method decodes as a plain int.
    unknown = Message.decode(Message(0xABC, MessageClass.REQUEST, TXID).encode())
    assert unknown.method == 0xABC


def test_padding_is_zero_and_ignored_on_input() -> None:
    data = (
        Message(Method.BINDING, MessageClass.REQUEST, TXID)
        .add(Attr.USERNAME, "abcde")
        .encode(fingerprint=False)
    )
    assert data[20:] == struct.pack("!HH", Attr.USERNAME, 5) + b"abcde\x00\x00\x00"
    odd_padding = data[:-3] + b"xyz"
    assert Message.decode(odd_padding).get(Attr.USERNAME) == "abcde"


@pytest.mark.parametrize(
    ("attr", "value", "match"),
    [
        (Attr.XOR_MAPPED_ADDRESS, ("192.0.2.1", 70000), "port"),
        (Attr.XOR_MAPPED_ADDRESS, ("192.0.2.1", -1), "port"),
        (Attr.MAPPED_ADDRESS, ("example.com", 1), "IPv4 or IPv6"),
        (Attr.MAPPED_ADDRESS, ("fe80::1%eth0", 1), "IPv4 or IPv6"),
        (Attr.MAPPED_ADDRESS, "192.0.2.1:80", "tuple"),
        (Attr.PRIORITY, 2**32, "PRIORITY"),
        (Attr.PRIORITY, "1", "PRIORITY"),
        (Attr.ICE_CONTROLLING, -1, "ICE-CONTROLLING"),
        (Attr.USERNAME, "x" * 600, "USERNAME"),
        (Attr.USERNAME, b"bytes", "USERNAME"),
        (Attr.SOFTWARE, "y" * 128, "SOFTWARE"),
        (Attr.USE_CANDIDATE, 1, "USE-CANDIDATE"),
        (Attr.ERROR_CODE, (200, "OK"), "ERROR-CODE"),
        (Attr.ERROR_CODE, 400, "ERROR-CODE"),
        (Attr.CHANNEL_NUMBER, 0x10000, "CHANNEL-NUMBER"),
        (Attr.RESERVATION_TOKEN, b"short", "RESERVATION-TOKEN"),
        (Attr.DATA, "text", "DATA"),
        (Attr.DATA, bytes(70000), "too long"),
        (0x7F7F, "not bytes", "0x7F7F"),
        (0x12345, b"", "0x12345"),
    ],
)
def test_encode_rejects_bad_values(attr: int, value: object, match: str) -> None:
    msg = Message(Method.BINDING, MessageClass.REQUEST, TXID).add(attr, value)
    with pytest.raises(StunEncodeError, match=match):
        msg.encode()


def test_constructor_and_add_reject_bad_arguments() -> None:
    with pytest.raises(StunEncodeError, match="12 bytes"):
        Message(Method.BINDING, MessageClass.REQUEST, bytes(13))
    with pytest.raises(StunEncodeError, match="method"):
        Message(0x1000, MessageClass.REQUEST)
    with pytest.raises(StunEncodeError, match="class"):
        Message(Method.BINDING, 0x20)
    msg = Message(Method.BINDING, MessageClass.REQUEST)
    assert len(msg.transaction_id) == 12
    assert (
        msg.transaction_id
        != Message(Method.BINDING, MessageClass.REQUEST).transaction_id
    )
    for attr in (
        Attr.MESSAGE_INTEGRITY,
        Attr.MESSAGE_INTEGRITY_SHA256,
        Attr.FINGERPRINT,
    ):
        with pytest.raises(StunEncodeError, match="encode"):
            msg.add(attr, b"")


def test_get_all_and_attributes_order_on_built_and_decoded() -> None:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS, TXID)
    msg.add(Attr.XOR_RELAYED_ADDRESS, ("203.0.113.5", 50000))
    msg.add(Attr.XOR_RELAYED_ADDRESS, ("2001:db8::5", 50001))
    msg.add(Attr.LIFETIME, 600)
    msg.add(Attr.XOR_MAPPED_ADDRESS, ("192.0.2.9", 1234))
    expected = [
        ("203.0.113.5", 50000),
        ("2001:db8::5", 50001),
    ]
    assert msg.get_all(Attr.XOR_RELAYED_ADDRESS) == expected
    decoded = Message.decode(msg.encode())
    assert decoded.get_all(Attr.XOR_RELAYED_ADDRESS) == expected
    assert decoded.get(Attr.XOR_RELAYED_ADDRESS) == expected[0]
    assert decoded.attributes[:4] == msg.attributes
    assert decoded.get_all(Attr.PRIORITY) == []
    # Adding to a decoded message switches it to the built representation.
    decoded.add(Attr.SOFTWARE, "x")
    assert decoded.get(Attr.SOFTWARE) == "x"
    assert decoded.get(Attr.LIFETIME) == 600
    assert "LIFETIME=600" in repr(decoded)


def test_is_stun() -> None:
    data = ice_request().encode()
    assert is_stun(data)
    assert not is_stun(data[:-4])
    assert not is_stun(b"\x80" + data[1:])  # RTP
    assert not is_stun(b"\x40\x00\x00\x00")  # ChannelData
    assert not is_stun(b"")


def test_long_messages_bypass_the_layout_cache() -> None:
    msg = Message(Method.BINDING, MessageClass.INDICATION, TXID)
    for i in range(40):
        msg.add(Attr.PRIORITY if i % 2 else Attr.LIFETIME, i)
    data = msg.encode(integrity_key=KEY)
    for _ in range(2):
        decoded = Message.decode(data)
        assert decoded.get_all(Attr.PRIORITY) == list(range(1, 40, 2))
        assert decoded.verify_integrity(KEY)
    assert decoded._layout is not None and not decoded._layout.cacheable


def test_layout_cache_stays_bounded() -> None:
    from icekit.stun import layout

    for i in range(layout.LAYOUT_CACHE_SIZE + 10):
        body = Message(Method.BINDING, MessageClass.REQUEST, TXID).add(0x7000 + i, b"")
        assert Message.decode(body.encode()).unknown_required == (0x7000 + i,)
    assert len(layout.layouts) <= layout.LAYOUT_CACHE_SIZE


def test_error_reasons_are_the_rfc_phrases_for_every_code() -> None:
    from icekit.stun import ERROR_REASONS

    # RFC 8489 §14.8 (401 is "Unauthenticated", not HTTP's "Unauthorized").
    assert ERROR_REASONS[401] == "Unauthenticated"
    assert ERROR_REASONS[438] == "Stale Nonce"
    assert set(ERROR_REASONS) == {int(code) for code in ErrorCode}
    request = Message(Method.BINDING, MessageClass.REQUEST)
    assert request.error_response(401).get(Attr.ERROR_CODE) == (401, "Unauthenticated")
