"""One connection endpoint per implementation, behind one small interface.

Used by ``bench_conn.py``: ``icekit`` (an :class:`icekit.asyncio.agent.Agent`
and its ``Conn``), ``aioice`` (an ``aioice.Connection``) and ``raw`` (a stock
asyncio datagram endpoint; ``recv`` goes through an ``asyncio.Queue``, and
``count_only`` counts in ``datagram_received`` without queueing).
All of them use loopback 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
from typing import Any

IMPLS = ("icekit", "aioice", "raw")


class Side:
    """The interface every implementation provides."""

    #: Datagrams received and the loop time of the last one (count-only mode).
    counted = 0
    last_arrival = 0.0

    async def prepare(self, controlling: bool) -> dict[str, Any]:
        """Gather and return what the peer needs (credentials, candidates)."""
        raise NotImplementedError

    async def connect(self, remote: dict[str, Any]) -> None:
        """Connect to the peer described by ``remote``."""
        raise NotImplementedError

    async def send(self, data: bytes) -> None:
        """Send one datagram."""
        raise NotImplementedError

    async def recv(self) -> bytes:
        """Receive one datagram."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release everything."""
        raise NotImplementedError


class IcekitSide(Side):
    def __init__(self, check_interval: float | None = None) -> None:
        from icekit.asyncio.agent import Agent

        self.agent = Agent(
            network_types=["udp4"],
            include_loopback=True,
            ip_filter=lambda ip: str(ip) == "127.0.0.1",
            receive_buffer_size=8192,
            check_interval=check_interval,
        )
        self.conn: Any = None
        self.controlling = False

    async def prepare(self, controlling: bool) -> dict[str, Any]:
        self.controlling = controlling
        await self.agent.gather_candidates()
        ufrag, pwd = self.agent.get_local_user_credentials()
        return {
            "ufrag": ufrag,
            "pwd": pwd,
            "candidates": [c.marshal() for c in self.agent.get_local_candidates()],
        }

    async def connect(self, remote: dict[str, Any]) -> None:
        from icekit.candidate import Candidate

        for text in remote["candidates"]:
            self.agent.add_remote_candidate(Candidate.unmarshal(text))
        self.agent.set_remote_end_of_candidates()
        connect = self.agent.dial if self.controlling else self.agent.accept
        self.conn = await connect(remote["ufrag"], remote["pwd"])
        self.send = self.conn.write  # type: ignore[method-assign]
        self.recv = self.conn.read  # type: ignore[method-assign]

    async def close(self) -> None:
        await self.agent.close()


class AioiceSide(Side):
    def __init__(self) -> None:
        import aioice
        import aioice.ice

        # aioice never gathers loopback addresses; point it at 127.0.0.1.
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        self.aioice = aioice
        self.conn: Any = None

    async def prepare(self, controlling: bool) -> dict[str, Any]:
        self.conn = self.aioice.Connection(ice_controlling=controlling, use_ipv6=False)
        await self.conn.gather_candidates()
        return {
            "ufrag": self.conn.local_username,
            "pwd": self.conn.local_password,
            "candidates": [c.to_sdp() for c in self.conn.local_candidates],
        }

    async def connect(self, remote: dict[str, Any]) -> None:
        for text in remote["candidates"]:
            await self.conn.add_remote_candidate(self.aioice.Candidate.from_sdp(text))
        await self.conn.add_remote_candidate(None)
        self.conn.remote_username = remote["ufrag"]
        self.conn.remote_password = remote["pwd"]
        await self.conn.connect()
        self.send = self.conn.send  # type: ignore[method-assign]
        self.recv = self.conn.recv  # type: ignore[method-assign]

    async def close(self) -> None:
        await self.conn.close()


class _RawProtocol(asyncio.DatagramProtocol):
    def __init__(self, side: RawSide) -> None:
        self.side = side

    def datagram_received(self, data: bytes, addr: Any) -> None:
        side = self.side
        if side.count_only:
            side.counted += 1
            side.last_arrival = side.loop.time()
        else:
            side.queue.put_nowait(data)


class RawSide(Side):
    """A pair of stock asyncio datagram endpoints (the baseline)."""

    def __init__(self, count_only: bool = False) -> None:
        self.count_only = count_only
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: Any = None
        self.remote: tuple[str, int] = ("127.0.0.1", 0)

    async def prepare(self, controlling: bool) -> dict[str, Any]:
        self.transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _RawProtocol(self), local_addr=("127.0.0.1", 0)
        )
        return {"addr": list(self.transport.get_extra_info("sockname")[:2])}

    async def connect(self, remote: dict[str, Any]) -> None:
        self.remote = (remote["addr"][0], remote["addr"][1])

    async def send(self, data: bytes) -> None:
        self.transport.sendto(data, self.remote)

    async def recv(self) -> bytes:
        return await self.queue.get()

    async def close(self) -> None:
        self.transport.close()


def make_side(impl: str, count_only: bool = False) -> Side:
    """A fresh endpoint of implementation ``impl``."""
    if impl == "icekit":
        return IcekitSide()
    if impl == "icekit-ta5":
        # Ta of 5 ms: RFC 8445 §14.2 allows no more than one new check every 5 ms.
        return IcekitSide(check_interval=0.005)
    if impl == "aioice":
        return AioiceSide()
    if impl == "raw":
        return RawSide(count_only)
    raise ValueError(f"unknown implementation {impl!r}")


async def connected_pair(impl: str) -> tuple[Side, Side]:
    """Two endpoints of ``impl`` in this process, connected to each other."""
    a, b = make_side(impl), make_side(impl)
    info_a = await a.prepare(True)
    info_b = await b.prepare(False)
    await asyncio.gather(a.connect(info_b), b.connect(info_a))
    return a, b
