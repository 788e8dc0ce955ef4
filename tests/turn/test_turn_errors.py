"""Which error says what: misuse, local failures, the server's answers.

* misuse (``allocate()`` twice, ``bind_channel()`` too early) raises
  :class:`~icekit.errors.InvalidStateError`;
* no usable answer (timeout, refused connection, DNS, TLS) is a
  :class:`~icekit.errors.ServerUnreachableError` with ``code`` None, never a
  :class:`~icekit.errors.TurnError`;
* the server's own error answers stay :class:`~icekit.errors.TurnError`
  with the code.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from icekit.asyncio.servers import ServerFailure, open_relay_socket
from icekit.errors import InvalidStateError, ServerUnreachableError, TurnError
from icekit.turn import BindingClient, events
from icekit.turn.transaction import TransactionConfig
from icekit.uri import URI
from tests.turn.coturn import CoturnServer
from tests.turn.scripted import ScriptedServer, drain_events, make_client

FAST = TransactionConfig(rto=0.1, rc=2, rm=2)


def test_misuse_raises_invalid_state() -> None:
    client = make_client()
    with pytest.raises(InvalidStateError):
        client.bind_channel(0.0, ("192.0.2.1", 5000))
    ScriptedServer(client).allocate(0.0)
    with pytest.raises(InvalidStateError):
        client.allocate(1.0)


def test_timeouts_are_unreachable_not_turn_errors() -> None:
    client = make_client(transaction=FAST)
    client.allocate(0.0)
    for now in (0.1, 0.3, 0.5, 1.0):
        client.handle_timeout(now)
    (event,) = [e for e in drain_events(client) if isinstance(e, events.AllocationFailed)]
    assert type(event.error) is ServerUnreachableError and event.error.code is None
    binding = BindingClient(config=FAST)
    binding.start(0.0)
    for now in (0.1, 0.3, 0.5, 1.0):
        binding.handle_timeout(now)
    assert type(binding.error) is ServerUnreachableError


def test_server_answers_stay_turn_errors() -> None:
    client = make_client()
    server = ScriptedServer(client)
    client.allocate(0.0)
    server.challenge(0.0, server.take())
    server.error(0.0, server.take(), 486)
    (event,) = drain_events(client)
    assert isinstance(event, events.AllocationFailed)
    assert isinstance(event.error, TurnError) and event.error.code == 486


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        "turn:127.0.0.1:{closed}?transport=tcp",  # connection refused
        "turn:name.invalid:3478",                  # no such name
        "turn:127.0.0.1:{silent}",                 # no answer
    ],
    ids=["refused", "dns", "silent"],
)
def test_local_failures_are_server_unreachable(url: str) -> None:
    async def main() -> ServerFailure:
        loop = asyncio.get_running_loop()
        silent, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            port = silent.get_extra_info("sockname")[1]
            uri = URI.parse(url.format(closed=_closed_port(), silent=port), "u", "p")
            result = await open_relay_socket(uri, 1, "ipv4", 0.5)
        finally:
            silent.close()
        assert isinstance(result, ServerFailure)
        return result

    failure = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert type(failure.error) is ServerUnreachableError and failure.code is None


@pytest.mark.coturn
def test_tls_failure_is_unreachable_and_bad_credentials_a_turn_error(
    coturn: CoturnServer,
) -> None:
    async def main() -> tuple[ServerFailure, ServerFailure]:
        tls = URI.parse(coturn.url("tls"), coturn.username, coturn.password)
        untrusted = await open_relay_socket(tls, 1, "ipv4", 10.0)  # self-signed
        wrong = URI.parse(coturn.url("udp"), coturn.username, "wrong-pw-7")
        refused = await open_relay_socket(wrong, 2, "ipv4", 10.0)
        assert isinstance(untrusted, ServerFailure) and isinstance(refused, ServerFailure)
        return untrusted, refused

    untrusted, refused = asyncio.run(asyncio.wait_for(main(), 30.0))
    assert type(untrusted.error) is ServerUnreachableError
    assert isinstance(refused.error, TurnError) and refused.code == 401
