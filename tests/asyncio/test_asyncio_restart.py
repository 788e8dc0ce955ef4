"""ICE restart through the asyncio Agent."""

from __future__ import annotations

import asyncio

import pytest

from icekit import (
    ClosedError,
)
from icekit.candidate import Candidate
from icekit.ice.states import ConnectionState
from icekit.types import Address

from .helpers import connect_pair, loopback_pair, ping, run, until


class _SilentStun(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.requests = 0

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.requests += 1


def test_restart_before_dial_forgets_old_remote_candidates() -> None:
    async def main() -> None:
        a = loopback_pair()[0]
        async with a:
            await a.gather_candidates()
            stale = Candidate.unmarshal("candidate:1 1 udp 2130706431 127.0.0.1 9 typ host")
            a.add_remote_candidate(stale)
            await a.restart()
            await a.gather_candidates()
            # dial rebuilds the core as controlling from what it was told.
            dial = asyncio.ensure_future(a.dial("abcd", "a" * 22))
            try:
                await until(lambda: a.core.controlling)
                assert stale not in a.core.remote_candidates
                assert len(a.core.local_candidates) == len(a.get_local_candidates())
            finally:
                await a.close()
                with pytest.raises(ClosedError):
                    await dial

    run(main())


def test_restart_stops_server_gathering_of_the_old_generation() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(_SilentStun, local_addr=("127.0.0.1", 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            tasks = len(asyncio.all_tasks())
            a = loopback_pair(urls=[f"stun:127.0.0.1:{port}"], stun_gather_timeout=60)[0]
            seen: list[Candidate | None] = []
            a.on_candidate(seen.append)
            async with a:
                await a.gather_candidates()
                await until(lambda: server.requests >= 1)
                await asyncio.wait_for(a.restart(), 5)
                assert len(asyncio.all_tasks()) == tasks
                assert None not in seen
        finally:
            transport.close()

    run(main())


def test_restart_keeps_the_old_pair_until_the_new_one_is_selected() -> None:
    async def main() -> None:
        a, b = loopback_pair()
        async with a, b:
            ca, cb = await connect_pair(a, b)
            selections = asyncio.Queue[tuple[Candidate, Candidate]]()
            a.on_selected_candidate_pair_change(lambda local, remote: selections.put_nowait((local, remote)))
            await a.restart()
            await b.restart()
            await ping(ca, cb, b"between restart and gathering")
            await a.gather_candidates()
            await b.gather_candidates()
            await ping(ca, cb, b"before the new credentials")
            a.set_remote_credentials(*b.get_local_user_credentials())
            b.set_remote_credentials(*a.get_local_user_credentials())
            for candidate in b.get_local_candidates():
                a.add_remote_candidate(candidate)
            for candidate in a.get_local_candidates():
                b.add_remote_candidate(candidate)
            await asyncio.wait_for(selections.get(), 10)  # the new generation's pair
            assert a.connection_state in (ConnectionState.CONNECTED, ConnectionState.COMPLETED)
            await ping(ca, cb, b"on the new pair")
            # A second restart works the same way: gather again afterwards.
            await a.restart()
            await a.gather_candidates()
            await ping(ca, cb, b"after a second restart")

    run(main())
