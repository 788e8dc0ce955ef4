"""The asyncio layer: :class:`Agent`, :class:`Conn` and their sockets.

``icekit.Agent`` and friends are re-exported from the top-level package; see
``docs/api.md`` for the API and ``docs/configuration.md`` for the options.
"""

from __future__ import annotations

from .agent import Agent
from .conn import Conn
from .options import AgentOptions, NetworkType

__all__ = ["Agent", "AgentOptions", "Conn", "NetworkType"]
