"""Sans-IO server-reflexive address discovery: one STUN Binding exchange.

:class:`BindingClient` sends a Binding request to a STUN server (RFC 8489
§6.1), retransmits it on the RFC 8489 §6.2.1 schedule over UDP, and reports
the XOR-MAPPED-ADDRESS of the response (:class:`BindingSucceeded`) or why it
failed (:class:`BindingFailed`).  The driver sends the bytes from the socket
whose reflexive address it wants to learn: the srflx candidate's base.
"""

from __future__ import annotations

import collections
import logging
import secrets
from collections.abc import Callable

from ..demux import is_stun_candidate
from ..errors import (
    IcekitError,
    ServerError,
    ServerUnreachableError,
    StunParseError,
    TurnError,
)
from ..stun import Attr, Message, MessageClass, Method
from . import events
from .transaction import ClientTransaction, TransactionConfig

__all__ = ["BindingClient"]

logger = logging.getLogger(__name__)


class BindingClient:
    """One Binding transaction towards one STUN server.

    :param reliable: the connection is TCP/TLS (a single timer, no
        retransmissions, RFC 8489 §6.2.2).
    :param config: retransmission parameters.
    :param software: SOFTWARE attribute value, or ``None``.
    """

    def __init__(
        self,
        *,
        reliable: bool = False,
        config: TransactionConfig | None = None,
        software: str | None = None,
        id_source: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.reliable = reliable
        self.config = config or TransactionConfig()
        self.software = software
        self.transaction_id = id_source(12)
        self.mapped: tuple[str, int] | None = None
        self.error: ServerError | None = None
        self._tx: ClientTransaction | None = None
        self._started_at = 0.0
        self._transmits: collections.deque[bytes] = collections.deque()
        self._events: collections.deque[events.Event] = collections.deque()

    @property
    def done(self) -> bool:
        """True once a response arrived or the transaction failed."""
        return self.mapped is not None or self.error is not None

    @property
    def transmissions(self) -> int:
        """How many times the request was sent so far."""
        return self._tx.transmissions if self._tx is not None else 0

    def start(self, now: float) -> None:
        """Queue the first Binding request."""
        if self._tx is not None:
            return
        message = Message(
            Method.BINDING, MessageClass.REQUEST, transaction_id=self.transaction_id
        )
        if self.software is not None:
            message.add(Attr.SOFTWARE, self.software)
        data = message.encode(fingerprint=True)
        self._tx = ClientTransaction(
            self.transaction_id, data, reliable=self.reliable, config=self.config
        )
        self._started_at = now
        self._tx.start(now)
        self._drain()

    def matches(self, data: bytes) -> bool:
        """Cheap check: is *data* a STUN response with our transaction id?"""
        return is_stun_candidate(data) and data[8:20] == self.transaction_id

    def handle_data(self, now: float, data: bytes) -> bool:
        """Feed one datagram/message from the server; True if it was ours."""
        if self.done or not self.matches(data):
            return False
        try:
            message = Message.decode(data)
        except IcekitError as exc:
            logger.debug("dropping malformed Binding response: %s", exc)
            return False
        if message.method != Method.BINDING:
            return False
        if message.msg_class == MessageClass.SUCCESS:
            try:
                mapped = message.get(Attr.XOR_MAPPED_ADDRESS)
                if mapped is None:
                    mapped = message.get(Attr.MAPPED_ADDRESS)  # RFC 3489 servers
            except StunParseError:
                mapped = None
            if not isinstance(mapped, tuple):
                self._finish_error(
                    TurnError("Binding response without a mapped address")
                )
            else:
                self.mapped = mapped
                self._stop()
                self._events.append(
                    events.BindingSucceeded(mapped, now - self._started_at)
                )
            return True
        if message.msg_class == MessageClass.ERROR:
            try:
                error = message.get(Attr.ERROR_CODE)
            except StunParseError:
                error = None
            code, reason = error if isinstance(error, tuple) else (0, "")
            self._finish_error(
                TurnError(f"Binding failed: {code} {reason}".rstrip(), code or None)
            )
            return True
        return False

    def handle_timeout(self, now: float) -> None:
        """Retransmit or give up, as the schedule says."""
        if self._tx is None or self.done:
            return
        self._tx.handle_timeout(now)
        self._drain()
        if self._tx.timed_out:
            self._finish_error(
                ServerUnreachableError(
                    f"Binding request timed out after {self._tx.transmissions} attempts"
                )
            )

    def poll_transmit(self) -> bytes | None:
        """The request bytes when a (re)transmission is due."""
        return self._transmits.popleft() if self._transmits else None

    def poll_timeout(self) -> float | None:
        """When :meth:`handle_timeout` must next be called."""
        return None if self._tx is None or self.done else self._tx.poll_timeout()

    def poll_event(self) -> events.Event | None:
        """:class:`BindingSucceeded` or :class:`BindingFailed`, once."""
        return self._events.popleft() if self._events else None

    def _drain(self) -> None:
        assert self._tx is not None
        while (data := self._tx.poll_transmit()) is not None:
            self._transmits.append(data)

    def _stop(self) -> None:
        if self._tx is not None:
            self._tx.complete()
        self._transmits.clear()

    def _finish_error(self, error: ServerError) -> None:
        self.error = error
        self._stop()
        self._events.append(events.BindingFailed(error))
