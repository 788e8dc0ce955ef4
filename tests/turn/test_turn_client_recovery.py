"""The sans-IO TURN client when the server forgets the allocation, and the
peers a relay cannot reach (scripted server; the real one is in
``test_turn_forgotten_allocation.py``)."""

from __future__ import annotations

import pytest

from icekit.stun import Attr, Message, Method
from icekit.turn import TurnState, events
from icekit.turn.permissions import address_scope, relay_reaches
from tests.turn.scripted import ScriptedServer, drain_events, make_client

PEER_A = ("192.0.2.50", 6000)
PEER_B = ("192.0.2.60", 6001)
PRIVATE = ("192.168.1.2", 47832)


def allocated(
    relayed: tuple[str, int] | None = None, **options: object
) -> ScriptedServer:
    client = make_client(**options)
    server = ScriptedServer(client)
    if relayed is None:
        server.allocate(0.0)
    else:
        client.allocate(0.0)
        server.challenge(0.0, server.take())
        server.success(
            0.0,
            server.take(),
            (Attr.XOR_RELAYED_ADDRESS, relayed),
            (Attr.LIFETIME, 600),
        )
    drain_events(client)
    return server


def attribute_types(message: Message) -> list[int]:
    return [attr for attr, _ in message.attributes]


# -- the lab's sequence --------------------------------------------------------------------


def test_retry_after_stale_nonce_is_rebuilt_from_scratch() -> None:
    # CreatePermission / Send / CreatePermission, 438: the retry has a new
    # transaction id, the new nonce, and every attribute exactly once.
    server = allocated()
    client = server.client
    client.send_to(1.0, b"check", PEER_A)
    server.success(1.0, server.take())
    assert server.take().method == Method.SEND
    client.create_permission(2.0, PEER_B[0])
    first = server.take()
    server.stale(2.0, first, "nonce-2")
    retry = server.take()
    assert retry.transaction_id != first.transaction_id
    server.assert_signed(retry, "nonce-2")
    types = attribute_types(retry)
    assert len(types) == len(set(types)), types
    assert types == attribute_types(first)
    assert retry.get(Attr.XOR_PEER_ADDRESS) == (PEER_B[0], 0)


def test_forgotten_allocation_438_then_400_ends_in_allocation_lost() -> None:
    server = allocated()
    client = server.client
    client.create_permission(1.0, PEER_A[0])
    server.success(1.0, server.take())
    client.send_to(1.1, b"check", PEER_A)
    assert server.take().method == Method.SEND
    assert drain_events(client) == [events.PermissionCreated(PEER_A[0])]
    # The server dropped the allocation: our 5-tuple is a new client to it.
    client.create_permission(2.0, PEER_B[0])
    server.stale(2.0, server.take(), "nonce-new-session")
    server.error(2.0, server.take(), 400, reason="Bad Request\x00")
    (failed,) = drain_events(client)
    assert isinstance(failed, events.PermissionFailed) and failed.error.code == 400
    assert "\x00" not in str(failed.error)
    check = server.take()
    assert check.method == Method.REFRESH and check.get(Attr.LIFETIME) == 600
    server.assert_signed(check, "nonce-new-session")
    server.error(2.1, check, 437)
    (lost,) = drain_events(client)
    assert isinstance(lost, events.AllocationLost) and lost.error.code == 437
    assert "no longer knows" in str(lost.error)
    assert client.state is TurnState.FAILED
    assert server.nothing_sent() and client.poll_timeout() is None


def test_a_confirmed_allocation_stays_and_checks_are_spaced() -> None:
    server = allocated()
    client = server.client
    client.create_permission(1.0, PEER_A[0])
    server.error(1.0, server.take(), 400)
    check = server.take()
    assert check.method == Method.REFRESH
    server.success(1.0, check, (Attr.LIFETIME, 600))
    assert client.state is TurnState.ALLOCATED
    client.create_permission(2.0, PEER_B[0])
    server.error(2.0, server.take(), 400)
    assert server.nothing_sent()  # confirmed one second ago
    client.create_permission(7.0, PEER_B[0])
    server.error(7.0, server.take(), 400)
    assert server.take().method == Method.REFRESH


@pytest.mark.parametrize("method", ["permission", "channel"])
def test_437_to_permission_or_channel_bind_loses_the_allocation(method: str) -> None:
    server = allocated()
    client = server.client
    if method == "permission":
        client.create_permission(1.0, PEER_A[0])
    else:
        client.bind_channel(1.0, PEER_A)
    server.error(1.0, server.take(), 437)
    kinds = [type(e) for e in drain_events(client)]
    assert kinds[-1] is events.AllocationLost
    assert client.state is TurnState.FAILED
    assert server.nothing_sent()


def test_unanswered_permission_triggers_a_check() -> None:
    server = allocated()
    client = server.client
    client.create_permission(1.0, PEER_A[0])
    server.take()
    deadline = client.poll_timeout()
    while deadline is not None and deadline < 100.0:
        client.handle_timeout(deadline)
        while (data := client.poll_transmit()) is not None:
            if Message.decode(data).method == Method.REFRESH:
                return
        deadline = client.poll_timeout()
    pytest.fail("no Refresh after the CreatePermission timed out")


def test_policy_refusal_does_not_trigger_a_check() -> None:
    server = allocated()
    server.client.create_permission(1.0, PEER_A[0])
    server.error(1.0, server.take(), 403)
    assert server.nothing_sent()


# -- peers the relay cannot reach -------------------------------------------------------------


def test_private_peer_is_refused_locally_on_a_public_relay() -> None:
    server = allocated()  # relayed on a public address
    client = server.client
    assert client.send_to(1.0, b"check", PRIVATE) is False
    (refused,) = drain_events(client)
    assert (
        isinstance(refused, events.PermissionFailed) and refused.peer_ip == PRIVATE[0]
    )
    assert refused.error.code is None and "relay_private_peers" in str(refused.error)
    assert server.nothing_sent()
    # Later attempts stay quiet: no request, no repeated event.
    assert client.send_to(2.0, b"check", PRIVATE) is False
    client.create_permission(2.0, PRIVATE[0])
    assert drain_events(client) == [] and server.nothing_sent()
    client.bind_channel(3.0, PRIVATE)
    (bind,) = drain_events(client)
    assert isinstance(bind, events.ChannelBindFailed) and server.nothing_sent()
    assert client.channel_for(PRIVATE) is None


def test_private_peer_asked_before_the_allocation_is_refused_after_it() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.create_permission(0.0, PRIVATE[0])
    client.create_permission(0.0, PEER_A[0])
    server.allocate(0.0)
    kinds = [type(e) for e in drain_events(client)]
    assert kinds == [events.AllocationSucceeded, events.PermissionFailed]
    request = server.take()
    assert request.get(Attr.XOR_PEER_ADDRESS) == (PEER_A[0], 0)
    assert server.nothing_sent()


def test_private_peers_allowed_on_request() -> None:
    server = allocated(relay_private_peers=True)
    server.client.send_to(1.0, b"check", PRIVATE)
    request = server.take()
    assert request.method == Method.CREATE_PERMISSION
    assert request.get(Attr.XOR_PEER_ADDRESS) == (PRIVATE[0], 0)


@pytest.mark.parametrize(
    ("relayed", "peer"),
    [(("127.0.0.1", 50000), "127.0.0.2"), (("10.0.0.5", 50000), "192.168.1.2")],
)
def test_loopback_relays_reach_loopback_and_private_relays_private_peers(
    relayed: tuple[str, int], peer: str
) -> None:
    server = allocated(relayed)
    server.client.create_permission(1.0, peer)
    assert server.take().method == Method.CREATE_PERMISSION


@pytest.mark.parametrize("peer", ["192.168.1.2", "203.0.113.7"])
def test_loopback_relay_refuses_peers_off_loopback(peer: str) -> None:
    # A loopback source cannot reach other addresses: coturn would fail the
    # send and drop the whole allocation.
    server = allocated(("127.0.0.1", 50000))
    server.client.send_to(1.0, b"check", (peer, 4000))
    assert server.nothing_sent()


@pytest.mark.parametrize(
    ("ip", "scope"),
    [
        ("10.1.2.3", "private"),
        ("172.31.0.1", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("::ffff:192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("203.0.113.10", "public"),
        ("2001:db8::1", "public"),
        ("8.8.8.8", "public"),
        ("turn.example.org", "public"),
    ],
)
def test_address_scope(ip: str, scope: str) -> None:
    assert address_scope(ip) == scope


@pytest.mark.parametrize(
    ("relayed", "peer", "reaches"),
    [
        ("203.0.113.10", "198.51.100.12", True),
        ("203.0.113.10", "192.168.1.2", False),
        ("203.0.113.10", "127.0.0.1", False),
        ("203.0.113.10", "fe80::1", False),
        ("10.0.0.1", "192.168.1.2", True),
        ("10.0.0.1", "127.0.0.1", False),
        ("127.0.0.1", "192.168.1.2", False),
        ("127.0.0.1", "127.0.0.5", True),
    ],
)
def test_relay_reaches(relayed: str, peer: str, reaches: bool) -> None:
    assert relay_reaches(relayed, peer) is reaches
