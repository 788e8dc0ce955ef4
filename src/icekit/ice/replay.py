"""Detection of replayed connectivity checks (see docs/core.md, "Replayed requests").

A signed Binding request can be captured and sent again from another
address; its MESSAGE-INTEGRITY still verifies.  The agent remembers where
each recently accepted request transaction id came from: the same id from
another source is a replay.  The record is bounded in time and in count.
"""

from __future__ import annotations

from collections import OrderedDict

from .pair import PairKey

__all__ = ["REPLAY_RECORDS", "REPLAY_WINDOW", "ReplayGuard"]

#: Seconds a transaction id is remembered: longer than a check's
#: retransmissions (RFC 8489 §6.2.1: 39.5 s at most; ICE checks ~15 s).
REPLAY_WINDOW = 40.0
#: Transaction ids remembered at most: a peer pacing new checks every
#: 50 ms (RFC 8445 §14.2) sends 800 in the window.
REPLAY_RECORDS = 1000


class ReplayGuard:
    """Recently accepted request transaction ids and the source of each."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: OrderedDict[bytes, tuple[PairKey, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, tid: bytes, source: PairKey, now: float) -> bool:
        """Record ``tid`` from ``source``; False if it came from another source."""
        seen = self._seen
        horizon = now - REPLAY_WINDOW
        while seen and next(iter(seen.values()))[1] <= horizon:
            seen.popitem(last=False)
        found = seen.get(tid)
        if found is not None:
            # A retransmission from the same source is answered again (RFC 8489 §6.3.1).
            return found[0] == source
        if len(seen) >= REPLAY_RECORDS:
            seen.popitem(last=False)
        seen[tid] = (source, now)
        return True

    def clear(self) -> None:
        """Forget everything."""
        self._seen.clear()
