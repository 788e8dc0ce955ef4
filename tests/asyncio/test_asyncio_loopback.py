"""Two real icekit agents (real core, real sockets) on loopback."""

from __future__ import annotations

import asyncio
import gc
import random

import pytest

from icekit import CredentialsError, InvalidStateError
from icekit.asyncio.agent import Agent
from icekit.asyncio.conn import Conn
from icekit.candidate import Candidate
from icekit.ice.states import ConnectionState

from .helpers import (
    connect_pair,
    has_ipv6_loopback,
    open_fds,
    run,
    until,
)


def _loopback_agent(family: str = "udp4", **options: object) -> Agent:
    return Agent(
        network_types=[family],
        include_loopback=True,
        ip_filter=lambda ip: ip.is_loopback,
        **options,  # type: ignore[arg-type]
    )


async def _ping_both_ways(ca: Conn, cb: Conn, rounds: int = 3) -> None:
    for i in range(rounds):
        await ca.write(b"a->b %d" % i)
        assert await asyncio.wait_for(cb.read(), 5) == b"a->b %d" % i
        await cb.write(b"b->a %d" % i)
        assert await asyncio.wait_for(ca.read(), 5) == b"b->a %d" % i


FAMILIES = [
    "udp4",
    pytest.param(
        "udp6", marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
    ),
]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("first_controls", [True, False])
def test_connect_and_exchange(family: str, first_controls: bool) -> None:
    async def main() -> None:
        a, b = _loopback_agent(family), _loopback_agent(family)
        states: list[ConnectionState] = []
        a.on_connection_state_change(states.append)
        async with a, b:
            if first_controls:
                ca, cb = await connect_pair(a, b)
            else:
                cb, ca = await connect_pair(b, a)
            await _ping_both_ways(ca, cb)
            host = "::1" if family == "udp6" else "127.0.0.1"
            assert ca.local_addr is not None and ca.local_addr[0] == host
            assert ca.remote_addr == cb.local_addr
            assert a.connection_state in (ConnectionState.CONNECTED, ConnectionState.COMPLETED)
            pair = a.get_selected_candidate_pair()
            assert pair is not None and pair[1].addr == ca.remote_addr
        assert states[0] == ConnectionState.CHECKING
        assert states[-1] == ConnectionState.CLOSED
        assert states.count(ConnectionState.CLOSED) == 1

    run(main())


@pytest.mark.parametrize("order", ["before-both", "after-dial", "after-accept", "interleaved", "trickled-handlers"])
def test_trickle_orders(order: str) -> None:
    """Remote candidates added before or after dial/accept, in either order."""

    async def main() -> None:
        a, b = _loopback_agent(), _loopback_agent()
        async with a, b:
            if order == "trickled-handlers":
                # Each candidate is signalled from the on_candidate handler as it appears.
                a.on_candidate(lambda c: b.add_remote_candidate(c) if c is not None else b.set_remote_end_of_candidates())
                b.on_candidate(lambda c: a.add_remote_candidate(c) if c is not None else a.set_remote_end_of_candidates())
                dial = asyncio.ensure_future(a.dial(*b.get_local_user_credentials()))
                accept = asyncio.ensure_future(b.accept(*a.get_local_user_credentials()))
                await b.gather_candidates()
                await a.gather_candidates()
            else:
                await a.gather_candidates()
                await b.gather_candidates()
                ca_list, cb_list = a.get_local_candidates(), b.get_local_candidates()
                if order == "before-both":
                    _add(a, cb_list)
                    _add(b, ca_list)
                dial = asyncio.ensure_future(a.dial(*b.get_local_user_credentials()))
                await asyncio.sleep(0)
                if order in ("after-dial", "interleaved"):
                    _add(a, cb_list)
                accept = asyncio.ensure_future(b.accept(*a.get_local_user_credentials()))
                await asyncio.sleep(0)
                if order == "interleaved":
                    _add(b, ca_list)
                if order in ("after-dial", "after-accept"):
                    _add(b, ca_list)
                if order == "after-accept":
                    _add(a, cb_list)
            ca, cb = await asyncio.wait_for(asyncio.gather(dial, accept), 10)
            await _ping_both_ways(ca, cb)

    run(main())


def _add(agent: Agent, candidates: list[Candidate]) -> None:
    for candidate in candidates:
        agent.add_remote_candidate(Candidate.unmarshal(candidate.marshal()))


def test_remote_credentials_are_checked() -> None:
    async def main() -> None:
        async with _loopback_agent() as a:
            with pytest.raises(CredentialsError):
                await a.dial("", "x" * 22)
            with pytest.raises(CredentialsError):
                await a.dial("abcd", "")
            with pytest.raises(CredentialsError):
                await a.accept("ab", "x" * 22)
            with pytest.raises(CredentialsError):
                await a.accept("abcd", "short")
            # A rejected call does not count as a start.
            task = asyncio.ensure_future(a.dial("abcd", "x" * 22))
            await asyncio.sleep(0)
            with pytest.raises(InvalidStateError):
                await a.accept("abcd", "x" * 22)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())


def test_close_before_anything_fires_closed_once() -> None:
    async def main() -> None:
        a = _loopback_agent()
        seen: list[ConnectionState] = []
        a.on_connection_state_change(seen.append)
        await a.gather_candidates()
        await a.close()
        await a.close()
        assert seen == [ConnectionState.CLOSED]

    run(main())


def test_restart_reconnects() -> None:
    async def main() -> None:
        a, b = _loopback_agent(), _loopback_agent()
        async with a, b:
            ca, cb = await connect_pair(a, b)
            await _ping_both_ways(ca, cb, 1)
            await a.restart()
            await b.restart()
            await a.gather_candidates()
            await b.gather_candidates()
            a.set_remote_credentials(*b.get_local_user_credentials())
            b.set_remote_credentials(*a.get_local_user_credentials())
            _add(a, b.get_local_candidates())
            _add(b, a.get_local_candidates())
            # Data keeps flowing across the restart.
            await _ping_both_ways(ca, cb, 2)

    run(main())


def test_200_pairs_leave_no_fds_or_tasks_behind() -> None:
    async def main() -> None:
        async def one_pair() -> None:
            a, b = _loopback_agent(), _loopback_agent()
            try:
                ca, cb = await connect_pair(a, b)
                await ca.write(b"x")
                assert await asyncio.wait_for(cb.read(), 5) == b"x"
            finally:
                await a.close()
                await b.close()

        await one_pair()  # warm-up: lazy imports, loop internals
        gc.collect()
        fds = open_fds()
        tasks = len(asyncio.all_tasks())
        for start in range(0, 200, 20):
            await asyncio.gather(*(one_pair() for _ in range(20)))
            del start
        gc.collect()
        assert open_fds() == fds
        assert len(asyncio.all_tasks()) == tasks

    run(main(), timeout=120)


def test_random_trickle_schedules() -> None:
    """Seeded random interleavings of gathering, signalling and dial/accept."""

    async def scenario(rng: random.Random) -> None:
        a, b = _loopback_agent(), _loopback_agent()
        async with a, b:
            steps: list[str] = ["gather-a", "gather-b", "dial", "accept"]
            rng.shuffle(steps)
            dial: asyncio.Future[Conn] | None = None
            accept: asyncio.Future[Conn] | None = None
            for step in steps:
                if step == "gather-a":
                    await a.gather_candidates()
                    _add(b, a.get_local_candidates())
                elif step == "gather-b":
                    await b.gather_candidates()
                    _add(a, b.get_local_candidates())
                elif step == "dial":
                    dial = asyncio.ensure_future(a.dial(*b.get_local_user_credentials()))
                else:
                    accept = asyncio.ensure_future(b.accept(*a.get_local_user_credentials()))
                await asyncio.sleep(0)
            assert dial is not None and accept is not None
            ca, cb = await asyncio.wait_for(asyncio.gather(dial, accept), 10)
            await _ping_both_ways(ca, cb, 1)

    async def main() -> None:
        rng = random.Random(4)
        for _ in range(8):
            await scenario(rng)

    run(main(), timeout=90)


@pytest.mark.parametrize("late", ["dial", "accept"])
def test_checks_arriving_before_dial_or_accept(late: str) -> None:
    """The peer starts first: its checks reach an agent whose role is not known yet."""

    async def main() -> None:
        a, b = _loopback_agent(), _loopback_agent()
        async with a, b:
            await a.gather_candidates()
            await b.gather_candidates()
            _add(a, b.get_local_candidates())
            _add(b, a.get_local_candidates())
            if late == "dial":
                early = asyncio.ensure_future(b.accept(*a.get_local_user_credentials()))
                await until(lambda: bool(a._early_stun))
                ca, cb = await asyncio.wait_for(asyncio.gather(a.dial(*b.get_local_user_credentials()), early), 10)
            else:
                early = asyncio.ensure_future(a.dial(*b.get_local_user_credentials()))
                await until(lambda: bool(b._early_stun))
                ca, cb = await asyncio.wait_for(asyncio.gather(early, b.accept(*a.get_local_user_credentials())), 10)
            await _ping_both_ways(ca, cb, 1)
            assert a.core.controlling and not b.core.controlling

    run(main())
