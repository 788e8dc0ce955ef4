"""The packet trace of a simulation run.

Every datagram the network handles, delivered or not, becomes one
:class:`PacketRecord`; tests filter the trace to assert message counts and to
see why a datagram was dropped.  :func:`stun_kind` reads just enough of a STUN
header to tell requests from responses without the STUN codec.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from icekit.types import Address

__all__ = ["ERROR", "INDICATION", "REQUEST", "SUCCESS", "PacketRecord", "is_stun_like", "stun_kind"]

_MAGIC_COOKIE = 0x2112A442

REQUEST = "request"
INDICATION = "indication"
SUCCESS = "success"
ERROR = "error"
_CLASSES = (REQUEST, INDICATION, SUCCESS, ERROR)


def is_stun_like(data: bytes) -> bool:
    """True if the first byte is in the STUN range 0-3 (RFC 7983 §7)."""
    return len(data) > 0 and data[0] < 4


def stun_kind(data: bytes) -> tuple[int, str] | None:
    """``(method, class)`` of a STUN message, or ``None`` if not STUN.

    Only the 20-byte header is checked (RFC 8489 §5: top two bits zero, magic
    cookie, length a multiple of 4); the class is one of ``"request"``,
    ``"indication"``, ``"success"``, ``"error"``.
    """
    if len(data) < 20 or data[0] >= 4:
        return None
    msg_type, length, cookie = struct.unpack_from("!HHI", data)
    if cookie != _MAGIC_COOKIE or length % 4 or length + 20 != len(data):
        return None
    # RFC 8489 §5: class bits C1 (bit 8) and C0 (bit 4) are interleaved with the method.
    cls = ((msg_type >> 7) & 0x2) | ((msg_type >> 4) & 0x1)
    method = (msg_type & 0x000F) | ((msg_type & 0x00E0) >> 1) | ((msg_type & 0x3E00) >> 2)
    return method, _CLASSES[cls]


@dataclass
class PacketRecord:
    """One datagram's journey through the simulated network.

    ``src`` is the sender's local socket address and ``dst`` the address the
    datagram was sent to.  ``wire_src`` is the source after any NAT on the
    sending side (what the receiver sees); ``delivered_to`` is the local
    address it finally reached.  ``dropped`` names what dropped it (``"loss"``,
    ``"firewall"``, ``"nat-filtered"``, ``"nat-no-mapping"``, ``"hairpin"``,
    ``"no-route"``, ``"unbound"``), or is ``None`` if it was delivered or is still
    in flight.  ``duplicate`` marks the extra copy of a duplicated datagram.
    """

    seq: int
    sent_at: float
    src: Address
    dst: Address
    data: bytes
    sender: str
    wire_src: Address | None = None
    arrive_at: float | None = None
    delivered_to: Address | None = None
    receiver: str | None = None
    dropped: str | None = None
    duplicate: bool = False
    injected: bool = False

    @property
    def size(self) -> int:
        """Payload length in bytes."""
        return len(self.data)

    @property
    def delivered(self) -> bool:
        """True once the datagram reached a bound socket."""
        return self.receiver is not None

    @property
    def stun(self) -> tuple[int, str] | None:
        """``(method, class)`` if the payload is a STUN message."""
        return stun_kind(self.data)

    def __str__(self) -> str:
        kind = self.stun
        what = f"stun {kind[0]:#06x} {kind[1]}" if kind else f"{self.size} bytes"
        fate = (
            f"dropped by {self.dropped}"
            if self.dropped
            else (f"-> {self.receiver} {self.delivered_to} at {self.arrive_at:.6f}"
                  if self.delivered and self.arrive_at is not None else "in flight")
        )
        via = f" as {self.wire_src}" if self.wire_src and self.wire_src != self.src else ""
        dup = " (dup)" if self.duplicate else ""
        return f"{self.sent_at:.6f} {self.sender} {self.src}{via} -> {self.dst}: {what}{dup} {fate}"
