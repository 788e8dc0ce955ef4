"""The sans-IO TURN client against a scripted server (RFC 8656, RFC 8489 §9.2)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from icekit import framing
from icekit.errors import (
    ConfigError,
    DatagramTooLargeError,
    InvalidStateError,
    TurnError,
)
from icekit.stun import (
    Attr,
    Message,
    MessageClass,
    Method,
    PasswordAlgorithm,
    SecurityFeature,
    long_term_key,
    make_nonce,
    userhash,
)
from icekit.turn import TurnClient, TurnClientConfig, TurnState, events
from icekit.turn.client import MAX_RELAYED_PAYLOAD
from icekit.turn.transaction import TransactionConfig
from tests.turn.scripted import (
    MAPPED,
    PASSWORD,
    RELAYED,
    USERNAME,
    ScriptedServer,
    drain_events,
    make_client,
)

PEER = ("192.0.2.50", 6000)
PEER2 = ("192.0.2.51", 6001)


def state(client: TurnClient) -> TurnState:
    """The client's state, read through a call (no stale narrowing by mypy)."""
    return client.state


def allocated(**options: object) -> tuple[ScriptedServer, list[events.Event]]:
    client = make_client(**options)
    server = ScriptedServer(client)
    server.allocate(0.0)
    return server, drain_events(client)


# -- Allocate ----------------------------------------------------------------------


def test_allocate_401_then_success() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    first = server.take()
    assert first.method == Method.ALLOCATE and first.msg_class == MessageClass.REQUEST
    assert first.get(Attr.REQUESTED_TRANSPORT) == 17
    assert first.get(Attr.LIFETIME) == 600
    assert first.get(Attr.USERNAME) is None and not first.has_integrity
    assert client.state is TurnState.ALLOCATING
    server.challenge(0.1, first)
    second = server.take()
    assert second.transaction_id != first.transaction_id
    server.assert_signed(second)
    assert second.get(Attr.REQUESTED_ADDRESS_FAMILY) is None
    server.success(
        0.2,
        second,
        (Attr.XOR_RELAYED_ADDRESS, RELAYED),
        (Attr.XOR_MAPPED_ADDRESS, MAPPED),
        (Attr.LIFETIME, 600),
    )
    assert drain_events(client) == [events.AllocationSucceeded(RELAYED, MAPPED, 600)]
    assert state(client) is TurnState.ALLOCATED
    assert client.relayed == RELAYED and client.mapped == MAPPED


@pytest.mark.parametrize(("family", "code"), [("ipv6", 2), ("ipv4", 1)])
def test_requested_address_family(family: str, code: int) -> None:
    client = make_client(family=family)
    client.allocate(0.0)
    assert ScriptedServer(client).take().get(Attr.REQUESTED_ADDRESS_FAMILY) == code


def test_bad_family_option() -> None:
    with pytest.raises(ConfigError):
        TurnClientConfig(username="u", password="p", family="ipx")


def test_wrong_password_gives_401_error() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    server.challenge(0.0, server.take())  # same nonce again: the key is wrong
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed)
    assert event.error.code == 401
    assert "wrong username or password" in str(event.error)
    assert client.state is TurnState.FAILED
    assert server.nothing_sent()


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (437, "allocation mismatch"),
        (440, "address family not supported"),
        (441, "wrong credentials"),
        (442, "unsupported transport"),
        (486, "allocation quota reached"),
        (508, "insufficient capacity"),
        (403, "forbidden"),
        (599, "error"),
    ],
)
def test_allocate_error_codes(code: int, text: str) -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    server.error(0.0, server.take(), code, reason="because")
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed)
    assert isinstance(event.error, TurnError)
    assert event.error.code == code
    assert text in str(event.error) and "because" in str(event.error)
    assert client.state is TurnState.FAILED


def test_allocate_twice_is_an_error() -> None:
    server, _ = allocated()
    with pytest.raises(InvalidStateError):
        server.client.allocate(1.0)


def test_success_with_bad_integrity_is_ignored() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    request = server.take()
    response = Message(Method.ALLOCATE, MessageClass.SUCCESS, request.transaction_id)
    response.add(Attr.XOR_RELAYED_ADDRESS, RELAYED).add(Attr.LIFETIME, 600)
    client.handle_data(0.1, response.encode(integrity_key=b"not the key"))
    assert drain_events(client) == []
    assert client.state is TurnState.ALLOCATING
    # The genuine answer still counts.
    server.success(
        0.2, request, (Attr.XOR_RELAYED_ADDRESS, RELAYED), (Attr.LIFETIME, 600)
    )
    assert isinstance(drain_events(client)[0], events.AllocationSucceeded)


def test_success_without_relayed_address_fails() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    server.success(0.0, server.take(), (Attr.LIFETIME, 600))
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed)


def test_success_without_lifetime_uses_the_requested_one() -> None:
    client = make_client(lifetime=300)
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    server.success(0.0, server.take(), (Attr.XOR_RELAYED_ADDRESS, RELAYED))
    assert drain_events(client) == [events.AllocationSucceeded(RELAYED, None, 300)]
    assert client.poll_timeout() == pytest.approx(240.0)


def test_late_duplicate_response_is_ignored() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    request = server.take()
    attrs = ((Attr.XOR_RELAYED_ADDRESS, RELAYED), (Attr.LIFETIME, 600))
    server.success(0.1, request, *attrs)
    server.success(0.2, request, *attrs)
    assert len(drain_events(client)) == 1


# -- 300 Try Alternate ----------------------------------------------------------------


def test_try_alternate_followed_once() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    alternate = ("192.0.2.99", 3479)
    server.error(0.0, server.take(), 300, (Attr.ALTERNATE_SERVER, alternate))
    assert drain_events(client) == [events.AllocationRedirected(alternate)]
    assert client.state is TurnState.IDLE
    # The driver reconnects and allocates again: a fresh 401 exchange.
    client.allocate(1.0)
    again = server.take()
    assert again.get(Attr.NONCE) is None
    server.challenge(1.0, again)
    server.error(1.0, server.take(), 300, (Attr.ALTERNATE_SERVER, ("192.0.2.98", 3478)))
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed) and event.error.code == 300


def test_try_alternate_without_address_fails() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.error(0.0, server.take(), 300)
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed) and event.error.code == 300


# -- 438 Stale Nonce on every request type ------------------------------------------------


def test_stale_nonce_on_allocate() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    server.stale(0.0, server.take(), "nonce-2")
    retry = server.take()
    server.assert_signed(retry, "nonce-2")
    server.success(
        0.0, retry, (Attr.XOR_RELAYED_ADDRESS, RELAYED), (Attr.LIFETIME, 600)
    )
    assert isinstance(drain_events(client)[0], events.AllocationSucceeded)


def test_stale_nonce_on_refresh_permission_channel_and_close() -> None:
    server, _ = allocated()
    client = server.client
    nonce = 2

    def rotate_then_answer(
        now: float, method: Method, *attrs: tuple[Attr, object]
    ) -> Message:
        nonlocal nonce
        request = server.take()
        assert request.method == method
        server.stale(now, request, f"nonce-{nonce}")
        retry = server.take()
        assert retry.method == method
        assert retry.transaction_id != request.transaction_id
        server.assert_signed(retry, f"nonce-{nonce}")
        nonce += 1
        server.success(now, retry, *attrs)
        return retry

    client.refresh(10.0)
    rotate_then_answer(10.0, Method.REFRESH, (Attr.LIFETIME, 600))
    client.create_permission(11.0, PEER[0])
    retry = rotate_then_answer(11.0, Method.CREATE_PERMISSION)
    assert retry.get(Attr.XOR_PEER_ADDRESS) == (PEER[0], 0)
    client.bind_channel(12.0, PEER)
    retry = rotate_then_answer(12.0, Method.CHANNEL_BIND)
    assert retry.get(Attr.CHANNEL_NUMBER) == 0x4000
    client.close(13.0)
    retry = rotate_then_answer(13.0, Method.REFRESH)
    assert retry.get(Attr.LIFETIME) == 0
    assert drain_events(client) == [
        events.AllocationRefreshed(600),
        events.PermissionCreated(PEER[0]),
        events.ChannelBound(PEER, 0x4000),
        events.Closed(),
    ]
    assert client.state is TurnState.CLOSED


def test_stale_nonce_loop_is_bounded() -> None:
    client = make_client(max_nonce_retries=2)
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    for i in range(3):
        server.stale(0.0, server.take(), f"n{i}")
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed) and event.error.code == 438


def test_401_on_a_later_request_with_new_nonce_is_retried_once() -> None:
    server, _ = allocated()
    server.client.create_permission(1.0, PEER[0])
    server.nonce = "nonce-new"
    server.challenge(1.0, server.take())
    retry = server.take()
    server.assert_signed(retry, "nonce-new")
    # Same nonce again: an unsigned 401 cannot fail a request of a live
    # allocation (anyone could send it, RFC 8489 §9.2.5); no second retry.
    server.challenge(1.0, retry)
    assert server.nothing_sent() and drain_events(server.client) == []
    assert state(server.client) is TurnState.ALLOCATED


# -- RFC 8489 security features ----------------------------------------------------------


def test_password_algorithms_sha256() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    nonce = make_nonce(SecurityFeature.PASSWORD_ALGORITHMS, "abcd")
    server.nonce = nonce
    offered = (int(PasswordAlgorithm.MD5), int(PasswordAlgorithm.SHA256))
    server.challenge(0.0, server.take(), (Attr.PASSWORD_ALGORITHMS, offered))
    request = server.take()
    assert request.get(Attr.PASSWORD_ALGORITHMS) == offered
    assert request.get(Attr.PASSWORD_ALGORITHM) == PasswordAlgorithm.SHA256
    assert Attr.MESSAGE_INTEGRITY_SHA256 in request
    assert Attr.MESSAGE_INTEGRITY not in request
    key = long_term_key(USERNAME, server.realm, PASSWORD, PasswordAlgorithm.SHA256)
    assert request.verify_integrity(key)
    server.algorithm = PasswordAlgorithm.SHA256
    server.sha256 = True
    server.success(
        0.0, request, (Attr.XOR_RELAYED_ADDRESS, RELAYED), (Attr.LIFETIME, 600)
    )
    assert isinstance(drain_events(client)[0], events.AllocationSucceeded)


def test_password_algorithms_ignored_without_nonce_cookie() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take(), (Attr.PASSWORD_ALGORITHMS, (2,)))
    request = server.take()
    assert request.get(Attr.PASSWORD_ALGORITHM) is None
    server.assert_signed(request)


def test_userhash_when_server_offers_anonymity() -> None:
    client = make_client(use_userhash=True)
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.nonce = make_nonce(SecurityFeature.USERNAME_ANONYMITY, "xyz")
    server.challenge(0.0, server.take())
    request = server.take()
    assert request.get(Attr.USERNAME) is None
    assert request.get(Attr.USERHASH) == userhash(USERNAME, server.realm)
    assert request.verify_integrity(server.key)


def test_userhash_not_used_unless_asked() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.nonce = make_nonce(SecurityFeature.USERNAME_ANONYMITY, "xyz")
    server.challenge(0.0, server.take())
    assert server.take().get(Attr.USERNAME) == USERNAME


# -- lifetimes and refreshes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "granted", "refresh_at"),
    [
        (600, 600, 540.0),
        (3600, 3600, 3540.0),
        (600, 3600, 540.0),  # granted more than asked: refresh as if asked
        (4, 600, 2.0),  # coturn grants at least 600 s (RFC 8656 §7.2)
        (4, 4, 2.0),  # short lifetimes refresh at half-life
    ],
)
def test_refresh_timing(requested: int, granted: int, refresh_at: float) -> None:
    client = make_client(lifetime=requested)
    server = ScriptedServer(client)
    server.allocate(0.0, lifetime=granted)
    drain_events(client)
    assert client.lifetime == granted
    assert client.poll_timeout() == pytest.approx(refresh_at)
    client.handle_timeout(refresh_at - 0.001)
    assert server.nothing_sent()
    client.handle_timeout(refresh_at)
    request = server.take()
    assert request.method == Method.REFRESH and request.get(Attr.LIFETIME) == requested
    server.assert_signed(request)
    server.success(refresh_at, request, (Attr.LIFETIME, 300))
    assert drain_events(client) == [events.AllocationRefreshed(300)]
    assert client.lifetime == 300
    expected = refresh_at + (240.0 if requested >= 300 else requested / 2)
    assert client.poll_timeout() == pytest.approx(expected)


def test_refresh_437_loses_allocation() -> None:
    server, _ = allocated()
    client = server.client
    client.handle_timeout(540.0)
    server.error(540.0, server.take(), 437)
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationLost) and event.error.code == 437
    assert client.state is TurnState.FAILED
    assert not client.send_to(541.0, b"x", PEER)


def test_refresh_timeout_loses_allocation() -> None:
    server, _ = allocated(lifetime=600)
    client = server.client
    now = 540.0
    client.handle_timeout(now)
    sends = 0
    while client.state is TurnState.ALLOCATED:
        while client.poll_transmit() is not None:
            sends += 1
        deadline = client.poll_timeout()
        assert deadline is not None
        now = deadline
        client.handle_timeout(now)
    assert sends == 7
    assert now == pytest.approx(540.0 + 39.5)
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationLost) and "timed out" in str(event.error)


def test_allocation_expiry_is_detected() -> None:
    # A lifetime so short that the refresh cannot complete before expiry.
    client = make_client(transaction=TransactionConfig(rto=1.0))
    server = ScriptedServer(client)
    server.allocate(0.0, lifetime=2)
    drain_events(client)
    client.handle_timeout(1.0)  # refresh sent at half-life
    assert server.take().method == Method.REFRESH
    client.handle_timeout(2.0)
    events_ = drain_events(client)
    assert isinstance(events_[-1], events.AllocationLost)
    assert "expired" in str(events_[-1].error)


# -- permissions ---------------------------------------------------------------------------


def test_permission_created_and_refreshed() -> None:
    server, _ = allocated()
    client = server.client
    client.create_permission(1.0, PEER[0])
    client.create_permission(1.0, PEER[0])  # already in flight: no second request
    request = server.take()
    assert server.nothing_sent()
    assert request.method == Method.CREATE_PERMISSION
    assert request.get(Attr.XOR_PEER_ADDRESS) == (PEER[0], 0)
    server.assert_signed(request)
    server.success(1.0, request)
    assert drain_events(client) == [events.PermissionCreated(PEER[0])]
    assert client.has_permission(PEER[0])
    # RFC 8656 §9: 300 s lifetime, refreshed a minute early.
    assert client.poll_timeout() == pytest.approx(241.0)
    client.handle_timeout(241.0)
    refresh = server.take()
    assert refresh.method == Method.CREATE_PERMISSION
    server.success(241.0, refresh)
    assert drain_events(client) == []  # a refresh is not a new permission
    assert client.poll_timeout() == pytest.approx(481.0)


def test_permission_lifetime_option() -> None:
    server, _ = allocated(permission_lifetime=4.0)
    server.client.create_permission(0.0, PEER[0])
    server.success(0.0, server.take())
    assert server.client.poll_timeout() == pytest.approx(2.0)


def test_permission_failure() -> None:
    server, _ = allocated()
    client = server.client
    client.send_to(1.0, b"held", PEER)
    server.error(1.0, server.take(), 403)
    (event,) = drain_events(client)
    assert isinstance(event, events.PermissionFailed)
    assert event.peer_ip == PEER[0] and event.error.code == 403
    assert not client.has_permission(PEER[0])
    assert server.nothing_sent()  # the held datagram was dropped


def test_permission_requested_before_allocation_is_sent_after() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.create_permission(0.0, PEER[0])
    server.allocate(0.0)
    request = server.take()
    assert request.method == Method.CREATE_PERMISSION


# -- data path ---------------------------------------------------------------------------


def test_send_waits_for_permission_then_uses_send_indication() -> None:
    server, _ = allocated()
    client = server.client
    assert client.send_to(1.0, b"one", PEER)
    assert client.send_to(1.0, b"two", PEER2)  # different IP: second permission
    first = server.take()
    second = server.take()
    assert server.nothing_sent()
    assert {first.get(Attr.XOR_PEER_ADDRESS), second.get(Attr.XOR_PEER_ADDRESS)} == {
        (PEER[0], 0),
        (PEER2[0], 0),
    }
    server.success(1.0, first)
    indication = server.take()
    assert (
        indication.method == Method.SEND
        and indication.msg_class == MessageClass.INDICATION
    )
    assert indication.get(Attr.XOR_PEER_ADDRESS) == PEER
    assert indication.get(Attr.DATA) == b"one"
    assert not indication.has_integrity
    assert client.send_to(1.1, b"three", PEER)
    assert server.take().get(Attr.DATA) == b"three"


def test_payload_no_message_can_carry_raises_and_sends_nothing() -> None:
    # Over a bound channel it used to vanish (send_to returned False and the
    # Conn counted it as sent); over a Send indication it raised a codec error.
    server, _ = allocated()
    client = server.client
    assert client.send_to(1.0, b"open", PEER)
    server.success(1.0, server.take())
    assert server.take().get(Attr.DATA) == b"open"
    with pytest.raises(DatagramTooLargeError, match="TURN relay"):
        client.send_to(1.1, b"x" * (MAX_RELAYED_PAYLOAD + 1), PEER)
    assert server.nothing_sent()
    assert client.send_to(1.2, b"y" * MAX_RELAYED_PAYLOAD, PEER)
    assert server.take().get(Attr.DATA) == b"y" * MAX_RELAYED_PAYLOAD


def test_pending_data_is_bounded() -> None:
    server, _ = allocated(pending_limit=2)
    client = server.client
    assert client.send_to(1.0, b"a", PEER)
    assert client.send_to(1.0, b"b", PEER)
    assert not client.send_to(1.0, b"c", PEER)


@pytest.mark.parametrize("reliable", [False, True])
def test_channel_bind_switches_to_channel_data(reliable: bool) -> None:
    server, _ = allocated(reliable=reliable)
    client = server.client
    client.create_permission(0.0, PEER[0])
    server.success(0.0, server.take())
    drain_events(client)
    client.bind_channel(1.0, PEER)
    bind = server.take()
    assert bind.method == Method.CHANNEL_BIND
    assert bind.get(Attr.CHANNEL_NUMBER) == 0x4000
    assert bind.get(Attr.XOR_PEER_ADDRESS) == PEER
    server.assert_signed(bind)
    # Until the server confirms, data goes as Send indications (RFC 8656 §12).
    client.send_to(1.0, b"early", PEER)
    assert Message.decode(server.take_raw()).method == Method.SEND
    server.success(1.0, bind)
    assert drain_events(client) == [events.ChannelBound(PEER, 0x4000)]
    assert client.channel_for(PEER) == 0x4000
    client.send_to(1.1, b"hello", PEER)
    raw = server.take_raw()
    assert raw[:4] == b"\x40\x00\x00\x05"
    assert len(raw) == (12 if reliable else 9)  # padded over TCP/TLS (RFC 8656 §12.5)
    assert framing.decode_channel_data(raw) == (0x4000, b"hello")


def test_channel_refresh_timing_and_second_channel_number() -> None:
    server, _ = allocated(lifetime=3600)
    client = server.client
    client.bind_channel(0.0, PEER)
    server.success(0.0, server.take())
    client.bind_channel(0.0, PEER2)
    bind2 = server.take()
    assert bind2.get(Attr.CHANNEL_NUMBER) == 0x4001
    server.success(0.0, bind2)
    drain_events(client)
    # ChannelBind also installs the permission (RFC 8656 §12.2), refreshed at 240 s.
    assert client.has_permission(PEER[0]) and client.has_permission(PEER2[0])
    client.handle_timeout(240.0)
    refreshed = [server.take(), server.take()]
    assert all(m.method == Method.CREATE_PERMISSION for m in refreshed)
    for request in refreshed:
        server.success(240.0, request)
    # Channels (600 s) are refreshed at 540 s with the same number.
    client.handle_timeout(540.0)
    sent = []
    while (data := client.poll_transmit()) is not None:
        sent.append(Message.decode(data))
    # The permissions' second refresh (480 s) is due as well.
    assert sorted(m.method for m in sent).count(Method.CREATE_PERMISSION) == 2
    rebinds = [m for m in sent if m.method == Method.CHANNEL_BIND]
    assert len(rebinds) == 2
    assert {m.get(Attr.CHANNEL_NUMBER) for m in rebinds} == {0x4000, 0x4001}
    assert all(m.method == Method.CHANNEL_BIND for m in rebinds)


def test_channel_bind_failure_keeps_send_indications() -> None:
    server, _ = allocated()
    client = server.client
    client.create_permission(0.0, PEER[0])
    server.success(0.0, server.take())
    client.bind_channel(1.0, PEER)
    server.error(1.0, server.take(), 400)
    assert isinstance(drain_events(client)[-1], events.ChannelBindFailed)
    # A 400 may mean a forgotten allocation: a Refresh checks it first.
    check = server.take()
    assert check.method == Method.REFRESH
    server.success(1.0, check, (Attr.LIFETIME, 600))
    client.send_to(2.0, b"x", PEER)
    assert server.take().method == Method.SEND


def test_incoming_data_indication_and_channel_data() -> None:
    server, _ = allocated()
    client = server.client
    indication = Message(Method.DATA, MessageClass.INDICATION)
    indication.add(Attr.XOR_PEER_ADDRESS, PEER).add(Attr.DATA, b"from peer")
    client.handle_data(1.0, indication.encode())
    assert drain_events(client) == [events.DataReceived(PEER, b"from peer")]
    client.bind_channel(1.0, PEER)
    server.success(1.0, server.take())
    drain_events(client)
    client.handle_data(2.0, framing.encode_channel_data(0x4000, b"chan", pad=True))
    client.handle_data(2.0, framing.encode_channel_data(0x4005, b"unknown"))
    client.handle_data(2.0, b"\x40")  # truncated: dropped
    client.handle_data(2.0, b"\xff garbage")
    client.handle_data(2.0, b"")
    assert drain_events(client) == [events.DataReceived(PEER, b"chan")]


def test_receive_channel_data_fast_path() -> None:
    server, _ = allocated()
    client = server.client
    client.bind_channel(0.0, PEER)
    server.success(0.0, server.take())
    assert client.receive_channel_data(1.0, b"\x40\x00\x00\x03abc") == (PEER, b"abc")
    assert client.receive_channel_data(1.0, b"\x40\x00\x00\x03abc\x00") == (PEER, b"abc")
    assert client.receive_channel_data(1.0, b"\x40\x00\x00\x00") == (PEER, b"")
    assert (
        client.receive_channel_data(1.0, b"\x40\x00\x00\x03abc\x00\x00") is None
    )  # > padding
    assert client.receive_channel_data(1.0, b"\x40\x00\x00\x05abc") is None  # truncated
    assert client.receive_channel_data(1.0, b"\x40\x01\x00\x01a") is None  # unbound channel
    assert client.receive_channel_data(1.0, b"\x40\x00") is None
    assert drain_events(client) == [
        events.ChannelBound(PEER, 0x4000)
    ]  # no DataReceived


def test_send_before_allocation_is_dropped() -> None:
    client = make_client()
    assert not client.send_to(0.0, b"x", PEER)
    with pytest.raises(InvalidStateError):
        client.bind_channel(0.0, PEER)


# -- retransmissions ------------------------------------------------------------------------


def test_allocate_retransmission_schedule_and_timeout() -> None:
    client = make_client()
    client.allocate(0.0)
    sends: list[float] = []
    now = 0.0
    while client.state is TurnState.ALLOCATING:
        while client.poll_transmit() is not None:
            sends.append(now)
        deadline = client.poll_timeout()
        assert deadline is not None
        now = deadline
        client.handle_timeout(now)
    assert sends == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert now == pytest.approx(39.5)
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed)
    assert event.error.code is None and "timed out" in str(event.error)


def test_reliable_transport_single_timer() -> None:
    client = make_client(reliable=True, transaction=TransactionConfig(ti=5.0))
    client.allocate(0.0)
    assert client.poll_transmit() is not None
    assert client.poll_timeout() == 5.0
    client.handle_timeout(5.0)
    assert client.poll_transmit() is None
    assert isinstance(drain_events(client)[0], events.AllocationFailed)


def test_retransmitted_request_answered_once() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.take()  # lost
    client.handle_timeout(0.5)
    server.challenge(0.5, server.take())
    request = server.take()
    client.handle_timeout(1.0)  # the retransmission of the signed Allocate
    duplicate = server.take()
    assert duplicate.transaction_id == request.transaction_id
    server.success(
        1.0, request, (Attr.XOR_RELAYED_ADDRESS, RELAYED), (Attr.LIFETIME, 600)
    )
    assert isinstance(drain_events(client)[0], events.AllocationSucceeded)


# -- close ---------------------------------------------------------------------------------


def test_close_deallocates() -> None:
    server, _ = allocated()
    client = server.client
    client.create_permission(1.0, PEER[0])
    server.take()  # in flight, cancelled by close
    client.close(2.0)
    request = server.take()
    assert request.method == Method.REFRESH and request.get(Attr.LIFETIME) == 0
    server.assert_signed(request)
    assert client.state is TurnState.CLOSING
    server.success(2.0, request)
    assert drain_events(client) == [events.Closed()]
    assert state(client) is TurnState.CLOSED
    client.close(3.0)  # idempotent
    assert client.poll_timeout() is None


def test_close_completes_even_if_server_is_gone() -> None:
    server, _ = allocated(transaction=TransactionConfig(rto=0.1, rc=2, rm=2))
    client = server.client
    client.close(0.0)
    while client.state is TurnState.CLOSING:
        deadline = client.poll_timeout()
        assert deadline is not None
        client.handle_timeout(deadline)
    assert drain_events(client) == [events.Closed()]


def test_close_before_allocation() -> None:
    client = make_client()
    client.close(0.0)
    assert drain_events(client) == [events.Closed()]
    assert client.poll_transmit() is None


def _with_bad_lifetime(request: Message, key: bytes) -> bytes:
    """A signed success response whose LIFETIME is 2 bytes long (RFC 8656 says 4)."""
    response = Message(request.method, MessageClass.SUCCESS, request.transaction_id)
    response.add(Attr.XOR_RELAYED_ADDRESS, RELAYED)
    response.add(0x7FFE, b"\x00\x01")  # placeholder type, patched below
    data = response.encode(fingerprint=False)
    data = data.replace(b"\x7f\xfe\x00\x02", b"\x00\x0d\x00\x02")
    # MESSAGE-INTEGRITY over the patched bytes (RFC 8489 §14.5).
    header = data[:2] + (len(data) - 20 + 24).to_bytes(2, "big") + data[4:20]
    digest = hmac.new(key, header + data[20:], hashlib.sha1).digest()
    return header + data[20:] + b"\x00\x08\x00\x14" + digest


def test_malformed_answer_fails_the_request_without_raising() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    client.handle_data(0.1, _with_bad_lifetime(server.take(), server.key))
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed)
    assert "malformed" in str(event.error)


def test_malformed_data_indication_is_dropped() -> None:
    server, _ = allocated()
    indication = Message(Method.DATA, MessageClass.INDICATION)
    indication.add(0x7FFE, b"\x01\x02")  # becomes an XOR-PEER-ADDRESS of 2 bytes
    indication.add(Attr.DATA, b"payload")
    data = indication.encode(fingerprint=False).replace(b"\x7f\xfe", b"\x00\x12")
    server.client.handle_data(1.0, data)
    assert drain_events(server.client) == []
