"""The check list: pair formation, pruning, ordering and unfreezing (RFC 8445 §6.1.2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..candidate import Candidate, CandidateType, canonical_host
from .pair import STATE_INDEX, CandidatePair, PairKey
from .records import address_family, tcp_compatible
from .states import PairState

__all__ = ["CheckList"]

_ACTIVE = (PairState.WAITING, PairState.IN_PROGRESS)
_FROZEN = STATE_INDEX[PairState.FROZEN]
_WAITING = STATE_INDEX[PairState.WAITING]
_IN_PROGRESS = STATE_INDEX[PairState.IN_PROGRESS]


class CheckList:
    """Candidate pairs ordered by priority, plus the triggered-check queue."""

    __slots__ = ("_by_key", "_counts", "_dirty", "_dropped", "_ordered", "max_pairs", "triggered")

    def __init__(self, max_pairs: int, dropped: Counter[str] | None = None) -> None:
        self.max_pairs = max_pairs
        #: Where every discarded pair is counted (the agent's ``stats.dropped``).
        self._dropped: Counter[str] = dropped if dropped is not None else Counter()
        self._by_key: dict[PairKey, CandidatePair] = {}
        self._ordered: list[CandidatePair] = []
        self._dirty = False
        #: Pairs in each state (at its STATE_INDEX): the scheduler's questions are O(1).
        self._counts = [0] * len(STATE_INDEX)
        #: RFC 8445 §7.3.1.4: FIFO of pairs awaiting a triggered check.
        self.triggered: list[CandidatePair] = []

    # -- membership -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[CandidatePair]:
        return iter(self.ordered())

    def get(self, key: PairKey) -> CandidatePair | None:
        """The pair with this key, or ``None``."""
        return self._by_key.get(key)

    def ordered(self) -> list[CandidatePair]:
        """Pairs by decreasing priority (§6.1.2.3); ties broken by key for determinism."""
        if self._dirty:
            self._ordered.sort(key=lambda p: (-p.priority, p.key))
            self._dirty = False
        return self._ordered

    def resort(self) -> None:
        """Mark the order stale after priorities changed (role switch, replacement)."""
        self._dirty = True

    def add(self, pair: CandidatePair) -> tuple[CandidatePair | None, list[CandidatePair]]:
        """Insert ``pair``, pruning redundant ones (§6.1.2.4) and enforcing the limit.

        Returns ``(stored, removed)``: ``stored`` is the pair now in the list for
        that key (``pair`` itself, or the existing one it was redundant with;
        ``None`` if the limit pushed it out), ``removed`` lists pairs dropped.
        """
        existing = self._by_key.get(pair.key)
        if existing is not None:
            # Redundant: same base and remote address.  Keep the higher
            # priority candidates, but never disturb a pair already checked.
            if (pair.priority > existing.priority
                    and existing.state in (PairState.FROZEN, PairState.WAITING)
                    and not existing.valid):
                existing.local = pair.local
                existing.remote = pair.remote
                existing.foundation = pair.foundation
                existing.priority = pair.priority
                self._dirty = True
            return existing, []
        pair.state = self._initial_state(pair)  # not counted yet: plain write
        pair.owner_counts = self._counts
        self._counts[STATE_INDEX[pair.state]] += 1
        self._by_key[pair.key] = pair
        self._ordered.append(pair)
        self._dirty = True
        removed = self._enforce_limit()
        stored: CandidatePair | None = pair
        if pair in removed:
            stored, removed = None, [p for p in removed if p is not pair]
            self._dropped["pair_limit"] += 1
        if removed:
            self._dropped["pair_evicted"] += len(removed)
        return stored, removed

    def form(self, local: Candidate, socket_id: int, remote: Candidate,
             controlling: bool) -> CandidatePair | None:
        """RFC 8445 §6.1.2.2: pair ``local`` (sent through ``socket_id``) with ``remote``.

        Returns the new pair, or ``None`` if the candidates cannot pair or
        the list keeps another pair (redundant, or over the limit).
        """
        if (local.transport != remote.transport or local.component != remote.component
                or address_family(local.address) != address_family(remote.address)
                or not tcp_compatible(local, remote)):
            return None
        pair = CandidatePair(local, remote, socket_id, controlling)
        pair.key = (socket_id, (canonical_host(remote.address), remote.port))
        return pair if self.add(pair)[0] is pair else None

    def replace_remote(self, old: Candidate, new: Candidate, controlling: bool) -> None:
        """RFC 8838 §11.4: the signalled candidate ``new`` replaces the learned ``old``."""
        for pair in self._ordered:
            if pair.remote is old:
                pair.remote = new
                pair.foundation = f"{pair.local.foundation}/{new.foundation}"
                pair.update_priority(controlling)
        self._dirty = True

    def remove(self, pair: CandidatePair) -> None:
        """Drop ``pair`` from the list and the triggered queue."""
        if self._by_key.get(pair.key) is pair:
            del self._by_key[pair.key]
            self._ordered.remove(pair)
            self._counts[STATE_INDEX[pair.state]] -= 1
            pair.owner_counts = None
            try:
                self.triggered.remove(pair)
            except ValueError:
                pass

    def clear(self) -> None:
        """Forget every pair (ICE restart)."""
        for pair in self._ordered:
            pair.owner_counts = None
        self._counts = [0] * len(STATE_INDEX)
        self._by_key.clear()
        self._ordered.clear()
        self.triggered.clear()

    def _enforce_limit(self) -> list[CandidatePair]:
        # RFC 8445 §6.1.2.5: drop the lowest-priority pairs, but never one
        # with a check in flight, valid or nominated.  Pairs to learned
        # peer-reflexive candidates go first, so checks replayed from many
        # sources cannot crowd signalled candidates out of the list.
        excess = len(self._by_key) - self.max_pairs
        if excess <= 0:
            return []
        idle = [p for p in reversed(self.ordered()) if not (
            p.valid or p.nominated or p.state is PairState.IN_PROGRESS)]
        idle.sort(key=lambda p: p.remote.type is not CandidateType.PRFLX)  # stable
        removed = idle[:excess]
        for pair in removed:
            self.remove(pair)
        return removed

    # -- states -----------------------------------------------------------

    def _initial_state(self, pair: CandidatePair) -> PairState:
        # RFC 8838 §10 with §6.1.2.6: a new pair waits if its foundation has
        # already succeeded or has nothing active; otherwise it stays frozen
        # until a sibling with the same foundation resolves.  Of the
        # foundation's pairs not yet checked, the highest-priority one is the
        # Waiting one (§6.1.2.6), so a better sibling takes over the turn of
        # a worse one that is merely Waiting.
        busy = False
        unchecked: CandidatePair | None = None
        for other in self._ordered:
            if other.foundation != pair.foundation:
                continue
            state = other.state
            if state is PairState.SUCCEEDED:
                return PairState.WAITING
            if state is PairState.IN_PROGRESS:
                busy = True
            elif state is PairState.WAITING:
                if (other.transaction_id is None and other.priority < pair.priority
                        and other not in self.triggered):
                    unchecked = other
                else:
                    busy = True
        if busy:
            return PairState.FROZEN
        if unchecked is not None:
            unchecked.set_state(PairState.FROZEN)
        return PairState.WAITING

    def unfreeze_foundation(self, foundation: str) -> None:
        """§7.2.5.3.3: a check succeeded, so thaw its foundation's frozen pairs."""
        for pair in self._ordered:
            if pair.foundation == foundation and pair.state is PairState.FROZEN:
                pair.set_state(PairState.WAITING)

    def _find_ordinary(self) -> CandidatePair | None:
        # §6.1.4.2: the highest-priority Waiting pair; else a Frozen pair of
        # a foundation with nothing Waiting or In-Progress.
        counts = self._counts
        if not counts[_WAITING] and not counts[_FROZEN]:
            return None
        ordered = self.ordered()
        if counts[_WAITING]:
            for pair in ordered:
                if pair.state is PairState.WAITING and not pair.ordinary_blocked:
                    return pair
        if not counts[_FROZEN]:
            return None
        busy = {p.foundation for p in ordered if p.state in _ACTIVE}
        for pair in ordered:
            if (pair.state is PairState.FROZEN and not pair.ordinary_blocked
                    and pair.foundation not in busy):
                return pair
        return None

    def next_ordinary(self) -> CandidatePair | None:
        """The pair for the next ordinary check (§6.1.4.2), unfreezing if needed."""
        pair = self._find_ordinary()
        if pair is not None and pair.state is PairState.FROZEN:
            pair.set_state(PairState.WAITING)
        return pair

    def has_ordinary_work(self) -> bool:
        """Whether :meth:`next_ordinary` would return a pair now.

        Exactly the same question: a Frozen pair whose foundation is busy is
        no work yet, and answering "yes" for it would make the agent ask to
        be woken at once, again and again, until the sibling resolves.
        """
        if self._counts[_WAITING] and any(
                p.state is PairState.WAITING and not p.ordinary_blocked
                for p in reversed(self._ordered)):
            return True  # fast path: unchecked pairs gather at the low end
        return self._find_ordinary() is not None

    def count_active(self) -> int:
        """Number of Waiting plus In-Progress pairs (the RTO formula of §14.3)."""
        counts = self._counts
        return counts[_WAITING] + counts[_IN_PROGRESS]

    def count(self, state: PairState) -> int:
        """Number of pairs in ``state``."""
        return self._counts[STATE_INDEX[state]]

    def enqueue_triggered(self, pair: CandidatePair) -> None:
        """§7.3.1.4: queue a triggered check unless one is already queued."""
        pair.set_state(PairState.WAITING)
        if pair not in self.triggered:
            self.triggered.append(pair)

    def pop_triggered(self) -> CandidatePair | None:
        """The next pair from the triggered queue that is still in the list."""
        while self.triggered:
            pair = self.triggered.pop(0)
            if self._by_key.get(pair.key) is pair:
                return pair
        return None
