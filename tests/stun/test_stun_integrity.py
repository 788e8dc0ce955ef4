"""Keys, HMACs, OpaqueString and NONCE cookies."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icekit.errors import CredentialsError, StunParseError
from icekit.stun import (
    NONCE_COOKIE,
    Attr,
    IntegrityKey,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    SecurityFeature,
    hmac_sha1,
    hmac_sha256,
    long_term_key,
    make_nonce,
    nonce_security_features,
    opaque_string,
    short_term_key,
    userhash,
)


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_hmacs_match_the_standard_library(key: bytes, data: bytes) -> None:
    assert hmac_sha1(key, data) == hmac.new(key, data, hashlib.sha1).digest()
    assert (
        hmac_sha256(key, data[:7], data[7:])
        == hmac.new(key, data, hashlib.sha256).digest()
    )


@given(st.binary(max_size=200), st.binary(max_size=300))
def test_integrity_key_objects_give_the_same_hmacs(key: bytes, data: bytes) -> None:
    obj = IntegrityKey(key)
    assert hmac_sha1(obj, data) == hmac.new(key, data, hashlib.sha1).digest()
    assert hmac_sha256(obj, data[:5], data[5:]) == hmac.new(key, data, hashlib.sha256).digest()


def test_integrity_key_object_signs_and_verifies_like_bytes() -> None:
    key = short_term_key("9nq7yWqL1XTLcEVRbZ7zvyIH")
    obj, other = IntegrityKey(key), IntegrityKey(b"another key")
    msg = Message(Method.BINDING, MessageClass.REQUEST, b"t" * 12).add(Attr.USERNAME, "a:b")
    for kwargs in ({"integrity_key": key}, {"integrity_sha256_key": key}):
        data = msg.encode(**kwargs)  # type: ignore[arg-type]
        as_object = {name: obj for name in kwargs}
        assert msg.encode(**as_object) == data  # type: ignore[arg-type]
        for _ in range(2):  # the second time from the key's cached states
            decoded = Message.decode(data)
            assert decoded.verify_integrity(obj) and decoded.verify_integrity(key)
            assert not decoded.verify_integrity(other)


def test_integrity_key_keeps_its_keyed_states_only() -> None:
    obj = IntegrityKey(b"k" * 20)
    states = (obj.sha1_inner, obj.sha1_outer)
    for length in range(200):
        msg = Message(Method.BINDING, MessageClass.REQUEST).add(Attr.DATA, b"x" * length)
        assert Message.decode(msg.encode(integrity_key=obj)).verify_integrity(obj)
    assert (obj.sha1_inner, obj.sha1_outer) == states  # nothing added per message shape
    # Nothing about any key is kept by the module (it used to cache per password).
    import icekit.stun.integrity as integrity
    import icekit.stun.layout as layout
    import icekit.stun.message as message

    for module in (integrity, layout, message):
        held = [v for v in vars(module).values() if isinstance(v, dict) and b"k" * 20 in v]
        assert held == []


def test_no_key_in_repr() -> None:
    secret = b"VOkJxbRl1RmTxUk/WvJxBt"
    obj = IntegrityKey(secret)
    for text in (repr(obj), str(obj)):
        assert "VOkJ" not in text and secret.hex() not in text
    with pytest.raises(CredentialsError):
        IntegrityKey("a str")  # type: ignore[arg-type]


def test_short_term_key() -> None:
    assert short_term_key("VOkJxbRl1RmTxUk/WvJxBt") == b"VOkJxbRl1RmTxUk/WvJxBt"
    assert short_term_key(b"\xff raw") == b"\xff raw"
    assert short_term_key("caf\u0065\u0301") == "caf\u00e9".encode()
    with pytest.raises(CredentialsError):
        short_term_key("")
    with pytest.raises(CredentialsError):
        short_term_key(123)  # type: ignore[arg-type]


def test_long_term_key() -> None:
    md5 = long_term_key("user", "realm", "pass")
    assert md5 == hashlib.md5(b"user:realm:pass").digest()
    sha = long_term_key("user", "realm", "pass", PasswordAlgorithm.SHA256)
    assert sha == hashlib.sha256(b"user:realm:pass").digest()
    with pytest.raises(CredentialsError, match="algorithm"):
        long_term_key("user", "realm", "pass", 7)
    assert userhash("user", "realm") == hashlib.sha256(b"user:realm").digest()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "tab\there",  # control
        "soft\u00adhyphen",  # default ignorable
        "zero\u200bwidth",  # default ignorable
        "bom\ufeff",
        "unassigned\u0378",  # unassigned
        "jamo\u1100",  # old Hangul jamo
        "noncharacter\ufdd0",
        "line\u2028sep",  # Zl
        "private\ue000use",  # Co
        "zwj\u200dalone",  # CONTEXTJ without a virama
    ],
)
def test_opaque_string_rejects(bad: str) -> None:
    with pytest.raises(CredentialsError):
        opaque_string(bad)


def test_opaque_string_accepts() -> None:
    assert (
        opaque_string("correct horse battery staple") == "correct horse battery staple"
    )
    assert opaque_string("\u00df\u03c2") == "\u00df\u03c2"  # exceptions, PVALID
    assert opaque_string("\u2163") == "\u2163"  # HasCompat: kept, not NFKC-mapped
    assert opaque_string("\uff21") == "\uff21"  # full-width: no width mapping
    assert opaque_string("x\u2003y") == "x y"  # EM SPACE -> SPACE
    assert (
        opaque_string("\u0915\u094d\u200d\u0937") == "\u0915\u094d\u200d\u0937"
    )  # ZWJ after virama
    assert opaque_string("\U0001f600") == "\U0001f600"  # So (emoji)


@given(st.text(min_size=1, max_size=30))
def test_opaque_string_is_idempotent(text: str) -> None:
    try:
        once = opaque_string(text)
    except CredentialsError:
        return
    assert opaque_string(once) == once


def test_nonce_cookie() -> None:
    features = SecurityFeature.PASSWORD_ALGORITHMS | SecurityFeature.USERNAME_ANONYMITY
    nonce = make_nonce(features, "abc123")
    assert nonce.startswith(NONCE_COOKIE)
    assert nonce == "obMatJos2wAAAabc123"
    assert nonce_security_features(nonce) == features
    assert nonce_security_features(
        make_nonce(SecurityFeature.PASSWORD_ALGORITHMS, "x")
    ) == (SecurityFeature.PASSWORD_ALGORITHMS)
    assert nonce_security_features("plain-nonce") is None
    # RFC 8489 Appendix B.1 nonce: feature field "AAAC".
    assert (
        int(nonce_security_features("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA") or 0)
        == 2
    )
    with pytest.raises(StunParseError):
        nonce_security_features("obMatJos2**")
    with pytest.raises(CredentialsError):
        make_nonce(1 << 24, "x")
