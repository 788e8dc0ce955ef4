"""Why ICE failed: the evidence of one credential generation and the verdict.

:class:`FailureLog` collects what the agent saw since its start or last
restart (answers to our checks, 401s, the peer's checks and whether they
authenticated, the role switch limit); :meth:`FailureLog.diagnose` names the
:class:`~icekit.errors.FailureReason` when the agent declares failure, and
:meth:`FailureLog.certain` says when failure is certain before the PAC timer
(RFC 8863 §3) runs out.
"""

from __future__ import annotations

import logging

from ..errors import FailureReason
from .pair import CandidatePair, PairKey
from .states import ConnectionState, PairState

__all__ = ["FailureLog"]

logger = logging.getLogger(__name__)


class FailureLog:
    """Evidence about the current ICE generation (reset by a restart)."""

    __slots__ = ("answers", "peer_ok", "peer_rejected", "reason", "rejected", "role_limit")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (an ICE restart starts a new generation)."""
        #: Responses (success or authenticated error) matched to our checks.
        self.answers = 0
        #: Pairs a check of which was answered by an unsigned 401: the peer
        #: does not accept the remote ufrag/pwd we sign with (RFC 8489 §9.1.3).
        self.rejected: set[PairKey] = set()
        #: The peer's checks that authenticated with our current credentials.
        self.peer_ok = 0
        #: The peer's checks that failed our USERNAME or MESSAGE-INTEGRITY (401).
        self.peer_rejected = 0
        #: A role conflict hit the role switch limit.
        self.role_limit = False
        #: The reason of the latest failure (see :meth:`judge`).
        self.reason: FailureReason | None = None

    def judge(self, state: ConnectionState | None, previous: ConnectionState,
              pairs: list[CandidatePair], *, consent_lost: bool,
              remote_candidates: int) -> ConnectionState | None:
        """The state to report instead of ``state``; on failure, decide :attr:`reason`.

        ``previous`` is the state reported so far, ``pairs`` the check list.
        """
        if state is ConnectionState.CHECKING and self.certain(pairs):
            state = ConnectionState.FAILED
        if state is ConnectionState.FAILED and previous is not state:
            self.reason = reason = self.diagnose(consent_lost=consent_lost,
                                                 remote_candidates=remote_candidates, pairs=pairs)
            logger.info("ICE failed (%s): %s", reason.value, reason.hint)
        return state

    def certain(self, pairs: list[CandidatePair]) -> bool:
        """Whether failure is certain although more candidates may come.

        True when every pair failed and a 401 answered a check of each: the
        peer rejects the credentials every check of this generation is signed
        with, so no candidate it may still trickle can succeed either.  The
        PAC timer (RFC 8863 §3) waits for candidates; it cannot help here.
        """
        seen = False
        for pair in pairs:
            if pair.state is not PairState.FAILED or pair.key not in self.rejected:
                return False
            seen = True
        return seen

    def diagnose(self, *, consent_lost: bool, remote_candidates: int,
                 pairs: list[CandidatePair]) -> FailureReason:
        """The most specific reason for a failure, the surest evidence first."""
        if consent_lost:
            return FailureReason.CONSENT_LOST
        if self.role_limit:
            return FailureReason.ROLE_CONFLICT
        if self.peer_rejected and not self.peer_ok and not self.answers and not self.rejected:
            # Our checks got nowhere either, but the peer's arrive with the
            # wrong ufrag or pwd for us: that is the one thing known.
            return FailureReason.PEER_CREDENTIALS_WRONG
        if not remote_candidates:
            return FailureReason.NO_REMOTE_CANDIDATES
        if not pairs:
            return FailureReason.NO_COMPATIBLE_PAIRS
        if self.rejected and not any(pair.valid for pair in pairs):
            return FailureReason.CREDENTIALS_REJECTED
        if self.peer_rejected and not self.peer_ok:
            return FailureReason.PEER_CREDENTIALS_WRONG
        if any(pair.valid for pair in pairs):
            return FailureReason.NOT_NOMINATED
        if not self.answers:
            return FailureReason.NO_RESPONSE
        return FailureReason.CHECKS_FAILED
