"""One drive loop for every sans-IO object the asyncio layer runs.

The sans-IO objects (:class:`~icekit.ice.IceAgent`, the TURN client, the
STUN Binding client) share one shape, :class:`SansIO`: inputs carry ``now``;
outputs are pulled with ``poll_transmit``, ``poll_event`` and
``poll_timeout``.  :class:`Driver` is the single piece of asyncio code that
turns that shape into I/O: after every input it sends what the object wants
sent, hands its events on and keeps one timer armed at its next deadline
(the ``transmit()`` step of aioquic's ``asyncio/protocol.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Driver", "SansIO"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
E = TypeVar("E")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)


class SansIO(Protocol[T_co, E_co]):
    """The output side every sans-IO object of icekit has."""

    def poll_transmit(self) -> T_co | None:
        """The next thing to send, or ``None``."""

    def poll_event(self) -> E_co | None:
        """The next event, or ``None``."""

    def poll_timeout(self) -> float | None:
        """The absolute time at which ``handle_timeout`` is due, or ``None``."""

    def handle_timeout(self, now: float) -> None:
        """Time has reached ``now``."""


class Driver(Generic[T, E]):
    """Drains a :class:`SansIO` object after each input and re-arms its timer.

    ``send`` gets each transmit and ``on_event`` each event, in order; an
    exception from either is logged, never raised into the caller (one bad
    datagram or callback must not stop the others).  Call :meth:`after_input`
    after every ``handle_*`` call made on the object; the timer calls it by
    itself, on the loop's monotonic clock.  ``before``, if given, runs at
    the start of every drain (e.g. to forget state the input may have
    invalidated).
    """

    __slots__ = ("_at", "_before", "_closed", "_loop", "_on_event", "_send", "_target", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, target: SansIO[T, E],
                 send: Callable[[T], object], on_event: Callable[[E], object], *,
                 before: Callable[[], object] | None = None) -> None:
        self._loop = loop
        self._target = target
        self._send = send
        self._on_event = on_event
        self._before = before
        self._timer: asyncio.TimerHandle | None = None
        self._at: float | None = None
        self._closed = False

    def after_input(self) -> None:
        """Send the pending transmits, hand on the events, re-arm the timer."""
        if self._before is not None:
            self._before()
        target = self._target
        send = self._send
        while (transmit := target.poll_transmit()) is not None:
            try:
                send(transmit)
            except Exception:
                logger.exception("sending a datagram failed")
        on_event = self._on_event
        while (event := target.poll_event()) is not None:
            try:
                on_event(event)
            except Exception:
                logger.exception("handling %r failed", event)
        if self._closed:
            return
        deadline = target.poll_timeout()
        if deadline == self._at and (deadline is None or self._timer is not None):
            return  # already armed for exactly this deadline
        self._cancel()
        if deadline is not None:
            self._at = deadline
            self._timer = self._loop.call_at(deadline, self._fire)

    def close(self) -> None:
        """Stop the timer for good (idempotent); transmits are no longer drained by it."""
        self._closed = True
        self._cancel()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._at = None

    def _fire(self) -> None:
        self._timer = None
        self._at = None
        if self._closed:
            return
        self._target.handle_timeout(self._loop.time())
        self.after_input()
