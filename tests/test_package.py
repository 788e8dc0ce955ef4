"""Package-level checks: the public surface, typing, and the shipped marker file."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

import icekit

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "icekit"


def test_public_names_exist_and_are_documented() -> None:
    for name in icekit.__all__:
        obj = getattr(icekit, name)
        if name.startswith("__"):
            continue
        assert getattr(obj, "__doc__", None), f"icekit.{name} has no docstring"


def test_py_typed_marker_ships() -> None:
    assert (SRC / "py.typed").is_file()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(SRC)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
