"""Where the connection stands: what to nominate, which state, when to act.

Pure functions over what the agent passes in: nomination follows RFC 8445
§8.1.1; the states follow §8.1.2 (completed), RFC 8863 §3 (the PAC timer),
RFC 7675 §5.1 (consent) and the W3C state names; the deadline is the
earliest of the timers.
"""

from __future__ import annotations

from collections.abc import Callable

from .checklist import CheckList
from .config import IceConfig
from .consent import Consent
from .pair import CandidatePair
from .states import ConnectionState, PairState

__all__ = ["best_valid", "better_pending", "connection_state", "next_deadline",
           "nomination_choice"]

INF = float("inf")
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


def connection_state(now: float, config: IceConfig, checklist: CheckList,
                     controlling: bool, started: bool, selected: CandidatePair | None,
                     consent: Consent | None, consent_lost: bool, restarting: bool,
                     end_of_candidates: bool, pac_start: float | None,
                     checks_pending: Callable[[], bool]) -> ConnectionState | None:
    """The state at ``now``; ``None`` before start with nothing selected (no change).

    ``restarting``: an ICE restart has not selected a new pair yet;
    ``end_of_candidates``: both sides' candidates are complete;
    ``checks_pending()``: a check is queued, in flight or still to come.
    """
    if consent_lost:
        return ConnectionState.FAILED  # RFC 7675 §5.1
    if selected is not None:
        if consent is not None and not config.lite and consent.disconnected(now):
            return ConnectionState.DISCONNECTED
        if (not restarting and end_of_candidates
                and (controlling and not config.renomination
                     # No better pair can still succeed; a Frozen one will be checked.
                     or not better_pending(checklist, selected.priority, count_blocked=True))):
            return ConnectionState.COMPLETED
        return ConnectionState.CONNECTED
    if not started:
        return None
    if checks_pending():
        return ConnectionState.CHECKING
    # RFC 8863 §3: without end-of-candidates, wait out the PAC timer.  A
    # controlled agent with a valid pair awaits the nomination until then.
    if ((pac_start is not None and now >= pac_start + config.pac_timeout)
            or (end_of_candidates and not config.lite
                and (controlling or best_valid(checklist) is None))):
        return ConnectionState.FAILED
    return ConnectionState.CHECKING


def next_deadline(now: float, config: IceConfig, state: ConnectionState,
                  timers: tuple[float | None, float | None, float | None],
                  consent: Consent | None, pac_start: float | None) -> float | None:
    """The earliest of ``timers``, the consent timers and the PAC timer, not before ``now``.

    ``consent`` is ``None`` when no consent is kept; ``pac_start`` when the
    PAC timer does not run (not started, or a pair is selected).
    """
    earliest = INF
    for at in timers:
        if at is not None and at < earliest:
            earliest = at
    if consent is not None:
        earliest = min(earliest, consent.next_send, consent.expire_deadline())
        if state is not ConnectionState.DISCONNECTED:
            disc = consent.disconnect_deadline()
            if disc is not None and disc < earliest:
                earliest = disc
    if pac_start is not None and state is not ConnectionState.FAILED:
        pac = pac_start + config.pac_timeout
        if now < pac < earliest:
            earliest = pac
    if earliest == INF:  # every timer is finite (IceConfig refuses others)
        return None
    return max(earliest, now)
