"""ChannelData (RFC 8656 §12), RFC 4571 framing and the incremental stream decoders.

Set ``ICEKIT_FUZZ_LONG=1`` for the long fuzz run (1,000,000 stream mutations).
"""

from __future__ import annotations

import os
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icekit.errors import FramingError
from icekit.framing import (
    Rfc4571Decoder,
    TurnStreamDecoder,
    decode_channel_data,
    encode_channel_data,
    frame_rfc4571,
)

LONG = os.environ.get("ICEKIT_FUZZ_LONG") == "1"
# The long run takes minutes per test: lift the suite-wide timeout.
pytestmark = [pytest.mark.timeout(0)] if LONG else []
MAGIC = 0x2112A442


def stun_message(
    method: int = 0x0001, body: bytes = b"", txid: bytes = b"t" * 12
) -> bytes:
    """A raw STUN message: header plus attribute bytes (a multiple of 4)."""
    assert len(body) % 4 == 0
    return struct.pack("!HHI", method, len(body), MAGIC) + txid + body


def software_attr(text: bytes) -> bytes:
    """A SOFTWARE attribute (0x8022), padded: gives STUN messages of varied lengths."""
    return struct.pack("!HH", 0x8022, len(text)) + text + b"\x00" * (-len(text) % 4)


# --- ChannelData ---------------------------------------------------------------


def test_encode_channel_data() -> None:
    assert encode_channel_data(0x4000, b"abc") == b"\x40\x00\x00\x03abc"
    assert encode_channel_data(0x4FFF, b"abc", pad=True) == b"\x4f\xff\x00\x03abc\x00"
    assert encode_channel_data(0x4001, b"abcd", pad=True) == b"\x40\x01\x00\x04abcd"
    assert encode_channel_data(0x4001, b"", pad=True) == b"\x40\x01\x00\x00"
    assert encode_channel_data(0x4001, memoryview(b"xy")) == b"\x40\x01\x00\x02xy"


@pytest.mark.parametrize("channel", [0, 0x3FFF, 0x5000, 0x7FFF, 0xFFFF, -1, True])
def test_encode_bad_channel(channel: int) -> None:
    with pytest.raises(FramingError, match="channel number"):
        encode_channel_data(channel, b"x")


def test_encode_too_long() -> None:
    with pytest.raises(FramingError, match="16 bits"):
        encode_channel_data(0x4000, bytes(65536))
    assert len(encode_channel_data(0x4000, bytes(65535), pad=True)) == 65540


def test_decode_channel_data() -> None:
    assert decode_channel_data(b"\x40\x00\x00\x03abc") == (0x4000, b"abc")
    assert decode_channel_data(b"\x40\x00\x00\x03abc\x00") == (0x4000, b"abc")  # padded
    assert decode_channel_data(bytearray(b"\x4f\xff\x00\x00")) == (0x4FFF, b"")
    assert decode_channel_data(memoryview(b"\x40\x10\x00\x01z\x00\x00\x00")) == (
        0x4010,
        b"z",
    )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "shorter"),
        (b"\x40\x00\x00", "shorter"),
        (b"\x3f\xff\x00\x00", "channel number"),
        (b"\x50\x00\x00\x00", "channel number"),
        (b"\x40\x00\x00\x05abc", "only 3"),
        (b"\x40\x00\x00\x04abcd\x00", "more than padding"),
        (b"\x40\x00\x00\x03abc\x00\x00", "more than padding"),
    ],
)
def test_decode_channel_data_errors(data: bytes, problem: str) -> None:
    with pytest.raises(FramingError, match=problem):
        decode_channel_data(data)


@settings(max_examples=300 if not LONG else 5_000, deadline=None)
@given(st.integers(0x4000, 0x4FFF), st.binary(max_size=300), st.booleans())
def test_channel_data_round_trip(channel: int, data: bytes, pad: bool) -> None:
    wire = encode_channel_data(channel, data, pad=pad)
    if pad:
        assert len(wire) % 4 == 0
    assert decode_channel_data(wire) == (channel, data)


@settings(max_examples=1000 if not LONG else 50_000, deadline=None)
@given(st.binary(max_size=40))
def test_decode_channel_data_fuzz(data: bytes) -> None:
    try:
        channel, payload = decode_channel_data(data)
    except FramingError:
        return
    assert encode_channel_data(channel, payload) == data[: 4 + len(payload)]


# --- RFC 4571 ---------------------------------------------------------------------


def test_frame_rfc4571() -> None:
    assert frame_rfc4571(b"abc") == b"\x00\x03abc"
    assert frame_rfc4571(b"") == b"\x00\x00"
    with pytest.raises(FramingError):
        frame_rfc4571(bytes(65536))


def test_rfc4571_decoder_chunks() -> None:
    dec = Rfc4571Decoder()
    stream = frame_rfc4571(b"hello") + frame_rfc4571(b"") + frame_rfc4571(b"world!")
    out: list[bytes] = []
    for byte in stream:
        out += dec.feed(bytes([byte]))
    assert out == [b"hello", b"", b"world!"]
    assert dec.buffered == 0
    assert dec.feed(stream[:4]) == []
    assert dec.buffered == 4
    assert dec.feed(stream[4:]) == [b"hello", b"", b"world!"]


def test_rfc4571_decoder_bounded() -> None:
    dec = Rfc4571Decoder(max_frame_size=100)
    assert dec.feed(frame_rfc4571(bytes(100))) == [bytes(100)]
    with pytest.raises(FramingError, match="exceeds"):
        dec.feed(b"\x00\x65")  # 101 bytes announced
    assert dec.failed
    assert dec.buffered == 0
    with pytest.raises(FramingError, match="already lost"):
        dec.feed(b"\x00\x00")


def test_bad_max_frame_size() -> None:
    with pytest.raises(FramingError):
        Rfc4571Decoder(max_frame_size=0)


# --- TURN stream ------------------------------------------------------------------


def test_turn_stream_mixed_frames() -> None:
    msgs = [
        stun_message(0x0003, software_attr(b"abc")),
        encode_channel_data(0x4000, b"hello", pad=True),
        stun_message(0x0101),
        encode_channel_data(0x4ABC, b"1234", pad=True),
        encode_channel_data(0x4001, b"", pad=True),
        stun_message(0x0117, software_attr(b"x" * 33)),
    ]
    stream = b"".join(msgs)
    expected = [m if m[0] < 0x40 else m[: 4 + (m[2] << 8 | m[3])] for m in msgs]
    dec = TurnStreamDecoder()
    assert dec.feed(stream) == expected
    # One byte at a time.
    out: list[bytes] = []
    for byte in stream:
        out += dec.feed(bytes([byte]))
    assert out == expected
    assert dec.buffered == 0
    assert decode_channel_data(expected[1]) == (0x4000, b"hello")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x80\x00\x00\x00", "first byte 0x80"),
        (b"\x50\x00\x00\x00", "first byte 0x50"),
        (struct.pack("!HHI", 1, 6, MAGIC), "multiple of 4"),
        (struct.pack("!HHI", 1, 0, 0x12345678) + bytes(12), "magic cookie"),
    ],
)
def test_turn_stream_errors(data: bytes, problem: str) -> None:
    dec = TurnStreamDecoder()
    with pytest.raises(FramingError, match=problem):
        dec.feed(stun_message() + data)
    assert dec.failed
    with pytest.raises(FramingError, match="already lost"):
        dec.feed(stun_message())


def test_turn_stream_bounded() -> None:
    dec = TurnStreamDecoder(max_frame_size=64)
    assert dec.feed(stun_message(body=bytes(44))) == [stun_message(body=bytes(44))]
    with pytest.raises(FramingError, match="exceeds"):
        dec.feed(struct.pack("!HH", 0x4000, 61))  # 4 + 61 + 3 padding = 68 > 64
    dec = TurnStreamDecoder()
    # The largest possible frame is accepted, and buffering never holds more
    # than one incomplete frame.
    big = stun_message(body=bytes(65532))
    assert dec.feed(big[:-1]) == []
    assert dec.buffered == len(big) - 1
    assert dec.feed(big[-1:] + big[:10]) == [big]
    assert dec.buffered == 10


@st.composite
def turn_streams(draw: st.DrawFn) -> tuple[list[bytes], list[bytes], list[int]]:
    frames: list[bytes] = []
    wire: list[bytes] = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            body = software_attr(draw(st.binary(max_size=40)))
            msg = stun_message(draw(st.integers(0, 0x3FFF)), body)
            frames.append(msg)
            wire.append(msg)
        else:
            data = draw(st.binary(max_size=40))
            channel = draw(st.integers(0x4000, 0x4FFF))
            frames.append(encode_channel_data(channel, data))
            wire.append(encode_channel_data(channel, data, pad=True))
    stream = b"".join(wire)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    return frames, wire, cuts


@settings(max_examples=300 if not LONG else 5_000, deadline=None)
@given(turn_streams())
def test_turn_stream_any_chunking(
    case: tuple[list[bytes], list[bytes], list[int]],
) -> None:
    frames, wire, cuts = case
    stream = b"".join(wire)
    dec = TurnStreamDecoder()
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += dec.feed(memoryview(stream)[prev:cut])
        prev = cut
    assert out == frames
    assert dec.buffered == 0


@settings(max_examples=300 if not LONG else 5_000, deadline=None)
@given(
    st.lists(st.binary(max_size=60), max_size=8),
    st.lists(st.integers(0, 400), max_size=8),
)
def test_rfc4571_any_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame_rfc4571(p) for p in payloads)
    dec = Rfc4571Decoder()
    out: list[bytes] = []
    prev = 0
    for cut in [*sorted(c for c in cuts if c <= len(stream)), len(stream)]:
        out += dec.feed(stream[prev:cut])
        prev = cut
    assert out == payloads


def test_stream_fuzz() -> None:
    """Random bytes in random chunks: frames or FramingError, nothing else."""
    rng = random.Random(4571)
    for _ in range(1_000_000 if LONG else 3_000):
        blob = rng.randbytes(rng.randrange(80))
        if rng.random() < 0.5:
            # Start from valid data, then corrupt it.
            good = stun_message(body=software_attr(b"x" * rng.randrange(9)))
            good += encode_channel_data(
                0x4000 + rng.randrange(4096), blob[:20], pad=True
            )
            i = rng.randrange(len(good))
            blob = good[:i] + bytes([rng.randrange(256)]) + good[i + 1 :]
        for dec in (
            TurnStreamDecoder(max_frame_size=1 + rng.randrange(200)),
            Rfc4571Decoder(),
        ):
            pos = 0
            try:
                while pos < len(blob):
                    step = rng.randrange(1, 30)
                    for frame in dec.feed(blob[pos : pos + step]):
                        assert isinstance(frame, bytes)
                    pos += step
            except FramingError:
                assert dec.failed


def test_take_buffered_for_raw_handover() -> None:
    dec = TurnStreamDecoder()
    response = stun_message(0x010B)  # ConnectionBind success response
    data = response + b"\x17\x03\x03raw application bytes"
    assert dec.feed(data, limit=1) == [response]
    assert dec.take_buffered() == b"\x17\x03\x03raw application bytes"
    assert dec.buffered == 0
    assert dec.feed(stun_message()) == [stun_message()]
    rfc = Rfc4571Decoder()
    assert rfc.feed(frame_rfc4571(b"a") + frame_rfc4571(b"b"), limit=1) == [b"a"]
    assert rfc.feed(b"", limit=0) == []
    assert rfc.feed(b"") == [b"b"]
