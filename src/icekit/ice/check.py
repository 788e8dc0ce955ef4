"""Validation of an incoming connectivity check (RFC 8445 §7.3, RFC 8489 §9.1.3).

:func:`parse_check` is pure: it reads the request and the credentials and
says what the request is, or which error answers it.  Nothing an attacker
sends reaches the agent's state before it is authenticated.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import StunParseError
from ..stun import Attr, IntegrityKey, Message
from .records import Credentials

__all__ = ["CheckRejected", "ParsedCheck", "parse_check"]


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
