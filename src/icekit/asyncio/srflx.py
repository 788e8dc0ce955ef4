"""Former home of the STUN Binding gatherer: now :mod:`icekit.asyncio.servers`.

Kept as a re-export so ``from icekit.asyncio.srflx import ...`` goes on working.
"""

from __future__ import annotations

from .servers import (
    SrflxGatherer,
    SrflxResult,
    TlsOptions,
    discover_srflx,
    resolve,
    unique_srflx,
)

__all__ = ["SrflxGatherer", "SrflxResult", "TlsOptions", "discover_srflx", "resolve", "unique_srflx"]
