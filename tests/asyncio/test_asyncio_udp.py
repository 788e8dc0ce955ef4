"""UdpEndpoint: first-byte demux, batching, send queue and closing."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from icekit.asyncio.udp import READ_BATCH, UdpEndpoint
from icekit.types import Address

from .helpers import (
    has_ipv6_loopback,
    open_fds,
    record_loop_errors,
    run,
    until,
)


def _bound(family: int = socket.AF_INET, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


class _Sink:
    def __init__(self) -> None:
        self.stun: list[tuple[int, Address, bytes]] = []
        self.data: list[tuple[int, Address, bytes]] = []

    def on_stun(self, sid: int, src: Address, data: bytes) -> None:
        self.stun.append((sid, src, data))

    def on_data(self, sid: int, src: Address, data: bytes) -> None:
        self.data.append((sid, src, data))


class _RefusingSocket(socket.socket):
    """A UDP socket whose first read and first send fail as after ICMP port unreachable."""

    refuse_read = True
    refuse_send = True

    def recvfrom(self, size: int, flags: int = 0) -> tuple[bytes, Any]:  # type: ignore[override]
        if self.refuse_read:
            self.refuse_read = False
            raise ConnectionRefusedError(111, "Connection refused")
        return super().recvfrom(size, flags)

    def sendto(self, data: Any, *args: Any) -> int:  # type: ignore[override]
        if self.refuse_send:
            self.refuse_send = False
            raise ConnectionRefusedError(111, "Connection refused")
        return super().sendto(data, *args)


@pytest.mark.parametrize("family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_demux_by_first_byte(family: int, host: str) -> None:
    if family == socket.AF_INET6 and not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")

    async def main() -> None:
        sink = _Sink()
        endpoint = UdpEndpoint(asyncio.get_running_loop(), _bound(family, host), 7, sink.on_stun, sink.on_data)
        peer = _bound(family, host)
        try:
            for payload in (b"\x00\x01stun", b"\x03x", b"\x04data", b"\x17tls", b"", b"\x40chan"):
                peer.sendto(payload, endpoint.local_addr)
            await until(lambda: len(sink.stun) + len(sink.data) == 6)
            src = peer.getsockname()[:2]
            assert [d for _, _, d in sink.stun] == [b"\x00\x01stun", b"\x03x"]
            assert [d for _, _, d in sink.data] == [b"\x04data", b"\x17tls", b"", b"\x40chan"]
            assert all(sid == 7 and s == src and len(s) == 2 for sid, s, _ in sink.stun + sink.data)
        finally:
            endpoint.close()
            peer.close()

    run(main())


def test_drains_many_datagrams_per_wakeup_and_sends() -> None:
    async def main() -> None:
        sink = _Sink()
        endpoint = UdpEndpoint(asyncio.get_running_loop(), _bound(), 1, sink.on_stun, sink.on_data)
        peer = _bound()
        try:
            count = READ_BATCH * 3 + 5
            for i in range(count):
                peer.sendto(b"d%d" % i, endpoint.local_addr)
            await until(lambda: len(sink.data) == count)
            assert [d for _, _, d in sink.data] == [b"d%d" % i for i in range(count)]
            assert endpoint.datagrams_received == count
            assert endpoint.sendto(b"reply", peer.getsockname())
            peer.settimeout(5)
            assert peer.recvfrom(100)[0] == b"reply"
        finally:
            endpoint.close()
            peer.close()

    run(main())


def test_send_queue_is_bounded_and_drains() -> None:
    async def main() -> None:
        sink = _Sink()
        sock = _bound()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        endpoint = UdpEndpoint(asyncio.get_running_loop(), sock, 1, sink.on_stun, sink.on_data, send_queue_limit=8)
        peer = _bound()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            dest = peer.getsockname()
            results = [endpoint.sendto(b"x" * 1200, dest) for _ in range(200)]
            # The kernel buffer fills up: the rest queues (8) or is dropped and counted.
            assert endpoint.send_queue_size <= 8
            assert results.count(False) == endpoint.send_dropped
            await asyncio.wait_for(endpoint.drain(), 5)
            assert endpoint.send_queue_size == 0
        finally:
            endpoint.close()
            peer.close()

    run(main())


def test_close_releases_the_socket_and_is_idempotent() -> None:
    async def main() -> None:
        before = open_fds()
        sink = _Sink()
        endpoint = UdpEndpoint(asyncio.get_running_loop(), _bound(), 1, sink.on_stun, sink.on_data)
        assert open_fds() == before + 1
        endpoint.close()
        endpoint.close()
        assert endpoint.closed
        assert open_fds() == before
        assert not endpoint.sendto(b"late", ("127.0.0.1", 9))

    run(main())


def test_works_with_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        sink = _Sink()
        endpoint = UdpEndpoint(asyncio.get_running_loop(), _bound(), 1, sink.on_stun, sink.on_data)
        peer = _bound()
        try:
            peer.sendto(b"\x00stun", endpoint.local_addr)
            peer.sendto(b"data", endpoint.local_addr)
            await until(lambda: len(sink.stun) == 1 and len(sink.data) == 1)
        finally:
            endpoint.close()
            peer.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 30))
    finally:
        loop.close()





def test_socket_errors_do_not_kill_the_endpoint() -> None:
    async def main() -> None:
        errors = record_loop_errors()
        loop = asyncio.get_running_loop()
        sock = _RefusingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        got: list[bytes] = []
        arrived = asyncio.Event()

        def on_data(_sid: int, _src: Address, data: bytes) -> None:
            got.append(data)
            arrived.set()

        endpoint = UdpEndpoint(loop, sock, 1, lambda *_: None, on_data)
        try:
            peer_addr = peer.getsockname()
            assert endpoint.sendto(b"refused", peer_addr) is False
            assert endpoint.send_errors == 1
            assert endpoint.sendto(b"\x40sent", peer_addr) is True
            # The datagram waits in the peer's socket buffer.
            assert await loop.sock_recv(peer, 100) == b"\x40sent"
            peer.sendto(b"\x40after the error", endpoint.local_addr)
            await asyncio.wait_for(arrived.wait(), 5)
            assert got == [b"\x40after the error"]
            assert not endpoint.closed
            assert errors == []
        finally:
            endpoint.close()
            peer.close()

    run(main())
