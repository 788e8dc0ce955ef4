"""Demultiplexing of received datagrams by their first byte (RFC 7983 §7).

One UDP socket carries STUN (ICE checks, TURN control), TURN ChannelData and
the application's own traffic (DTLS, RTP, ...). RFC 7983 tells them apart by
the first byte alone::

    0-3      STUN
    16-19    ZRTP
    20-63    DTLS
    64-79    TURN ChannelData
    128-191  RTP / RTCP
    other    not assigned (dropped by RFC 7983; :attr:`Kind.OTHER` here)

:func:`classify` is a table lookup and :func:`is_stun_candidate` a handful of
byte comparisons, both without allocation, for the per-packet data path.
"""

from __future__ import annotations

import enum

__all__ = ["STUN_FIRST_BYTE", "Kind", "classify", "is_channel_data", "is_stun_candidate"]


class Kind(enum.Enum):
    """What a datagram is, by its first byte (RFC 7983 §7)."""

    STUN = "stun"
    ZRTP = "zrtp"
    DTLS = "dtls"
    CHANNEL_DATA = "channel-data"
    RTP = "rtp"  #: RTP or RTCP
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


def _build_table() -> tuple[Kind, ...]:
    table = [Kind.OTHER] * 256
    for first, last, kind in (
        (0, 3, Kind.STUN),
        (16, 19, Kind.ZRTP),
        (20, 63, Kind.DTLS),
        (64, 79, Kind.CHANNEL_DATA),
        (128, 191, Kind.RTP),
    ):
        for byte in range(first, last + 1):
            table[byte] = kind
    return tuple(table)


_TABLE = _build_table()

#: ``STUN_FIRST_BYTE[data[0]]``: whether a first byte is in the STUN range,
#: the same rule as :func:`classify` as a plain lookup for per-datagram loops
#: (cheaper than a call and an enum comparison).
STUN_FIRST_BYTE: tuple[bool, ...] = tuple(kind is Kind.STUN for kind in _TABLE)


def classify(data: bytes | bytearray | memoryview) -> Kind:
    """Classify a datagram by its first byte; an empty one is :attr:`Kind.OTHER`."""
    return _TABLE[data[0]] if data else Kind.OTHER


def is_stun_candidate(data: bytes | bytearray | memoryview) -> bool:
    """Cheap test that ``data`` may be a STUN message worth decoding.

    True when it is at least a STUN header long (20 bytes), the first byte is
    0-3 (RFC 7983), the length field is a multiple of 4 and the magic cookie
    0x2112A442 is in place (RFC 8489 §5). Full validation is the decoder's job.
    """
    return (
        len(data) >= 20
        and data[0] < 4
        and not data[3] & 3
        and data[4] == 0x21
        and data[5] == 0x12
        and data[6] == 0xA4
        and data[7] == 0x42
    )


def is_channel_data(data: bytes | bytearray | memoryview) -> bool:
    """Cheap test for a TURN ChannelData message: first byte 64-79, 4-byte header present."""
    return len(data) >= 4 and 0x40 <= data[0] <= 0x4F
