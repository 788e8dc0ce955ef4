"""Datagram size: a write that cannot be sent raises; a cut-short read is never delivered."""

from __future__ import annotations

import asyncio
import socket

import pytest

from icekit import Candidate, DatagramTooLargeError

from .fake_core import FakeCore
from .helpers import connect_pair, loopback_agent, loopback_pair, run, until


@pytest.mark.parametrize(
    ("max_size", "fits"),
    [
        (1200, 1200),  # above max_datagram_size
        # The IPv4 UDP payload limit is 65,507 bytes: the kernel answers
        # EMSGSIZE, which used to be counted as sent and vanish.
        (65536, 65507),
    ],
)
def test_write_that_cannot_be_sent_raises_and_sends_nothing(max_size: int, fits: int) -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore, max_datagram_size=max_size)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            with pytest.raises(DatagramTooLargeError, match=f"{fits + 1} bytes"):
                await ca.write(b"x" * (fits + 1))
            assert ca.sent == 0
            assert await ca.write(b"y" * fits) == fits
            assert await asyncio.wait_for(cb.read(), 5) == b"y" * fits

    run(main())


def test_received_datagram_above_max_is_dropped_and_counted_not_cut() -> None:
    async def main() -> None:
        a = loopback_agent(core_factory=FakeCore)
        b = loopback_agent(core_factory=FakeCore, max_datagram_size=1000)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            await ca.write(b"L" * 1500)
            await ca.write(b"S" * 1000)
            # The 1,000-byte datagram arrives whole; the longer one never does.
            assert await asyncio.wait_for(cb.read(), 5) == b"S" * 1000
            assert cb.buffered == 0
            assert b.dropped_oversize == 1
            await b.close()
            assert b.dropped_oversize == 1  # the count outlives the sockets

    run(main())


def test_oversize_datagram_on_an_unselected_source_is_not_delivered() -> None:
    # Straight from a raw socket to the agent's port: dropped for its size
    # before anything else looks at it.
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore, max_datagram_size=600)
        async with a, b:
            await connect_pair(a, b)
            local: Candidate = a.get_local_candidates()[0]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.sendto(b"\x80" * 700, (local.address, local.port))
                await until(lambda: a.dropped_oversize == 1)
            assert a.dropped_invalid_source == 0

    run(main())
