"""A virtual clock for the simulated network.

The simulator never reads wall time: the clock only moves when the network
jumps to the next deadline, and it can never move backwards.
"""

from __future__ import annotations

__all__ = ["VirtualClock"]


class VirtualClock:
    """Monotonic virtual time in seconds.

    ``start`` is the first value of :attr:`now`; every later value is greater
    than or equal to the previous one.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._start = float(start)

    @property
    def now(self) -> float:
        """The current virtual time in seconds."""
        return self._now

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was created."""
        return self._now - self._start

    def advance_to(self, when: float) -> None:
        """Jump to ``when``.

        Raises :class:`AssertionError` if ``when`` is earlier than :attr:`now`:
        a simulation whose time goes backwards is a bug in the simulator.
        """
        if when < self._now:
            raise AssertionError(
                f"virtual clock would go backwards: {when!r} < {self._now!r}"
            )
        self._now = float(when)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r})"
