"""Agent behaviour that depends on options and loops (real core, loopback)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from icekit import ConnectionFailedError
from icekit.asyncio.agent import Agent
from icekit.candidate import Candidate
from icekit.ice.states import ConnectionState

from .helpers import connect_pair, run


def _lo(**options: object) -> Agent:
    return Agent(
        network_types=["udp4"],
        include_loopback=True,
        ip_filter=lambda ip: ip.is_loopback,
        **options,  # type: ignore[arg-type]
    )


def test_loopback_is_not_gathered_by_default() -> None:
    async def main() -> None:
        seen: list[Candidate | None] = []
        agent = Agent(network_types=["udp4"], ip_filter=lambda ip: ip.is_loopback)
        agent.on_candidate(seen.append)
        async with agent:
            await agent.gather_candidates()
            assert agent.get_local_candidates() == []
        assert seen == [None]

    run(main())


def test_port_range_is_honoured() -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        low, high = max(1024, base - 20), min(65535, base + 20)
        a, b = _lo(port_min=low, port_max=high), _lo(port_min=low, port_max=high)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            for conn in (ca, cb):
                assert conn.local_addr is not None and low <= conn.local_addr[1] <= high

    run(main())


def test_failure_without_remote_candidates_is_reported() -> None:
    async def main() -> None:
        states: list[ConnectionState] = []
        async with _lo() as agent:
            agent.on_connection_state_change(states.append)
            await agent.gather_candidates()
            agent.set_remote_end_of_candidates()
            with pytest.raises(ConnectionFailedError):
                await asyncio.wait_for(agent.dial("abcd", "x" * 22), 10)
            assert agent.connection_state == ConnectionState.FAILED
            assert not agent.closed
        assert states[-2:] == [ConnectionState.FAILED, ConnectionState.CLOSED]

    run(main())


def test_selected_pair_handler_and_pair_getter_agree() -> None:
    async def main() -> None:
        a, b = _lo(), _lo()
        pairs: list[tuple[Candidate, Candidate]] = []
        a.on_selected_candidate_pair_change(lambda local, remote: pairs.append((local, remote)))
        async with a, b:
            await connect_pair(a, b)
            selected = a.get_selected_candidate_pair()
            await asyncio.sleep(0)  # let the queued handler call run
            assert pairs and pairs[-1] == selected

    run(main())


def test_agents_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        a, b = _lo(), _lo()
        async with a, b:
            ca, cb = await connect_pair(a, b)
            for i in range(5):
                await ca.write(b"uv %d" % i)
                assert await asyncio.wait_for(cb.read(), 5) == b"uv %d" % i
                await cb.write(b"back %d" % i)
                assert await asyncio.wait_for(ca.read(), 5) == b"back %d" % i

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 30))
    finally:
        loop.close()


def test_write_waits_for_a_full_send_queue() -> None:
    async def main() -> None:
        a, b = _lo(receive_buffer_size=100_000), _lo(receive_buffer_size=100_000)
        async with a, b:
            ca, _ = await connect_pair(a, b)
            for _ in range(5000):
                await ca.write(b"\x80" * 1200)
            # Every write went to the kernel or waited for room: none was
            # dropped on the sending side.
            endpoint = ca._udp
            assert endpoint is not None and endpoint.send_dropped == 0
            assert ca.sent == 5000

    run(main())


def test_agent_created_outside_the_event_loop() -> None:
    a, b = _lo(), _lo()
    ufrag, pwd = a.get_local_user_credentials()
    assert len(ufrag) == 16 and len(pwd) == 32

    async def main() -> None:
        async with a, b:
            ca, cb = await connect_pair(a, b)
            await ca.write(b"late loop")
            assert await asyncio.wait_for(cb.read(), 5) == b"late loop"

    run(main())
