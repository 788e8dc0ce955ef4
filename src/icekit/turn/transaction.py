"""Sans-IO STUN client transactions with RFC 8489 §6.2.1 retransmission.

A :class:`ClientTransaction` holds one encoded request and tells its owner
when to (re)send it and when to give up.  It reads no clock: every call takes
``now`` (float seconds, any monotonic origin).

Over UDP (RFC 8489 §6.2.1) the request is sent at 0, RTO, 3·RTO, 7·RTO, …
(the interval doubles) for at most *Rc* transmissions; after the last one the
client waits *Rm*·RTO more and then fails the transaction.  With the defaults
(RTO 500 ms, Rc 7, Rm 16) that is sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and
31.5 s and a timeout at 39.5 s.  Over TCP and TLS (RFC 8489 §6.2.2) the
request is sent once and a single timer *Ti* (39.5 s) bounds the wait.
"""

from __future__ import annotations

import dataclasses
import enum

from ..errors import ConfigError

__all__ = ["ClientTransaction", "TransactionConfig", "TransactionState"]


@dataclasses.dataclass(frozen=True)
class TransactionConfig:
    """Retransmission parameters (RFC 8489 §6.2.1 and §6.2.2).

    :param rto: initial retransmission timeout in seconds (RFC default 0.5).
    :param rc: maximum number of transmissions over UDP (RFC default 7).
    :param rm: the last wait is ``rm * rto`` seconds (RFC default 16).
    :param ti: the single timeout over reliable transports (RFC default 39.5).
    :param max_rto: optional cap on the doubled interval (``None``: no cap).
    """

    rto: float = 0.5
    rc: int = 7
    rm: int = 16
    ti: float = 39.5
    max_rto: float | None = None

    def __post_init__(self) -> None:
        if self.rto <= 0 or self.ti <= 0 or self.rc < 1 or self.rm < 1:
            raise ConfigError(
                "transaction timers must be positive and rc, rm at least 1"
            )
        if self.max_rto is not None and self.max_rto < self.rto:
            raise ConfigError("max_rto must not be below rto")

    def total_timeout(self, reliable: bool) -> float:
        """Seconds from the first transmission until the transaction fails."""
        if reliable:
            return self.ti
        total = 0.0
        interval = self.rto
        for _ in range(self.rc - 1):
            total += interval
            interval = self._next(interval)
        return total + self.rm * self.rto

    def _next(self, interval: float) -> float:
        doubled = interval * 2
        return min(doubled, self.max_rto) if self.max_rto is not None else doubled


class TransactionState(enum.Enum):
    """Where a transaction stands."""

    PENDING = "pending"
    DONE = "done"  # a response arrived (success or error)
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"


class ClientTransaction:
    """One STUN request and its retransmission schedule.

    The owner calls :meth:`start`, sends whatever :meth:`poll_transmit`
    returns, calls :meth:`handle_timeout` when :meth:`poll_timeout` passes and
    :meth:`complete` when a response with this transaction id arrives.
    """

    def __init__(
        self,
        transaction_id: bytes,
        request: bytes,
        *,
        reliable: bool,
        config: TransactionConfig | None = None,
    ) -> None:
        self.transaction_id = transaction_id
        self.request = request
        self.reliable = reliable
        self.config = config or TransactionConfig()
        self.state = TransactionState.PENDING
        #: number of times the request was handed out for sending
        self.transmissions = 0
        self._interval = self.config.rto
        self._next_send: float | None = None
        self._deadline: float | None = None
        self._pending_send = False

    def start(self, now: float) -> None:
        """Queue the first transmission at *now* and arm the timers."""
        self._pending_send = True
        self.transmissions = 1
        if self.reliable:
            self._deadline = now + self.config.ti
        elif self.config.rc == 1:
            self._deadline = now + self.config.rm * self.config.rto
        else:
            self._next_send = now + self._interval

    def poll_transmit(self) -> bytes | None:
        """The request bytes if a (re)transmission is due, else ``None``."""
        if self._pending_send and self.state is TransactionState.PENDING:
            self._pending_send = False
            return self.request
        return None

    def poll_timeout(self) -> float | None:
        """The next time :meth:`handle_timeout` must be called."""
        if self.state is not TransactionState.PENDING:
            return None
        return self._next_send if self._next_send is not None else self._deadline

    def handle_timeout(self, now: float) -> None:
        """Retransmit or fail, as the schedule says for *now*."""
        if self.state is not TransactionState.PENDING:
            return
        if self._next_send is not None and now >= self._next_send:
            # RFC 8489 §6.2.1: retransmit, doubling the interval.
            self._pending_send = True
            self.transmissions += 1
            self._interval = self.config._next(self._interval)
            if self.transmissions >= self.config.rc:
                self._next_send = None
                # After the Rc-th send, wait Rm * RTO (RFC 8489 §6.2.1).
                self._deadline = now + self.config.rm * self.config.rto
            else:
                self._next_send = now + self._interval
        elif self._deadline is not None and now >= self._deadline:
            self.state = TransactionState.TIMED_OUT
            self._pending_send = False

    def complete(self) -> None:
        """A response arrived: stop the timers."""
        if self.state is TransactionState.PENDING:
            self.state = TransactionState.DONE
            self._pending_send = False

    def cancel(self) -> None:
        """Forget the transaction (no more sends, no timeout)."""
        if self.state is TransactionState.PENDING:
            self.state = TransactionState.CANCELLED
            self._pending_send = False

    @property
    def timed_out(self) -> bool:
        """True once the schedule ran out without a response."""
        return self.state is TransactionState.TIMED_OUT
