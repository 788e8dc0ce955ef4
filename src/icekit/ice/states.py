"""State enumerations of the ICE agent core.

``str()`` of every member gives its lowercase name (``"checking"``,
``"in-progress"``), which is what logs, events and the asyncio layer show.
"""

from __future__ import annotations

import enum

__all__ = ["ConnectionState", "GatheringState", "PairState"]


class _NamedEnum(enum.Enum):
    """An enum whose ``str()`` is its value (the lowercase name)."""

    def __str__(self) -> str:
        return str(self.value)


class ConnectionState(_NamedEnum):
    """The connection state of the agent (RFC 8445 plus the W3C names)."""

    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    COMPLETED = "completed"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


class GatheringState(_NamedEnum):
    """Whether local candidates are still being gathered."""

    NEW = "new"
    GATHERING = "gathering"
    COMPLETE = "complete"


class PairState(_NamedEnum):
    """The state of one candidate pair (RFC 8445 §6.1.2.6)."""

    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    # Members are singletons compared by identity: the C identity hash keeps
    # the check list's per-state counters cheap (Enum's own hash is Python).
    __hash__ = object.__hash__
