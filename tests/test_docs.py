"""The documentation's code runs as written.

Every ```python block in README.md and docs/*.md is executed in a fresh
interpreter (from the repository root, so ``tests.*`` helpers import).  A
block that is not meant to run on its own (it uses names from around it, a
server, or top-level ``await``) is marked ```python fragment instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_there_are_runnable_blocks() -> None:
    assert len(BLOCKS) >= 5  # the README's example and the reference pages


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_block_runs(where: str, code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-2000:]}"
