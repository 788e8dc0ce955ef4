"""Fixtures of the asyncio-layer tests."""

from __future__ import annotations

import pytest

from .fake_core import FakeCore


@pytest.fixture
def fake_core(monkeypatch: pytest.MonkeyPatch) -> type[FakeCore]:
    """Make new agents drive the toy core instead of the real one."""
    monkeypatch.setattr("icekit.ice.IceAgent", FakeCore, raising=False)
    return FakeCore
