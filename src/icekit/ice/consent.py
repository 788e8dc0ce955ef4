"""Consent freshness bookkeeping for the selected pair (RFC 7675).

The agent sends a Binding request on the selected pair at a randomised
interval (RFC 7675 §5.1: 5 s, uniformly ±20 %); these requests double as
keepalives (RFC 8445 §11).  Only authenticated success responses refresh
consent (RFC 7675 §5.1), never application data.
"""

from __future__ import annotations

import random

from .config import IceConfig

__all__ = ["Consent"]

#: Minimum time an unanswered consent request is given before the pair is
#: called disconnected, so that the normal 4–6 s interval (which can exceed
#: the 5 s disconnected timeout) does not flap the state.
_MIN_GRACE = 1.0


class Consent:
    """Timers of consent freshness on one pair."""

    __slots__ = ("_config", "_rng", "last_response", "next_send", "rtt", "unanswered_since")

    def __init__(self, config: IceConfig, rng: random.Random, now: float,
                 rtt: float | None = None) -> None:
        self._config = config
        self._rng = rng
        #: Time of the last authenticated success response on the pair.
        self.last_response = now
        self.next_send = now + self._interval()
        #: Send time of the oldest request not answered since last_response.
        self.unanswered_since: float | None = None
        self.rtt = rtt

    def _interval(self) -> float:
        c = self._config
        return c.consent_interval * (1.0 + self._rng.uniform(-c.consent_jitter, c.consent_jitter))

    def _grace(self) -> float:
        return max(_MIN_GRACE, 2.0 * self.rtt) if self.rtt is not None else _MIN_GRACE

    def on_sent(self, now: float) -> None:
        """A consent request went out: schedule the next one."""
        if self.unanswered_since is None:
            self.unanswered_since = now
        self.next_send = now + self._interval()

    def on_response(self, now: float) -> None:
        """An authenticated success response arrived from the pair's remote."""
        self.last_response = now
        self.unanswered_since = None

    def disconnected(self, now: float) -> bool:
        """No authenticated response for ``disconnected_timeout`` with a request pending."""
        if self.unanswered_since is None:
            return False
        deadline = self.disconnect_deadline()
        # Compare with the deadline itself so that poll_timeout's value is
        # exactly the instant the condition turns true (no float drift).
        return deadline is not None and now >= deadline

    def disconnect_deadline(self) -> float | None:
        """When :meth:`disconnected` may next turn true, if a request is pending."""
        if self.unanswered_since is None:
            return None
        return max(self.last_response + self._config.disconnected_timeout,
                   self.unanswered_since + self._grace())

    def expire_deadline(self) -> float:
        """RFC 7675 §5.1: consent is lost this long after the last response."""
        return self.last_response + self._config.consent_timeout

    def expired(self, now: float) -> bool:
        """Whether consent has run out at ``now``."""
        return now >= self.expire_deadline()
