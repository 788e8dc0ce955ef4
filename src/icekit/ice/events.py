"""Events the ICE agent core hands out through :meth:`IceAgent.poll_event`.

Every event is a frozen dataclass; match on the class.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..candidate import Candidate
from ..errors import FailureReason
from .states import ConnectionState, GatheringState

__all__ = [
    "ConnectionStateChanged",
    "Event",
    "GatheringStateChanged",
    "LocalCandidateAdded",
    "RemoteCandidateAdded",
    "RoleChanged",
    "SelectedPairChanged",
]


@dataclass(frozen=True)
class ConnectionStateChanged:
    """The connection state changed to :attr:`state`.

    :attr:`reason` says why when the state is ``FAILED`` (as
    :attr:`IceAgent.failure_reason <icekit.ice.IceAgent.failure_reason>`),
    else ``None``.
    """

    state: ConnectionState
    reason: FailureReason | None = None


@dataclass(frozen=True)
class SelectedPairChanged:
    """Application data now goes over this pair (RFC 8445 §8.1.1 selection)."""

    local: Candidate
    remote: Candidate
    socket_id: int


@dataclass(frozen=True)
class GatheringStateChanged:
    """The gathering state changed to :attr:`state`."""

    state: GatheringState


@dataclass(frozen=True)
class RemoteCandidateAdded:
    """A remote peer-reflexive candidate was learned from a check (§7.3.1.3)."""

    candidate: Candidate


@dataclass(frozen=True)
class LocalCandidateAdded:
    """A local peer-reflexive candidate was learned from a response (§7.2.5.3.1)."""

    candidate: Candidate


@dataclass(frozen=True)
class RoleChanged:
    """The agent switched role after a role conflict (§7.2.5.1, §7.3.1.1)."""

    controlling: bool


#: Any event of the core.
Event = (
    ConnectionStateChanged
    | SelectedPairChanged
    | GatheringStateChanged
    | RemoteCandidateAdded
    | LocalCandidateAdded
    | RoleChanged
)
