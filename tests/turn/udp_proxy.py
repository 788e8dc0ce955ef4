"""A loopback UDP relay for tests that drops chosen client datagrams.

The proxy listens on 127.0.0.1; datagrams from a client go to the target
from one upstream socket per client, answers come back to that client.  The
``drop`` predicate sees ``(index, data)`` (index counts the client's
datagrams from 0) and returns True to drop one; ``drop_down`` does the same
for the server's datagrams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from icekit.types import Address

DropRule = Callable[[int, bytes], bool]


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpProxy, client: Address) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        proxy = self.proxy
        index = len(proxy.seen_down)
        proxy.seen_down.append(data)
        if proxy.drop_down(index, data):
            proxy.dropped_down += 1
            return
        if proxy.listener is not None:
            proxy.listener.sendto(data, self.client)


class UdpProxy(asyncio.DatagramProtocol):
    """Forward UDP between clients and *target*, dropping what *drop* says."""

    def __init__(
        self, target: Address, drop: DropRule, drop_down: DropRule | None = None
    ) -> None:
        self.target = target
        self.drop = drop
        self.drop_down: DropRule = drop_down or (lambda _i, _d: False)
        self.seen_down: list[bytes] = []  # every server datagram, dropped or not
        self.dropped_down = 0
        self.listener: asyncio.DatagramTransport | None = None
        self.address: Address = ("127.0.0.1", 0)
        self.seen: list[bytes] = []  # every client datagram, dropped or not
        self.dropped = 0
        self._upstreams: dict[Address, _Upstream] = {}
        self._pending: dict[Address, list[bytes]] = {}

    async def start(self) -> UdpProxy:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self.listener = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.address = (str(host), int(port))
        return self

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (str(addr[0]), int(addr[1]))
        index = len(self.seen)
        self.seen.append(data)
        if self.drop(index, data):
            self.dropped += 1
            return
        upstream = self._upstreams.get(client)
        if upstream is not None and upstream.transport is not None:
            upstream.transport.sendto(data, self.target)
            return
        pending = self._pending.setdefault(client, [])
        pending.append(data)
        if len(pending) == 1:
            asyncio.ensure_future(self._open(client))

    async def _open(self, client: Address) -> None:
        loop = asyncio.get_running_loop()
        upstream = _Upstream(self, client)
        await loop.create_datagram_endpoint(
            lambda: upstream, local_addr=("127.0.0.1", 0)
        )
        self._upstreams[client] = upstream
        assert upstream.transport is not None
        for data in self._pending.pop(client, []):
            upstream.transport.sendto(data, self.target)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for upstream in self._upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
