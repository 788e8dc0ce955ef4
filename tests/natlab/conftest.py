"""Pytest fixtures of the NAT lab: ``natlab`` builds verified labs for a test."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest

from tests.natlab.lab import Lab, SideSpec, build_lab
from tests.natlab.nat import NatType
from tests.natlab.netns import missing_requirements, sweep_stale

# Namespaces of dead test processes created before this moment are swept.
RUN_STARTED = time.time()

LabFactory = Callable[..., Lab]


@pytest.fixture(scope="session")
def natlab_available() -> None:
    """Skip unless the lab can run here; sweep stale lab namespaces once."""
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(reason)
    sweep_stale(RUN_STARTED)


@pytest.fixture
def natlab(natlab_available: None) -> Iterator[LabFactory]:
    """A factory ``natlab(a, b, verify=True, turn=False) -> Lab``; every lab is torn down
    (processes by PID, namespaces by name) when the test ends, pass or fail."""
    with contextlib.ExitStack() as stack:

        def make(
            a: SideSpec | NatType, b: SideSpec | NatType, *, verify: bool = True, turn: bool = False
        ) -> Lab:
            return stack.enter_context(build_lab(a, b, verify=verify, turn=turn))

        yield make
