"""Nomination decisions over the check list (RFC 8445 §8.1.1), as pure functions."""

from __future__ import annotations

from .checklist import CheckList
from .config import IceConfig
from .pair import CandidatePair
from .states import PairState

__all__ = ["best_valid", "better_pending", "nomination_choice"]

_PENDING = (PairState.WAITING, PairState.IN_PROGRESS, PairState.FROZEN)


def best_valid(checklist: CheckList) -> CandidatePair | None:
    """The highest-priority valid pair whose check succeeded."""
    for pair in checklist.ordered():
        if pair.valid and pair.state is PairState.SUCCEEDED:
            return pair
    return None


def better_pending(checklist: CheckList, priority: int, *, count_blocked: bool) -> bool:
    """Whether a pair above ``priority`` may still succeed (Frozen, Waiting, In-Progress).

    ``count_blocked``: count pairs whose ordinary checks are blocked too.
    """
    for pair in checklist.ordered():  # by decreasing priority
        if pair.priority <= priority:
            return False
        if pair.state in _PENDING and (count_blocked or not pair.ordinary_blocked):
            return True
    return False


def nomination_choice(checklist: CheckList, selected: CandidatePair | None,
                      config: IceConfig, now: float) -> tuple[CandidatePair, float] | None:
    """The pair a controlling agent would nominate next, and when.

    The best valid pair, at once when no better pair is pending, otherwise
    once it has been valid for the nomination wait of its type; only a
    better pair than ``selected``, and only with renomination once selected.
    """
    if selected is not None and not config.renomination:
        return None
    best = best_valid(checklist)
    if best is None or best is selected:
        return None
    if selected is not None and best.priority <= selected.priority:
        return None
    assert best.valid_at is not None
    if not better_pending(checklist, best.priority, count_blocked=False):
        return best, now
    return best, best.valid_at + config.nomination_wait(best.type_name)
