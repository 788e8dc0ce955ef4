"""The sans-IO Binding client (RFC 8489 §6) and its helpers."""

from __future__ import annotations

import pytest

from icekit.framing import CHANNEL_MAX, CHANNEL_MIN
from icekit.stun import Attr, Message, MessageClass, Method, SecurityFeature, make_nonce
from icekit.turn import BindingClient, TransactionConfig, events
from icekit.turn.auth import parse_nonce_features
from icekit.turn.permissions import ChannelTable, refresh_delay


def ids(n: int) -> bytes:
    return b"\x07" * n


def answer(
    client: BindingClient, *attrs: tuple[int, object], error: int | None = None
) -> bytes:
    request = Message.decode(client.poll_transmit() or b"")
    klass = MessageClass.ERROR if error else MessageClass.SUCCESS
    response = Message(Method.BINDING, klass, request.transaction_id)
    if error:
        response.add(Attr.ERROR_CODE, (error, "nope"))
    for attr, value in attrs:
        response.add(attr, value)
    return response.encode()


def test_success() -> None:
    client = BindingClient(id_source=ids, software="icekit-test")
    client.start(1.0)
    data = answer(client, (Attr.XOR_MAPPED_ADDRESS, ("203.0.113.5", 4242)))
    assert client.handle_data(1.25, data)
    assert client.poll_event() == events.BindingSucceeded(("203.0.113.5", 4242), 0.25)
    assert client.done and client.mapped == ("203.0.113.5", 4242)
    assert client.poll_timeout() is None
    assert not client.handle_data(1.3, data)  # a duplicate is not ours any more


def test_request_shape() -> None:
    client = BindingClient(id_source=ids, software="icekit-test")
    client.start(0.0)
    request = Message.decode(client.poll_transmit() or b"")
    assert (
        request.method == Method.BINDING and request.msg_class == MessageClass.REQUEST
    )
    assert request.transaction_id == ids(12)
    assert request.get(Attr.SOFTWARE) == "icekit-test"
    assert Attr.FINGERPRINT in request


def test_mapped_address_fallback_for_rfc3489_servers() -> None:
    client = BindingClient()
    client.start(0.0)
    client.handle_data(0.1, answer(client, (Attr.MAPPED_ADDRESS, ("198.51.100.1", 1))))
    assert isinstance(client.poll_event(), events.BindingSucceeded)


def test_success_without_address_fails() -> None:
    client = BindingClient()
    client.start(0.0)
    client.handle_data(0.1, answer(client))
    event = client.poll_event()
    assert isinstance(event, events.BindingFailed)


def test_error_response() -> None:
    client = BindingClient()
    client.start(0.0)
    assert client.handle_data(0.1, answer(client, error=400))
    event = client.poll_event()
    assert isinstance(event, events.BindingFailed) and event.error.code == 400


def test_foreign_and_malformed_data_ignored() -> None:
    client = BindingClient(id_source=ids)
    client.start(0.0)
    other = Message(Method.BINDING, MessageClass.SUCCESS, b"\x01" * 12)
    other.add(Attr.XOR_MAPPED_ADDRESS, ("192.0.2.1", 1))
    assert not client.handle_data(0.1, other.encode())
    assert not client.handle_data(0.1, b"\x01\x01\x00\x00" + b"\x00" * 4 + ids(12))
    assert not client.handle_data(0.1, b"short")
    assert client.poll_event() is None and not client.done


def test_retransmits_then_times_out() -> None:
    client = BindingClient(config=TransactionConfig(rto=0.1, rc=4, rm=3))
    client.start(0.0)
    sends = []
    now = 0.0
    while not client.done:
        while client.poll_transmit() is not None:
            sends.append(round(now, 6))
        deadline = client.poll_timeout()
        assert deadline is not None
        now = deadline
        client.handle_timeout(now)
    assert sends == [0.0, 0.1, 0.3, 0.7]
    assert now == pytest.approx(1.0)
    assert client.transmissions == 4
    event = client.poll_event()
    assert isinstance(event, events.BindingFailed) and "4 attempts" in str(event.error)


def test_response_to_a_retransmission_ends_it() -> None:
    client = BindingClient()
    client.start(0.0)
    client.poll_transmit()  # lost
    client.handle_timeout(0.5)
    data = answer(client, (Attr.XOR_MAPPED_ADDRESS, ("192.0.2.9", 9)))
    client.handle_data(0.6, data)
    assert client.transmissions == 2
    assert isinstance(client.poll_event(), events.BindingSucceeded)


def test_reliable_single_send() -> None:
    client = BindingClient(reliable=True, config=TransactionConfig(ti=2.0))
    client.start(0.0)
    assert client.poll_transmit() is not None
    assert client.poll_timeout() == 2.0
    client.handle_timeout(2.0)
    assert client.poll_transmit() is None
    assert isinstance(client.poll_event(), events.BindingFailed)


def test_start_twice_is_harmless() -> None:
    client = BindingClient()
    client.start(0.0)
    client.start(0.0)
    assert client.poll_transmit() is not None
    assert client.poll_transmit() is None


# -- helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nonce", "features"),
    [
        ("plain-nonce", SecurityFeature.NONE),
        (
            make_nonce(SecurityFeature.PASSWORD_ALGORITHMS, "x"),
            SecurityFeature.PASSWORD_ALGORITHMS,
        ),
        (
            make_nonce(
                SecurityFeature.PASSWORD_ALGORITHMS
                | SecurityFeature.USERNAME_ANONYMITY,
                "",
            ),
            SecurityFeature.PASSWORD_ALGORITHMS | SecurityFeature.USERNAME_ANONYMITY,
        ),
        ("obMatJos2!!!!rest", SecurityFeature.NONE),  # a broken cookie counts as none
    ],
)
def test_nonce_features(nonce: str, features: SecurityFeature) -> None:
    assert parse_nonce_features(nonce) == features


@pytest.mark.parametrize(
    ("lifetime", "delay"),
    [(600, 540), (300, 240), (3600, 3540), (100, 50), (4, 2), (1, 0.5)],
)
def test_refresh_delay(lifetime: float, delay: float) -> None:
    assert refresh_delay(lifetime) == delay


def test_channel_numbers_wrap_and_run_out() -> None:
    table = ChannelTable()
    first = table.get_or_create(("192.0.2.1", 1))
    assert first is not None and first.number == CHANNEL_MIN
    assert table.get_or_create(("192.0.2.1", 1)) is first
    for port in range(2, CHANNEL_MAX - CHANNEL_MIN + 2):
        assert table.get_or_create(("192.0.2.1", port)) is not None
    assert table.get_or_create(("192.0.2.2", 1)) is None  # all 4096 in use
    table.remove(first)
    again = table.get_or_create(("192.0.2.2", 1))
    assert again is not None and again.number == CHANNEL_MIN


def test_malformed_mapped_address_is_a_failure() -> None:
    client = BindingClient()
    client.start(0.0)
    request = Message.decode(client.poll_transmit() or b"")
    response = Message(Method.BINDING, MessageClass.SUCCESS, request.transaction_id)
    response.add(0x7FFE, b"\x00\x01")
    data = response.encode(fingerprint=False).replace(b"\x7f\xfe", b"\x00\x20")
    assert client.handle_data(0.1, data)
    assert isinstance(client.poll_event(), events.BindingFailed)
