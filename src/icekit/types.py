"""Small shared type aliases."""

from __future__ import annotations

#: A transport address: host as text (no brackets, no zone) and port.
Address = tuple[str, int]

__all__ = ["Address"]
