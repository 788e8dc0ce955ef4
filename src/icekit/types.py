"""Small shared type aliases."""

from __future__ import annotations

from typing import Tuple

#: A transport address: host as text (no brackets, no zone) and port.
Address = Tuple[str, int]

__all__ = ["Address"]
