"""Incoming connectivity checks (RFC 8445 §7.3, RFC 8489 §9.1.3) and our role.

:func:`parse_check` is pure: it reads the request and the credentials and
says what the request is, or which error answers it.  Nothing an attacker
sends reaches the agent's state before it is authenticated.  :class:`Role`
holds the role our checks carry and decides the role conflicts a check
reveals (§6.1.1, §7.2.5.1, §7.3.1.1).
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import StunParseError
from ..stun import Attr, IntegrityKey, Message
from .records import Credentials

__all__ = ["ROLE_SWITCH_LIMIT", "CheckRejected", "ParsedCheck", "Role", "parse_check"]

#: Role switches allowed per ICE generation.  Against a peer with a fixed
#: tie-breaker one switch always suffices (roles only move towards the
#: winner); the bound stops a peer whose role claims keep contradicting
#: each other from making us switch, and check, for ever.
ROLE_SWITCH_LIMIT = 4


class ParsedCheck(NamedTuple):
    """An authenticated, well-formed check."""

    #: The credential generation whose key authenticated it.
    creds: Credentials
    #: The peer's ufrag, from USERNAME ``local:peer``.
    peer_ufrag: str
    priority: int
    #: The peer's tie-breaker from ICE-CONTROLLING or ICE-CONTROLLED.
    tie_breaker: int
    #: The peer claims the controlling role.
    peer_controlling: bool
    use_candidate: bool
    #: NOMINATION (renomination), if present.
    nomination: int | None


class CheckRejected(NamedTuple):
    """A request answered with an error: ``code``, counted as ``dropped[reason]``."""

    code: int
    reason: str
    #: Key to sign the error with; ``None`` when the request was not
    #: authenticated (RFC 8489 §9.1.3: the error is then unsigned).
    key: IntegrityKey | None
    unknown: tuple[int, ...] = ()


def parse_check(msg: Message, creds: Credentials,
                old_creds: Credentials | None) -> ParsedCheck | CheckRejected:
    """Validate a Binding request against the current (or pre-restart) credentials."""
    try:
        username = msg.get(Attr.USERNAME)
    except StunParseError:
        # RFC 8489 §6.3.1: malformed -> 400.  Attribute values are decoded
        # lazily, so every read of attacker input is guarded like this one.
        return CheckRejected(400, "malformed", None)
    if not isinstance(username, str) or not msg.has_integrity:
        return CheckRejected(400, "bad_request", None)  # RFC 8489 §9.1.3
    if not username.startswith(creds.local_prefix):
        if old_creds is None or not username.startswith(old_creds.local_prefix):
            return CheckRejected(401, "bad_username", None)
        creds = old_creds  # the old generation during an ICE restart
    if not msg.verify_integrity(creds.local_key):
        return CheckRejected(401, "bad_integrity", None)
    # Authenticated from here on: errors are signed.
    key = creds.local_key
    unknown = msg.unknown_required
    if unknown:
        return CheckRejected(420, "unknown_attributes", key, tuple(unknown))
    try:
        priority = msg.get(Attr.PRIORITY)
        ctl = msg.get(Attr.ICE_CONTROLLING)
        ced = msg.get(Attr.ICE_CONTROLLED)
        nomination = msg.get(Attr.NOMINATION)
    except StunParseError:
        return CheckRejected(400, "malformed", key)
    if not isinstance(priority, int) or (ctl is None) == (ced is None):
        return CheckRejected(400, "bad_request", key)  # RFC 8445 §7.3: both are required
    return ParsedCheck(creds, username[len(creds.local_prefix):], priority,
                       ctl if ctl is not None else ced, ctl is not None,
                       Attr.USE_CANDIDATE in msg,
                       nomination if isinstance(nomination, int) else None)


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
