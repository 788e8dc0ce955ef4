"""What the agent needs from the relay driver, against a real coturn:

* :func:`open_relay_socket` gives a relay or a :class:`ServerFailure` saying which
  server failed and why, and never raises;
* :class:`TlsOptions` carries the ``turns:`` settings in one value;
* :meth:`TurnRelay.bind_channel` for the selected pair never raises.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from icekit.asyncio.relay import TurnRelay
from icekit.asyncio.servers import ServerFailure, TlsOptions, open_relay_socket
from icekit.uri import URI
from tests.turn.coturn import CoturnServer
from tests.turn.test_turn_coturn import Inbox, Peer, wait_until

pytestmark = pytest.mark.coturn

T = TypeVar("T")
BOUND = 30.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, BOUND))


def uri(server: CoturnServer, transport: str, password: str | None = None) -> URI:
    return URI.parse(
        server.url(transport), server.username, password or server.password
    )


def test_open_relay_socket_success(coturn: CoturnServer) -> None:
    async def main() -> None:
        got = await open_relay_socket(uri(coturn, "udp"), 7, "ipv4", 10.0)
        assert isinstance(got, TurnRelay)
        try:
            assert got.socket_id == 7 and got.relayed_address[0] == "127.0.0.1"
        finally:
            got.close()

    run(main())


def test_open_relay_socket_reports_bad_credentials(coturn: CoturnServer) -> None:
    async def main() -> ServerFailure | TurnRelay:
        return await open_relay_socket(uri(coturn, "tcp", password="not-the-secret-x9"), 1, "ipv4", 10.0)

    failure = run(main())
    assert isinstance(failure, ServerFailure)
    assert failure.code == 401 and failure.family == "ipv4"
    assert failure.server == str(uri(coturn, "tcp"))
    text = str(failure)
    assert "not-the-secret-x9" not in text and "401" in text and failure.server in text


def test_open_relay_socket_reports_a_silent_server_within_the_bound() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    host, port = silent.getsockname()

    async def main() -> ServerFailure | TurnRelay:
        return await open_relay_socket(URI.parse(f"turn:{host}:{port}", "u", "p"), 1, "ipv4", 1.0)

    try:
        failure = run(main())
    finally:
        silent.close()
    assert isinstance(failure, ServerFailure) and failure.code is None
    assert "within 1.0 s" in str(failure)


@pytest.mark.parametrize(
    ("options", "works"),
    [("cafile", True), ("default", False), ("no-verify", True), ("context", True)],
)
def test_tls_options_reach_the_connection(
    coturn: CoturnServer, options: str, works: bool
) -> None:
    import ssl

    tls = {
        "cafile": TlsOptions(cafile=coturn.cert_file),
        "default": TlsOptions(),
        "no-verify": TlsOptions(verify=False),
        "context": TlsOptions(
            ssl_context=ssl.create_default_context(cafile=coturn.cert_file)
        ),
    }[options]

    async def main() -> ServerFailure | None:
        got = await open_relay_socket(uri(coturn, "tls"), 1, "ipv4", 10.0, tls=tls)
        if isinstance(got, TurnRelay):
            got.close()
            return None
        return got

    failure = run(main())
    if works:
        assert failure is None, failure
    else:
        assert isinstance(failure, ServerFailure)
        assert "certificate" in str(failure).lower()


def test_bind_channel_for_the_selected_pair(coturn: CoturnServer) -> None:
    async def main() -> None:
        relay = await open_relay_socket(uri(coturn, "udp"), 1, "ipv4", 10.0)
        assert isinstance(relay, TurnRelay)
        peer = Peer()
        inbox = Inbox(relay)
        try:
            relay.sendto(b"first", peer.addr)  # Send indication, permission first
            assert (await peer.recv())[0] == b"first"
            assert relay.bind_channel(peer.addr) is True
            await wait_until(
                lambda: relay.channel_for(peer.addr) is not None, inbox.changed, 5.0
            )
            relay.sendto(b"second", peer.addr)  # now ChannelData
            assert (await peer.recv())[0] == b"second"
        finally:
            relay.close()
            peer.close()
        assert relay.bind_channel(peer.addr) is False  # closed: no exception

    run(main())
