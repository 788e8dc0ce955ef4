"""RFC 7983 first-byte demultiplexing."""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icekit.demux import (
    STUN_FIRST_BYTE,
    Kind,
    classify,
    is_channel_data,
    is_stun_candidate,
)
from icekit.framing import encode_channel_data

BINDING = (
    struct.pack("!HHI", 0x0001, 8, 0x2112A442)
    + b"0123456789ab"
    + b"\x80\x22\x00\x04abcd"
)


def _expected(byte: int) -> Kind:
    # RFC 7983 §7, written out independently of the module's table.
    if byte <= 3:
        return Kind.STUN
    if 16 <= byte <= 19:
        return Kind.ZRTP
    if 20 <= byte <= 63:
        return Kind.DTLS
    if 64 <= byte <= 79:
        return Kind.CHANNEL_DATA
    if 128 <= byte <= 191:
        return Kind.RTP
    return Kind.OTHER


@pytest.mark.parametrize("byte", range(256))
def test_every_first_byte(byte: int) -> None:
    assert classify(bytes([byte, 0, 0, 0])) is _expected(byte)


def test_examples() -> None:
    assert classify(b"") is Kind.OTHER
    assert classify(BINDING) is Kind.STUN
    assert classify(encode_channel_data(0x4000, b"x")) is Kind.CHANNEL_DATA
    assert classify(b"\x16\xfe\xfd") is Kind.DTLS  # DTLS 1.2 handshake record
    assert classify(b"\x80\x60") is Kind.RTP
    assert classify(bytearray(b"\x17")) is Kind.DTLS
    assert classify(memoryview(b"\x00")) is Kind.STUN
    assert str(Kind.CHANNEL_DATA) == "channel-data"


def test_is_stun_candidate() -> None:
    assert is_stun_candidate(BINDING)
    assert is_stun_candidate(memoryview(BINDING))
    assert is_stun_candidate(bytearray(BINDING))
    assert not is_stun_candidate(BINDING[:19])
    assert not is_stun_candidate(b"")
    bad_cookie = BINDING[:4] + b"\x21\x12\xa4\x43" + BINDING[8:]
    assert not is_stun_candidate(bad_cookie)
    bad_length = BINDING[:3] + b"\x09" + BINDING[4:]
    assert not is_stun_candidate(bad_length)
    not_stun = b"\x04" + BINDING[1:]
    assert not is_stun_candidate(not_stun)
    assert not is_stun_candidate(encode_channel_data(0x4000, bytes(40)))


def test_is_channel_data() -> None:
    assert is_channel_data(encode_channel_data(0x4000, b""))
    assert is_channel_data(encode_channel_data(0x4FFF, b"abc"))
    assert not is_channel_data(b"\x40\x00\x00")
    assert not is_channel_data(b"\x50\x00\x00\x00")
    assert not is_channel_data(BINDING)


@given(st.binary(max_size=64))
def test_never_raises(data: bytes) -> None:
    kind = classify(data)
    assert isinstance(kind, Kind)
    if is_stun_candidate(data):
        assert kind is Kind.STUN
    if is_channel_data(data):
        assert kind is Kind.CHANNEL_DATA


def test_no_allocation_on_data_path() -> None:
    packets = [
        BINDING,
        b"\x80" * 100,
        b"\x17" * 40,
        encode_channel_data(0x4000, b"x" * 50),
    ]
    many = packets * 250
    tracemalloc.start()
    try:
        for packet in packets:  # warm up
            classify(packet)
            is_stun_candidate(packet)
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for packet in many:
            classify(packet)
            is_stun_candidate(packet)
            is_channel_data(packet)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A few hundred bytes of slack for the loop itself; per-call allocation
    # would show up as tens of kilobytes over 1,000 iterations.
    assert peak - before < 1024


def test_stun_first_byte_table_is_the_classify_rule() -> None:
    assert len(STUN_FIRST_BYTE) == 256
    for byte in range(256):
        assert STUN_FIRST_BYTE[byte] == (classify(bytes([byte])) is Kind.STUN)
