"""The sans-IO ICE agent core (RFC 8445, RFC 8838, RFC 7675, RFC 8863).

Public surface: :class:`IceAgent`, :class:`IceConfig`, :class:`Transmit`,
:class:`SelectedPair`, the state enums and the :mod:`~icekit.ice.events` module.
"""

from __future__ import annotations

from . import events
from .agent import IceAgent, IceStats, SelectedPair, Transmit
from .config import IceConfig
from .pair import CandidatePair
from .states import ConnectionState, GatheringState, PairState

__all__ = [
    "CandidatePair",
    "ConnectionState",
    "GatheringState",
    "IceAgent",
    "IceConfig",
    "IceStats",
    "PairState",
    "SelectedPair",
    "Transmit",
    "events",
]
