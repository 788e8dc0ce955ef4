"""Sans-IO STUN binding and TURN (RFC 8656) clients.

* :class:`BindingClient` learns a server-reflexive address (RFC 8489 §6).
* :class:`TurnClient` runs one TURN allocation: Allocate, Refresh,
  CreatePermission, ChannelBind, Send/Data indications and ChannelData.
* :class:`ClientTransaction` is the RFC 8489 §6.2 retransmission schedule
  both use.

Nothing here touches sockets or clocks; :mod:`icekit.asyncio.relay` and
:mod:`icekit.asyncio.servers` drive these objects over UDP, TCP and TLS.
"""

from __future__ import annotations

from . import events
from .binding import BindingClient
from .client import TurnClient, TurnClientConfig, TurnState
from .transaction import ClientTransaction, TransactionConfig, TransactionState

__all__ = [
    "BindingClient",
    "ClientTransaction",
    "TransactionConfig",
    "TransactionState",
    "TurnClient",
    "TurnClientConfig",
    "TurnState",
    "events",
]
