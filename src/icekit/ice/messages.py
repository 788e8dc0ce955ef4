"""Building the STUN messages of ICE connectivity checks (RFC 8445 §7.1, §7.3).

All STUN codec use of the core goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..stun import ERROR_REASONS, Attr, IntegrityKey, Message, MessageClass, Method
from ..types import Address

__all__ = ["build_error", "build_request", "build_success"]

def build_request(tid: bytes, username: str, key: IntegrityKey, priority: int,
                  controlling: bool, tie_breaker: int, use_candidate: bool,
                  nomination: int | None) -> bytes:
    """A connectivity check (RFC 8445 §7.1.1–§7.1.2), signed and fingerprinted."""
    msg = Message(Method.BINDING, MessageClass.REQUEST, transaction_id=tid)
    msg.add(Attr.USERNAME, username)
    msg.add(Attr.PRIORITY, priority)
    msg.add(Attr.ICE_CONTROLLING if controlling else Attr.ICE_CONTROLLED, tie_breaker)
    if use_candidate:
        msg.add(Attr.USE_CANDIDATE, None)
    if nomination is not None:
        msg.add(Attr.NOMINATION, nomination)
    return msg.encode(integrity_key=key, fingerprint=True)


def build_success(tid: bytes, mapped: Address, key: IntegrityKey) -> bytes:
    """A success response carrying XOR-MAPPED-ADDRESS (RFC 8445 §7.3.1.2)."""
    msg = Message(Method.BINDING, MessageClass.SUCCESS, transaction_id=tid)
    msg.add(Attr.XOR_MAPPED_ADDRESS, mapped)
    return msg.encode(integrity_key=key, fingerprint=True)


def build_error(tid: bytes, code: int, key: IntegrityKey | None,
                unknown: Sequence[int] = ()) -> bytes:
    """An error response; signed when the request was authenticated (RFC 8489 §9.1.3)."""
    msg = Message(Method.BINDING, MessageClass.ERROR, transaction_id=tid)
    msg.add(Attr.ERROR_CODE, (code, ERROR_REASONS.get(code, "")))
    if unknown:
        msg.add(Attr.UNKNOWN_ATTRIBUTES, tuple(unknown))
    return msg.encode(integrity_key=key, fingerprint=True)
