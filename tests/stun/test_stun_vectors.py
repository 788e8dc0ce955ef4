"""RFC 5769 test vectors (and RFC 8489 Appendix B.1) decode, verify and re-encode."""

from __future__ import annotations

import pytest

from icekit.errors import CredentialsError
from icekit.stun import (
    Attr,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    long_term_key,
    opaque_string,
    short_term_key,
    userhash,
)
from tests.stun import vectors as v

KEY = short_term_key(v.PASSWORD)


def _strip_integrity(msg: Message) -> Message:
    """A copy of ``msg`` without MESSAGE-INTEGRITY(-SHA256)/FINGERPRINT, ready to re-sign."""
    copy = Message(msg.method, msg.msg_class, msg.transaction_id)
    skip = (Attr.MESSAGE_INTEGRITY, Attr.MESSAGE_INTEGRITY_SHA256, Attr.FINGERPRINT)
    for attr, value in msg.attributes:
        if attr not in skip:
            copy.add(attr, value)
    return copy


def test_sample_request() -> None:
    msg = Message.decode(v.REQUEST)
    assert msg.method == Method.BINDING
    assert msg.msg_class == MessageClass.REQUEST
    assert msg.transaction_id == bytes.fromhex("b7e7a701bc34d686fa87dfae")
    assert msg.get(Attr.SOFTWARE) == "STUN test client"
    assert msg.get(Attr.PRIORITY) == 0x6E0001FF
    assert msg.get(Attr.ICE_CONTROLLED) == 0x932FF9B151263B36
    assert msg.get(Attr.USERNAME) == "evtj:h6vY"
    assert msg.get(Attr.FINGERPRINT) == 0xE57A3BCF
    assert msg.verify_integrity(KEY)
    assert not msg.verify_integrity(b"wrong")
    assert msg.unknown_required == ()
    assert [a for a, _ in msg.attributes] == [
        Attr.SOFTWARE,
        Attr.PRIORITY,
        Attr.ICE_CONTROLLED,
        Attr.USERNAME,
        Attr.MESSAGE_INTEGRITY,
        Attr.FINGERPRINT,
    ]


def test_sample_request_reencodes() -> None:
    # The vector pads USERNAME with spaces; icekit pads with zeros, so the
    # bytes differ there, but the re-signed message decodes to the same values.
    data = _strip_integrity(Message.decode(v.REQUEST)).encode(integrity_key=KEY)
    assert len(data) == len(v.REQUEST)
    assert data[:73] == v.REQUEST[:73]
    again = Message.decode(data)
    assert again.verify_integrity(KEY)
    assert again.attributes[:4] == Message.decode(v.REQUEST).attributes[:4]


@pytest.mark.parametrize(
    ("data", "address"),
    [
        (v.IPV4_RESPONSE, ("192.0.2.1", 32853)),
        (v.IPV6_RESPONSE, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
)
def test_sample_responses(data: bytes, address: tuple[str, int]) -> None:
    msg = Message.decode(data)
    assert msg.method == Method.BINDING
    assert msg.msg_class == MessageClass.SUCCESS
    assert msg.get(Attr.SOFTWARE) == "test vector"
    assert msg.get(Attr.XOR_MAPPED_ADDRESS) == address
    assert msg.verify_integrity(KEY)
    rebuilt = Message(Method.BINDING, MessageClass.SUCCESS, msg.transaction_id)
    rebuilt.add(Attr.SOFTWARE, "test vector").add(Attr.XOR_MAPPED_ADDRESS, address)
    out = rebuilt.encode(integrity_key=KEY)
    # Identical except the padding byte after SOFTWARE (0x20 in the RFC, 0 here).
    assert out[:35] == data[:35] and out[36:52] == data[36:52]
    assert Message.decode(out).verify_integrity(KEY)


def test_sample_long_term_request() -> None:
    msg = Message.decode(v.LONG_TERM_REQUEST)
    assert msg.get(Attr.USERNAME) == v.LONG_TERM_USERNAME
    assert msg.get(Attr.NONCE) == v.LONG_TERM_NONCE
    assert msg.get(Attr.REALM) == v.LONG_TERM_REALM
    assert msg.get(Attr.FINGERPRINT) is None
    key = long_term_key(v.LONG_TERM_USERNAME, v.LONG_TERM_REALM, v.LONG_TERM_PASSWORD)
    assert msg.verify_integrity(key)
    # Signing the same attributes with the same key reproduces the vector exactly.
    out = _strip_integrity(msg).encode(integrity_key=key, fingerprint=False)
    assert out == v.LONG_TERM_REQUEST


def test_long_term_password_preparation() -> None:
    # RFC 5769 §2.4 derives "TheMatrIX" from "The<U+00AD>M<U+00AA>tr<U+2168>"
    # with SASLprep (RFC 4013), which deletes U+00AD and applies NFKC. RFC 8489
    # replaced SASLprep with OpaqueString (RFC 8265), which maps only non-ASCII
    # spaces, normalises with NFC, and rejects U+00AD (a default-ignorable code
    # point) -- so under OpaqueString the raw password is invalid, and
    # "The M<U+00AA>tr<U+2168>" stays as it is.
    assert opaque_string(v.LONG_TERM_PASSWORD) == "TheMatrIX"
    with pytest.raises(CredentialsError, match="U\\+00AD"):
        opaque_string(v.LONG_TERM_PASSWORD_RAW)
    assert opaque_string("The M\u00aatr\u2168") == "The M\u00aatr\u2168"
    assert opaque_string("a\u00a0b\u3000c") == "a b c"  # non-ASCII spaces map to U+0020
    assert opaque_string("e\u0301") == "\u00e9"  # NFC


def test_rfc8489_sha256_userhash_request() -> None:
    msg = Message.decode(v.LONG_TERM_SHA256_REQUEST)
    assert msg.get(Attr.USERHASH) == userhash(v.LONG_TERM_USERNAME, v.LONG_TERM_REALM)
    assert msg.get(Attr.NONCE) == v.SHA256_NONCE
    assert msg.get(Attr.PASSWORD_ALGORITHM) == PasswordAlgorithm.SHA256
    key = long_term_key(
        v.LONG_TERM_USERNAME,
        v.LONG_TERM_REALM,
        v.LONG_TERM_PASSWORD,
        PasswordAlgorithm.SHA256,
    )
    assert len(key) == 32
    assert msg.verify_integrity(key)
    assert not msg.verify_integrity(key[:-1] + b"\x00")
    out = _strip_integrity(msg).encode(integrity_sha256_key=key, fingerprint=False)
    assert Message.decode(out).verify_integrity(key)
    # Only the padding after NONCE could differ, and the vector pads with zeros.
    assert out == v.LONG_TERM_SHA256_REQUEST
