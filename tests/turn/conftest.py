"""Pytest fixtures for the TURN tests: a real coturn server on loopback.

Other test packages can reuse the server with ``tests.turn.coturn.coturn_server``
(a context manager that skips the test when coturn is not installed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.turn.coturn import CoturnServer, coturn_server


@pytest.fixture(scope="module")
def coturn() -> Iterator[CoturnServer]:
    """A coturn server (UDP+TCP and TLS on 127.0.0.1) shared by a test module."""
    with coturn_server() as server:
        yield server
