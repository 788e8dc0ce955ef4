"""Unsigned answers to signed TURN requests (RFC 8489 §9.2.5, RFC 8656).

Once a request carries MESSAGE-INTEGRITY, an answer without valid integrity
may come from anyone who saw the transaction id: it is discarded, except a
401 or 438 challenge, which is only ever used as a challenge (bounded).
"""

from __future__ import annotations

from typing import Any

import pytest

from icekit.stun import Attr, Message, MessageClass
from icekit.turn import TurnState, events
from tests.turn.scripted import RELAYED, ScriptedServer, drain_events, make_client

PEER = ("192.0.2.50", 6000)
ATTACKER = ("203.0.113.66", 40000)


def signed_allocate() -> tuple[ScriptedServer, Message]:
    """A client whose second (signed) Allocate is in flight."""
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    request = server.take()
    assert request.has_integrity
    return server, request


def allocated() -> ScriptedServer:
    server = ScriptedServer(make_client())
    server.allocate(0.0)
    drain_events(server.client)
    return server


def forge(server: ScriptedServer, now: float, request: Message, klass: MessageClass,
          *attrs: tuple[int, Any]) -> None:
    """An unsigned answer with the request's transaction id."""
    response = Message(request.method, klass, request.transaction_id)
    for attr, value in attrs:
        response.add(attr, value)
    server.client.handle_data(now, response.encode())


@pytest.mark.parametrize(
    "klass, attrs",
    [
        (MessageClass.SUCCESS, ((Attr.XOR_RELAYED_ADDRESS, ATTACKER), (Attr.LIFETIME, 600))),
        (MessageClass.ERROR, ((Attr.ERROR_CODE, (486, "Allocation Quota Reached")),)),
        (MessageClass.ERROR, ((Attr.ERROR_CODE, (437, "Allocation Mismatch")),)),
        (MessageClass.ERROR, ((Attr.ERROR_CODE, (300, "Try Alternate")),
                              (Attr.ALTERNATE_SERVER, ATTACKER))),
    ],
    ids=["success", "486", "437", "300"],
)
def test_unsigned_answer_to_signed_allocate_is_discarded(
    klass: MessageClass, attrs: tuple[tuple[int, Any], ...]
) -> None:
    server, request = signed_allocate()
    forge(server, 0.1, request, klass, *attrs)
    assert drain_events(server.client) == []
    assert server.client.state is TurnState.ALLOCATING
    # The genuine, signed answer still counts.
    server.success(0.2, request, (Attr.XOR_RELAYED_ADDRESS, RELAYED), (Attr.LIFETIME, 600))
    assert drain_events(server.client) == [events.AllocationSucceeded(RELAYED, None, 600)]


@pytest.mark.parametrize("code", [437, 486, 300, 403])
def test_unsigned_error_to_refresh_does_not_end_the_allocation(code: int) -> None:
    server = allocated()
    client = server.client
    client.refresh(1.0)
    request = server.take()
    forge(server, 1.1, request, MessageClass.ERROR, (Attr.ERROR_CODE, (code, "forged")),
          (Attr.ALTERNATE_SERVER, ATTACKER))
    assert drain_events(client) == []
    assert client.state is TurnState.ALLOCATED
    server.success(1.2, request, (Attr.LIFETIME, 600))
    assert drain_events(client) == [events.AllocationRefreshed(600)]


def test_unsigned_success_to_create_permission_is_discarded() -> None:
    server = allocated()
    client = server.client
    client.create_permission(1.0, PEER[0])
    request = server.take()
    forge(server, 1.1, request, MessageClass.SUCCESS)
    assert drain_events(client) == [] and not client.has_permission(PEER[0])
    server.success(1.2, request)
    assert drain_events(client) == [events.PermissionCreated(PEER[0])]


def test_401_to_refresh_neither_loops_nor_loses_the_allocation() -> None:
    server = allocated()
    client = server.client
    client.refresh(1.0)
    request = server.take()
    # Same nonce: nothing to retry with; not a reason to drop the allocation.
    server.challenge(1.1, request)
    assert server.nothing_sent() and drain_events(client) == []
    assert client.state is TurnState.ALLOCATED
    # A new nonce is a real challenge: retried once, with a new transaction.
    server.nonce = "nonce-2"
    server.challenge(1.2, request)
    retry = server.take()
    server.assert_signed(retry, "nonce-2")
    server.nonce = "nonce-3"
    server.challenge(1.3, retry)  # no second retry of the same request
    assert server.nothing_sent() and client.state is TurnState.ALLOCATED
    assert drain_events(client) == []
    server.success(1.4, retry, (Attr.LIFETIME, 600))
    assert drain_events(client) == [events.AllocationRefreshed(600)]


def test_wrong_password_still_fails_the_allocate_at_once() -> None:
    server, request = signed_allocate()
    server.challenge(0.1, request)  # same nonce: the credentials are refused
    (event,) = drain_events(server.client)
    assert isinstance(event, events.AllocationFailed) and event.error.code == 401
