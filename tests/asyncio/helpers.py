"""Shared helpers for the asyncio-layer tests: bounded runs and connected pairs."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from icekit.asyncio.agent import Agent
from icekit.asyncio.conn import Conn
from icekit.candidate import Candidate

__all__ = [
    "PROCESS_TIMEOUT",
    "free_tcp_ports",
    "unbuffered_env",
    "connect_pair",
    "exchange_candidates",
    "gather_all",
    "has_ipv6_loopback",
    "loopback_agent",
    "loopback_pair",
    "ping",
    "record_loop_errors",
    "open_fds",
    "run",
    "until",
]

T = TypeVar("T")

#: Upper bound for any single test coroutine; only reached when something hangs.
TEST_TIMEOUT = 30.0


def run(coro: Coroutine[Any, Any, T], timeout: float = TEST_TIMEOUT) -> T:
    """Run ``coro`` in a fresh event loop, bounded by ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def has_ipv6_loopback() -> bool:
    """True when a UDP socket can bind ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


#: Upper bound for a subprocess of the ``icekit`` command in a test.
PROCESS_TIMEOUT = 60


def unbuffered_env() -> dict[str, str]:
    """This process's environment, with unbuffered Python output for subprocesses."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def free_tcp_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports free a moment ago."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def open_fds() -> int:
    """How many file descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


def exchange_candidates(a: Agent, b: Agent) -> None:
    """Signal every gathered candidate of each agent to the other."""
    for candidate in a.get_local_candidates():
        b.add_remote_candidate(candidate)
    for candidate in b.get_local_candidates():
        a.add_remote_candidate(candidate)


async def connect_pair(
    a: Agent,
    b: Agent,
    *,
    before: Callable[[], Awaitable[None]] | None = None,
    timeout: float = 10.0,
) -> tuple[Conn, Conn]:
    """Gather both, exchange candidates, then dial from ``a`` and accept on ``b``."""
    await a.gather_candidates()
    await b.gather_candidates()
    exchange_candidates(a, b)
    if before is not None:
        await before()
    return await asyncio.wait_for(
        asyncio.gather(
            a.dial(*b.get_local_user_credentials()),
            b.accept(*a.get_local_user_credentials()),
        ),
        timeout,
    )


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Yield to the event loop until ``predicate()`` holds (bounded by ``timeout``)."""

    async def spin() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await asyncio.wait_for(spin(), timeout)


def loopback_agent(**options: Any) -> Agent:
    """An agent that gathers IPv4 loopback only (tests never leave this host)."""
    return Agent(
        network_types=["udp4"],
        include_loopback=True,
        ip_filter=lambda ip: ip.is_loopback,
        **options,
    )


def loopback_pair(**options: Any) -> tuple[Agent, Agent]:
    """Two :func:`loopback_agent` agents with the same options."""
    return loopback_agent(**options), loopback_agent(**options)


def record_loop_errors() -> list[dict[str, Any]]:
    """Collect what would otherwise be logged as 'exception in callback'."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    return errors


async def ping(ca: Conn, cb: Conn, message: bytes) -> None:
    """One datagram each way, each read within 5 s."""
    await ca.write(message)
    assert await asyncio.wait_for(cb.read(), 5) == message
    await cb.write(message)
    assert await asyncio.wait_for(ca.read(), 5) == message


async def gather_all(agent: Agent, bound: float = 20.0) -> list[Candidate | None]:
    """Gather, and return every ``on_candidate`` call's argument (``None`` last)."""
    seen: list[Candidate | None] = []
    done = asyncio.Event()

    def on_candidate(candidate: Candidate | None) -> None:
        seen.append(candidate)
        if candidate is None:
            done.set()

    agent.on_candidate(on_candidate)
    await agent.gather_candidates()
    await asyncio.wait_for(done.wait(), bound)
    return seen
