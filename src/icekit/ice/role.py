"""The agent's role and role conflicts (RFC 8445 §6.1.1, §7.2.5.1, §7.3.1.1)."""

from __future__ import annotations

__all__ = ["ROLE_SWITCH_LIMIT", "Role"]

#: Role switches allowed per ICE generation.  Against a peer with a fixed
#: tie-breaker one switch always suffices (roles only move towards the
#: winner); the bound stops a peer whose role claims keep contradicting
#: each other from making us switch, and check, for ever.
ROLE_SWITCH_LIMIT = 4


class Role:
    """Controlling or controlled, the 64-bit tie-breaker, and the switches so far."""

    __slots__ = ("conflict_switches", "controlling", "epoch", "tie_breaker")

    def __init__(self, controlling: bool, tie_breaker: int) -> None:
        self.controlling = controlling
        self.tie_breaker = tie_breaker & 0xFFFFFFFFFFFFFFFF
        #: Number of role switches so far: a 487 answering a request sent
        #: before the latest switch is stale (transactions remember it).
        self.epoch = 0
        #: Switches caused by conflicts in the current ICE generation.
        self.conflict_switches = 0

    def switch(self, controlling: bool) -> bool:
        """Take ``controlling``; False if that is the role already."""
        if controlling == self.controlling:
            return False
        self.controlling = controlling
        self.epoch += 1
        return True

    def may_switch_for_conflict(self) -> bool:
        """Whether a conflict may still move us (see :data:`ROLE_SWITCH_LIMIT`)."""
        return self.conflict_switches < ROLE_SWITCH_LIMIT

    def should_switch(self, local_ufrag: str, peer_tie_breaker: int, peer_ufrag: str,
                       lite: bool) -> bool:
        """RFC 8445 §7.3.1.1: a request claims our role; True if we should switch.

        Controlling, we keep the role if we win; controlled, we take it if we
        win (a lite agent never does).  §7.3.1.1 compares tie-breakers with
        ">=" on both sides, so equal tie-breakers make both sides win (both
        controlling: each answers 487, both switch, and again for ever).
        Breaking the tie with the ufrags, which both sides know, gives one
        winner, the same on both.
        """
        wins = (self.tie_breaker, local_ufrag) > (peer_tie_breaker, peer_ufrag)
        return not wins if self.controlling else wins and not lite
