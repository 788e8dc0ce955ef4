"""Detection of replayed connectivity checks (see docs/core.md, "Replayed requests").

A signed Binding request can be captured and sent again from another
address; its MESSAGE-INTEGRITY still verifies.  The agent remembers where
each recently accepted request transaction id came from: the same id from
another source is a replay.  The record is bounded in time and in count.
"""

from __future__ import annotations

from .pair import PairKey

__all__ = ["REPLAY_RECORDS", "REPLAY_WINDOW", "ReplayGuard"]

#: Seconds a transaction id is remembered: longer than a check's
#: retransmissions (RFC 8489 §6.2.1: 39.5 s at most; ICE checks ~15 s).
REPLAY_WINDOW = 40.0
#: Transaction ids remembered at most: a peer pacing new checks every
#: 50 ms (RFC 8445 §14.2) sends 800 in the window.
REPLAY_RECORDS = 1000


class ReplayGuard:
    """Recently accepted request transaction ids and the source of each.

    A plain dict in insertion order: the agent's clock never runs backwards,
    so the first entry is the oldest and expiry only looks at the front.
    """

    __slots__ = ("_last", "_oldest", "_seen")

    def __init__(self) -> None:
        self._seen: dict[bytes, tuple[PairKey, float]] = {}
        #: The source of the last record: most come from the same few
        #: sources, and records share that object instead of a copy each.
        self._last: PairKey | None = None
        #: When the first entry was recorded (``inf`` when empty).
        self._oldest = float("inf")

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, tid: bytes, source: PairKey, now: float) -> bool:
        """Record ``tid`` from ``source``; False if it came from another source."""
        seen = self._seen
        if self._oldest <= now - REPLAY_WINDOW:
            self._expire(now - REPLAY_WINDOW)
        found = seen.get(tid)
        if found is not None:
            # A retransmission from the same source is answered again (RFC 8489 §6.3.1).
            return found[0] == source
        if len(seen) >= REPLAY_RECORDS:
            del seen[next(iter(seen))]
            self._oldest = next(iter(seen.values()))[1]
        elif not seen:
            self._oldest = now
        if source == self._last:
            source = self._last
        else:
            self._last = source
        seen[tid] = (source, now)
        return True

    def _expire(self, horizon: float) -> None:
        seen = self._seen
        expired = []
        self._oldest = float("inf")
        for tid, (_, at) in seen.items():
            if at > horizon:
                self._oldest = at
                break
            expired.append(tid)
        for tid in expired:
            del seen[tid]

    def clear(self) -> None:
        """Forget everything."""
        self._seen.clear()
        self._last = None
        self._oldest = float("inf")
