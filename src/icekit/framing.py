"""TURN ChannelData (RFC 8656 §12) and RFC 4571 stream framing.

Over UDP a datagram holds exactly one STUN message or ChannelData message. Over
TCP or TLS (to a TURN server, RFC 8656 §12.5, or between ICE-TCP peers,
RFC 6544 §3) the bytes arrive as a stream that has to be cut back into frames:

* :class:`TurnStreamDecoder` splits a TURN-over-TCP/TLS stream, where STUN
  messages (length from their 20-byte header, RFC 8489 §6.2.2) and ChannelData
  messages (padded to a multiple of 4) follow each other back to back;
* :class:`Rfc4571Decoder` splits an RFC 4571 stream, where every frame carries
  a two-byte length prefix.

Both take chunks of any size through ``feed()`` and return the whole frames
completed so far. They buffer at most one incomplete frame, bounded by
``max_frame_size``; a frame announcing more, or bytes that cannot start a frame,
raise :class:`~icekit.errors.FramingError` and leave the decoder failed (a
stream that lost framing cannot be resynchronized: close the connection).
"""

from __future__ import annotations

import logging
import struct

from .errors import FramingError

__all__ = [
    "CHANNEL_MAX",
    "CHANNEL_MIN",
    "Rfc4571Decoder",
    "TurnStreamDecoder",
    "decode_channel_data",
    "encode_channel_data",
    "frame_rfc4571",
]

logger = logging.getLogger(__name__)

#: Valid channel numbers (RFC 8656 §12); 0x5000-0x7FFF are reserved.
CHANNEL_MIN = 0x4000
CHANNEL_MAX = 0x4FFF

_HEADER = struct.Struct("!HH")
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from
_MAGIC = b"\x21\x12\xa4\x42"
_STUN_HEADER = 20
_MAX_PAYLOAD = 0xFFFF
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # indexed by length % 4

Buffer = bytes | bytearray | memoryview


def encode_channel_data(channel: int, data: Buffer, pad: bool = False) -> bytes:
    """Build a ChannelData message (RFC 8656 §12.4): the TURN client's send path.

    ``pad=True`` pads the message to a multiple of 4 bytes, as required over
    TCP and TLS (RFC 8656 §12.5); the length field never counts the padding.
    """
    length = len(data)
    if type(channel) is int and CHANNEL_MIN <= channel <= CHANNEL_MAX and length <= _MAX_PAYLOAD:
        frame = _pack_header(channel, length) + data
        return frame + _PADDING[length & 3] if pad and length & 3 else frame
    if length > _MAX_PAYLOAD:
        raise FramingError(f"ChannelData length: {length} bytes do not fit in 16 bits")
    raise FramingError(f"ChannelData channel number: {channel!r} is outside 0x4000-0x4FFF")


def decode_channel_data(buf: Buffer) -> tuple[int, bytes]:
    """Parse one ChannelData message; return ``(channel, data)``: the TURN client's receive path.

    Up to the padding to the next multiple of 4 may follow the data (RFC 8656
    §12.5: padding is optional over UDP, so both forms are accepted); more
    than that is an error, as are a truncated message and a channel number
    outside 0x4000-0x4FFF (all :class:`~icekit.errors.FramingError`).
    """
    size = len(buf)
    if size >= 4:
        channel, end = _unpack_header(buf)
        end += 4
        if CHANNEL_MIN <= channel <= CHANNEL_MAX and end <= size and size - end <= (-end & 3):
            data = buf[4:end]
            return channel, data if type(data) is bytes else bytes(data)
    # The slow path: say what is wrong.
    if size < 4:
        raise FramingError(f"ChannelData: {size} bytes, shorter than the 4-byte header")
    channel, length = _unpack_header(buf)
    if not CHANNEL_MIN <= channel <= CHANNEL_MAX:
        raise FramingError(f"ChannelData channel number: 0x{channel:04x} is outside 0x4000-0x4FFF")
    if 4 + length > size:
        raise FramingError(f"ChannelData length: header says {length} bytes, only {size - 4} present")
    raise FramingError(f"ChannelData: {size - 4 - length} bytes after the data, more than padding")


def frame_rfc4571(data: Buffer) -> bytes:
    """Prefix ``data`` with its two-byte length (RFC 4571 §2)."""
    length = len(data)
    if length > _MAX_PAYLOAD:
        raise FramingError(f"RFC 4571 frame: {length} bytes do not fit in 16 bits")
    return length.to_bytes(2, "big") + bytes(data)


class _StreamDecoder:
    """Shared buffering and failure handling of the stream decoders."""

    __slots__ = ("_buf", "_failed", "max_frame_size")

    def __init__(self, max_frame_size: int) -> None:
        if not isinstance(max_frame_size, int) or max_frame_size < 1:
            raise FramingError(
                f"max_frame_size: {max_frame_size!r} is not a positive int"
            )
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._failed: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back as the start of an incomplete frame."""
        return len(self._buf)

    @property
    def failed(self) -> bool:
        """True once the stream was found malformed; ``feed()`` then always raises."""
        return self._failed is not None

    def take_buffered(self) -> bytes:
        """Remove and return the bytes held back (an incomplete frame).

        For a connection that stops being framed, e.g. a TURN TCP data
        connection after its ConnectionBind succeeds (RFC 6062 §4.3): the
        bytes already received belong to the raw stream that follows (feed
        with ``limit=1`` while waiting for that response).
        """
        data = bytes(self._buf)
        self._buf = bytearray()
        return data

    def _fail(self, message: str) -> FramingError:
        self._failed = message
        self._buf = bytearray()
        logger.debug("stream framing lost: %s", message)
        return FramingError(message)

    def feed(self, chunk: Buffer, limit: int | None = None) -> list[bytes]:
        """Add received bytes; return every frame they complete, in order.

        With ``limit``, at most that many frames are cut and the rest stays
        buffered (see :meth:`take_buffered`). On malformed data this raises
        :class:`FramingError` (frames completed earlier in the same chunk are
        dropped with it: the stream is unusable and should be closed).
        """
        if self._failed is not None:
            raise FramingError(f"stream framing already lost: {self._failed}")
        buf = self._buf
        buf += chunk
        frames: list[bytes] = []
        pos = self._split(buf, frames, -1 if limit is None else limit)
        if pos:
            del buf[:pos]
        return frames

    def _split(self, buf: bytearray, frames: list[bytes], limit: int) -> int:
        raise NotImplementedError


class TurnStreamDecoder(_StreamDecoder):
    """Splits a TURN-over-TCP/TLS stream into STUN and ChannelData messages.

    Each frame comes out as ``bytes``: a whole STUN message, or a ChannelData
    message (header and data, padding removed) for :func:`decode_channel_data`.
    Tell them apart by the first byte (:func:`icekit.demux.classify`). The
    first byte of every frame must be 0x00-0x3F (STUN, RFC 8489 §5, with the
    magic cookie) or 0x40-0x4F (ChannelData); anything else means framing is
    lost.
    """

    __slots__ = ()

    def __init__(self, max_frame_size: int = _STUN_HEADER + _MAX_PAYLOAD) -> None:
        super().__init__(max_frame_size)

    def _split(self, buf: bytearray, frames: list[bytes], limit: int) -> int:
        pos = 0
        size = len(buf)
        while size - pos >= 4 and len(frames) != limit:
            first = buf[pos]
            length = buf[pos + 2] << 8 | buf[pos + 3]
            # Not icekit.demux.classify: nothing else shares a TURN stream, so a
            # STUN message is any type with the two top bits zero (RFC 8489 §5),
            # wider than RFC 7983's 0-3 for datagrams that may be DTLS or RTP.
            if first < 0x40:
                # STUN: the length excludes the 20-byte header and is always a
                # multiple of 4 (RFC 8489 §5).
                if length & 3:
                    raise self._fail(
                        f"STUN message length {length} is not a multiple of 4"
                    )
                if size - pos >= 8 and buf[pos + 4 : pos + 8] != _MAGIC:
                    raise self._fail(
                        "STUN message without the magic cookie on a TURN stream"
                    )
                frame_len = total = _STUN_HEADER + length
            elif first < 0x50:
                # ChannelData, padded to a multiple of 4 on streams (RFC 8656 §12.5).
                frame_len = 4 + length
                total = frame_len + (-length & 3)
            else:
                raise self._fail(
                    f"first byte 0x{first:02x} starts neither STUN nor ChannelData"
                )
            if total > self.max_frame_size:
                raise self._fail(
                    f"frame of {total} bytes exceeds max_frame_size {self.max_frame_size}"
                )
            if size - pos < total:
                break
            frames.append(bytes(buf[pos : pos + frame_len]))
            pos += total
        return pos


class Rfc4571Decoder(_StreamDecoder):
    """Splits an RFC 4571 stream (ICE-TCP, RFC 6544 §3) into frame payloads.

    Each frame is returned without its two-byte length prefix. A zero-length
    frame comes out as ``b""``.
    """

    __slots__ = ()

    def __init__(self, max_frame_size: int = _MAX_PAYLOAD) -> None:
        super().__init__(max_frame_size)

    def _split(self, buf: bytearray, frames: list[bytes], limit: int) -> int:
        pos = 0
        size = len(buf)
        max_size = self.max_frame_size
        while size - pos >= 2 and len(frames) != limit:
            length = buf[pos] << 8 | buf[pos + 1]
            if length > max_size:
                raise self._fail(
                    f"RFC 4571 frame of {length} bytes exceeds max_frame_size {max_size}"
                )
            end = pos + 2 + length
            if end > size:
                break
            frames.append(bytes(buf[pos + 2 : end]))
            pos = end
        return pos
