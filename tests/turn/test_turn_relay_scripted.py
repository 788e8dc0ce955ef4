"""The asyncio relay driver against a scripted UDP TURN server (cases coturn cannot show)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from icekit.asyncio.relay import StreamLink
from icekit.asyncio.servers import open_relay
from icekit.errors import ServerError, TurnError
from icekit.stun import Attr, Message, MessageClass, Method, long_term_key
from icekit.types import Address
from tests.turn.coturn import relay_options

T = TypeVar("T")
REALM = "scripted.test"
NONCE = "n0nce"
KEY = long_term_key("user", REALM, "pass")
RELAYED = ("127.0.0.1", 61000)

#: (request, client address, signed requests seen so far from anyone) -> response or None
Script = Callable[[Message, Address, int], Message | None]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30.0))


class ScriptedTurn(asyncio.DatagramProtocol):
    """Answers 401 to unsigned requests and lets *script* answer signed ones."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.signed = 0
        self.clients: list[Address] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = Message.decode(data)
        if request.msg_class != MessageClass.REQUEST:
            return
        client = (addr[0], addr[1])
        if client not in self.clients:
            self.clients.append(client)
        if not request.has_integrity:
            response = request.error_response(401)
            response.add(Attr.REALM, REALM).add(Attr.NONCE, NONCE)
            self._send(response.encode(), client)
            return
        assert request.verify_integrity(KEY)
        self.signed += 1
        answer = self.script(request, client, self.signed)
        if answer is not None:
            self._send(answer.encode(integrity_key=KEY), client)

    def _send(self, data: bytes, client: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, client)


def allocated(request: Message, client: Address) -> Message:
    response = request.success_response()
    response.add(Attr.XOR_RELAYED_ADDRESS, RELAYED)
    response.add(Attr.XOR_MAPPED_ADDRESS, client)
    response.add(Attr.LIFETIME, 600)
    return response


async def serve(script: Script) -> tuple[ScriptedTurn, Address]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: ScriptedTurn(script), local_addr=("127.0.0.1", 0)
    )
    host, port = transport.get_extra_info("sockname")[:2]
    return proto, (host, port)


def test_437_retried_from_a_new_client_address() -> None:
    def script(request: Message, client: Address, signed: int) -> Message | None:
        if request.method == Method.ALLOCATE:
            if signed <= 2:
                return request.error_response(437)
            return allocated(request, client)
        return request.success_response()  # the Deallocate

    async def main() -> None:
        server, addr = await serve(script)
        try:
            relay = await open_relay(addr, username="user", password="pass", options=relay_options(timeout=10.0))
            assert relay.relayed_address == RELAYED
            # RFC 8656 §7.3: three client addresses, the last one worked.
            assert len(server.clients) == 3
            assert relay.mapped_address == server.clients[-1]
            await relay.aclose()
        finally:
            assert server.transport is not None
            server.transport.close()

    run(main())


def test_437_three_times_gives_up() -> None:
    def script(request: Message, client: Address, signed: int) -> Message | None:
        return request.error_response(437)

    async def main() -> None:
        server, addr = await serve(script)
        try:
            with pytest.raises(TurnError) as info:
                await open_relay(addr, username="user", password="pass", options=relay_options(timeout=10.0))
            assert info.value.code == 437
            assert len(server.clients) == 3
        finally:
            assert server.transport is not None
            server.transport.close()

    run(main())


@pytest.mark.parametrize(
    ("code", "text"), [(508, "insufficient capacity"), (441, "wrong")]
)
def test_server_errors_reach_the_caller(code: int, text: str) -> None:
    def script(request: Message, client: Address, signed: int) -> Message | None:
        return request.error_response(code)

    async def main() -> None:
        server, addr = await serve(script)
        try:
            with pytest.raises(TurnError, match=text) as info:
                await open_relay(addr, username="user", password="pass", options=relay_options(timeout=10.0))
            assert info.value.code == code
            assert len(server.clients) == 1
        finally:
            assert server.transport is not None
            server.transport.close()

    run(main())


def test_refresh_failure_reports_lost_allocation() -> None:
    def script(request: Message, client: Address, signed: int) -> Message | None:
        if request.method == Method.ALLOCATE:
            return allocated(request, client)
        return request.error_response(437)  # every Refresh: the allocation is gone

    async def main() -> None:
        server, addr = await serve(script)
        try:
            relay = await open_relay(addr, username="user", password="pass", options=relay_options(lifetime=1, timeout=10.0))
            lost: asyncio.Future[ServerError] = asyncio.get_running_loop().create_future()

            def on_error(error: ServerError) -> None:
                if not lost.done():
                    lost.set_result(error)

            relay.on_error = on_error
            error = await asyncio.wait_for(lost, 10.0)
            assert isinstance(error, TurnError) and error.code == 437
            assert not relay.sendto(b"x", ("127.0.0.1", 9))
            await asyncio.sleep(0)  # the relay closes itself on the next loop turn
            assert relay.closed
            relay.close()  # idempotent
        finally:
            assert server.transport is not None
            server.transport.close()

    run(main())


class _FullTransport:
    """A transport whose send buffer is always full."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 10 << 20

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_stream_link_drops_data_not_requests_when_backed_up() -> None:
    link = StreamLink(lambda data: None, lambda error: None)
    link.transport = _FullTransport()  # type: ignore[assignment]
    channel_data = b"\x40\x00\x00\x01x\x00\x00\x00"
    send_indication = Message(Method.SEND, MessageClass.INDICATION).encode()
    request = Message(Method.REFRESH, MessageClass.REQUEST).encode()
    for data in (channel_data, send_indication, request):
        link.send(data)
    assert link.send_drops == 2
    assert link.transport.written == [request]  # type: ignore[union-attr]
