"""A simulated STUN server: answers Binding requests (RFC 8489 §6.3).

Attach it to the network like any endpoint; it answers on the socket a
request arrived on, so one server can listen on several addresses.  It is
what a test uses when the agents should gather server-reflexive candidates
through real exchanges; :meth:`tests.sim.network.Network.reflexive_address`
gives the same answer without any traffic.
"""

from __future__ import annotations

import logging
from collections import deque

from icekit.errors import StunError
from icekit.stun import Attr, Message, MessageClass, Method
from icekit.types import Address

from .endpoint import SimTransmit

__all__ = ["StunServer"]

logger = logging.getLogger(__name__)


class StunServer:
    """Answers Binding requests with XOR-MAPPED-ADDRESS set to the request's source.

    Malformed datagrams, indications and responses are ignored and counted in
    :attr:`ignored`; a request with unknown comprehension-required attributes
    gets 420 (RFC 8489 §6.3.1), any other method 400.  :attr:`requests` lists
    ``(now, socket_id, src)`` of every Binding request answered.
    """

    def __init__(self, software: str | None = "icekit-sim") -> None:
        self.software = software
        self.requests: list[tuple[float, int, Address]] = []
        self.ignored = 0
        self._out: deque[SimTransmit] = deque()

    def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
        """Answer a Binding request from ``src``."""
        try:
            req = Message.decode(data)
        except StunError:
            self.ignored += 1
            return
        if req.msg_class != MessageClass.REQUEST:
            self.ignored += 1
            return
        if req.unknown_required:
            resp = req.error_response(420)
        elif req.method != Method.BINDING:
            resp = req.error_response(400)
        else:
            # RFC 8489 §14.2: the reflexive transport address as the server saw it.
            resp = req.success_response()
            resp.add(Attr.XOR_MAPPED_ADDRESS, src)
            self.requests.append((now, socket_id, src))
        if self.software is not None:
            resp.add(Attr.SOFTWARE, self.software)
        self._out.append(SimTransmit(socket_id, src, resp.encode(fingerprint=True)))

    def handle_timeout(self, now: float) -> None:
        """Never called: the server has no timers."""

    def poll_transmit(self) -> SimTransmit | None:
        """The next response to send."""
        return self._out.popleft() if self._out else None

    def poll_timeout(self) -> float | None:
        """No deadline."""
        return None

    def poll_event(self) -> object | None:
        """No events."""
        return None
