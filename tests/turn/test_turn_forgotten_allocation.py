"""Regression: relay-to-relay through coturn when a peer has a private address.

The NAT lab found ICE failing whenever both sides needed a relay: after a
check to the peer's private host address, coturn answered 438 and then 400 to
every CreatePermission.  The cause: coturn relaying to an address it has no
route to fails the send and drops the whole allocation; our 5-tuple is then a
new client to it (new nonce: 438; no allocation: 400).

Each test builds a network namespace with one public-looking address, runs
coturn relaying on it and two relays (``tests/turn/netns_relay.py``) inside:

* by default icekit refuses the private peer locally, the allocation
  survives and the relays exchange data both ways;
* with ``relay_private_peers=True`` the server drops the allocation, and
  icekit now reports it (``AllocationLost``, 437 on UDP; the connection
  closed on TCP) instead of failing requests forever.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.turn import netns

pytestmark = [pytest.mark.coturn, pytest.mark.netns]

HOST = "203.0.113.10"  # the server's address inside the test's namespace
EXTRA_PEER = "203.0.113.20"  # one more permission, never sent data
#: Bound on one scenario run (server start, two allocations, exchanges).
RUN_BOUND = 60.0


def run_in_namespace(*options: str) -> dict[str, Any]:
    """Run ``tests/turn/netns_relay.py`` in a fresh namespace (deleted afterwards)."""
    args = ["--host", HOST, "--extra-peer", EXTRA_PEER, *options]
    return netns.run_in_namespace("tests.turn.netns_relay", HOST, args, RUN_BOUND)


@pytest.fixture(autouse=True)
def _requirements() -> None:
    reason = netns.missing_requirements()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_private_peer_is_refused_and_relays_keep_working(transport: str) -> None:
    result = run_in_namespace("--transport", transport)
    assert result["a_error"] is None, result
    assert result["server_dropped_allocation"] is False, result
    # The private peer was refused locally, never asked of the server.
    assert result["a_events"][0] == "PermissionFailed", result
    assert result["a_received"] == ["b-to-a"], result
    assert result["b_received"] == ["a-to-b"], result
    assert result["has_extra_permission"] is True, result


def test_forgotten_allocation_is_reported_over_udp() -> None:
    # What the lab saw: 438 with a new nonce, then 400.  The client now checks
    # its allocation with a Refresh and reports the 437 as a lost allocation.
    result = run_in_namespace("--transport", "udp", "--private-peers")
    assert result["server_dropped_allocation"] is True, result
    assert result["a_error_code"] == 437, result
    events = result["a_events"]
    assert isinstance(events, list) and events[-2:] == [
        "PermissionFailed",
        "AllocationLost",
    ]
    assert result["has_extra_permission"] is False, result


def test_forgotten_allocation_is_reported_over_tcp() -> None:
    # Over TCP coturn closes the connection with the allocation.
    result = run_in_namespace("--transport", "tcp", "--private-peers")
    assert result["server_dropped_allocation"] is True, result
    assert "closed the connection" in str(result["a_error"]), result
