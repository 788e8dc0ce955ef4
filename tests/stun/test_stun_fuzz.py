"""Fuzzing the decoder: whatever the bytes, only the declared errors come out.

The normal run checks a few thousand inputs. Set ``ICEKIT_FUZZ_LONG=1`` for the
long run (1,000,000 mutated messages by default, ``ICEKIT_FUZZ_ITERATIONS``
overrides the count and ``ICEKIT_FUZZ_SEED`` the seed); see docs/stun.md.
"""

from __future__ import annotations

import os
import random
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icekit.errors import StunEncodeError, StunFingerprintError, StunParseError
from icekit.stun import FINGERPRINT_XOR, Attr, Message, MessageClass, Method, is_stun
from icekit.stun.layout import Layout as _Layout
from tests.stun import strategies as s
from tests.stun import vectors as v

KEY = b"fuzz-key"
LONG = os.environ.get("ICEKIT_FUZZ_LONG") == "1"
ITERATIONS = int(
    os.environ.get("ICEKIT_FUZZ_ITERATIONS", "1000000" if LONG else "3000")
)
SEED = int(os.environ.get("ICEKIT_FUZZ_SEED", "20261129"))
HEADER = bytes.fromhex("0001") + b"\x00\x00" + b"\x21\x12\xa4\x42" + bytes(12)


def exercise(data: bytes) -> None:
    """Decode ``data`` and read everything; fail on any undeclared exception."""
    try:
        msg = Message.decode(data)
    except (StunParseError, StunFingerprintError):
        return
    # is_stun() also demands RFC 7983's first byte 0-3; decode() takes any
    # 14-bit message type.
    assert is_stun(data) or data[0] >= 4
    msg.verify_integrity(KEY)
    assert all(t < 0x8000 for t in msg.unknown_required)
    layout = msg._layout
    assert layout is not None
    # The cached layout must equal a fresh walk of the same bytes.
    fresh = _Layout(data, (data[0] << 8) | data[1])
    assert (
        fresh.order == layout.order and fresh.mi == layout.mi and fresh.fp == layout.fp
    )
    for attr, _ in layout.order:
        try:
            msg.get(attr)
            msg.get_all(attr)
        except StunParseError:
            pass
    try:
        assert len(msg.attributes) == len(layout.order)
        repr(msg)
        msg.encode(KEY)
    except (StunParseError, StunEncodeError):
        pass


def seeds() -> list[bytes]:
    """Valid messages to mutate: the RFC vectors and typical ICE/TURN messages."""
    out = [
        v.REQUEST,
        v.IPV4_RESPONSE,
        v.IPV6_RESPONSE,
        v.LONG_TERM_REQUEST,
        v.LONG_TERM_SHA256_REQUEST,
    ]
    txid = bytes(range(12))
    req = Message(Method.BINDING, MessageClass.REQUEST, txid)
    req.add(Attr.USERNAME, "a:b").add(Attr.PRIORITY, 5).add(Attr.ICE_CONTROLLED, 7)
    out.append(req.encode(integrity_key=KEY))
    out.append(
        req.encode(integrity_key=KEY, integrity_sha256_key=KEY, sha256_length=16)
    )
    alloc = Message(Method.ALLOCATE, MessageClass.SUCCESS, txid)
    alloc.add(Attr.XOR_RELAYED_ADDRESS, ("2001:db8::1", 3478))
    alloc.add(Attr.XOR_MAPPED_ADDRESS, ("192.0.2.1", 9))
    alloc.add(Attr.LIFETIME, 600).add(Attr.ERROR_CODE, (438, "Stale Nonce"))
    alloc.add(Attr.PASSWORD_ALGORITHMS, (1, 2)).add(Attr.UNKNOWN_ATTRIBUTES, (0x7F00,))
    alloc.add(Attr.ADDRESS_ERROR_CODE, (2, 440, "no")).add(Attr.ICMP, (3, 1, 0))
    alloc.add(Attr.EVEN_PORT, True).add(0x7F00, b"?").add(0xC0DE, b"opt")
    out.append(alloc.encode(integrity_key=KEY))
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random mutation: bit flips, truncation, extension, length-field edits."""
    buf = bytearray(data)
    kind = rng.randrange(8)
    if kind == 0 and buf:  # flip a few bits
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        del buf[rng.randrange(len(buf) + 1) :]
    elif kind == 2:  # append random bytes
        buf += rng.randbytes(rng.randint(1, 12))
    elif kind == 3 and len(buf) >= 4:  # edit the message length field
        struct.pack_into(
            "!H",
            buf,
            2,
            rng.choice([0, len(buf) - 20 + rng.randint(-8, 8), rng.randrange(65536)])
            & 0xFFFF,
        )
    elif kind == 4 and len(buf) > 24:  # edit an attribute length field
        pos = 20 + 4 * rng.randrange((len(buf) - 20) // 4)
        if pos + 4 <= len(buf):
            struct.pack_into(
                "!H",
                buf,
                pos + 2,
                rng.choice([0, 1, 3, 4, 8, 20, 32, 0xFFFF, rng.randrange(65536)]),
            )
    elif kind == 5 and len(buf) > 24:  # change an attribute type
        pos = 20 + 4 * rng.randrange((len(buf) - 20) // 4)
        if pos + 2 <= len(buf):
            attr = rng.choice([int(a) for a in Attr] + [rng.randrange(65536)])
            struct.pack_into("!H", buf, pos, attr)
    elif kind == 6 and buf:  # overwrite a byte
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    else:  # splice: keep the length field consistent so parsing goes deep
        cut = rng.randrange(20, max(21, len(buf) + 1))
        buf = buf[:cut] + bytearray(rng.randbytes(rng.randint(0, 16)))
        buf += bytes(-len(buf) % 4)
        if len(buf) >= 20:
            struct.pack_into("!H", buf, 2, len(buf) - 20)
    return bytes(buf)


def refingerprint(data: bytes) -> bytes:
    """Recompute a trailing FINGERPRINT so that mutations reach the attribute decoders."""
    if len(data) >= 28 and data[-8:-4] == struct.pack("!HH", Attr.FINGERPRINT, 4):
        crc = zlib.crc32(data[:-8]) ^ FINGERPRINT_XOR
        return data[:-4] + struct.pack("!I", crc)
    return data


@pytest.mark.timeout(0 if LONG or ITERATIONS > 10_000 else 120)
def test_seeded_mutations() -> None:
    rng = random.Random(SEED)
    pool = seeds()
    for i in range(ITERATIONS):
        data = rng.choice(pool)
        for _ in range(rng.randint(1, 3)):
            data = mutate(rng, data)
        if rng.random() < 0.5:
            data = refingerprint(data)
        try:
            exercise(data)
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported with the input
            pytest.fail(f"iteration {i}: {type(exc).__name__}: {exc} for {data.hex()}")


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=120))
def test_random_bytes(data: bytes) -> None:
    exercise(data)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=160))
def test_random_bodies_with_valid_header(body: bytes) -> None:
    body += bytes(-len(body) % 4)
    exercise(HEADER[:2] + struct.pack("!H", len(body)) + HEADER[4:] + body)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(s.messages(max_attributes=5), st.data())
def test_mutated_generated_messages(msg: Message, data: st.DataObject) -> None:
    encoded = msg.encode(integrity_key=KEY)
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    exercise(mutate(rng, encoded))
