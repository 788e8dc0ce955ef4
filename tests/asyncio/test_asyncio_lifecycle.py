"""Agent lifecycle: what close() promises while other work is still under way."""

from __future__ import annotations

import asyncio

import pytest

from icekit import (
    URI,
    Candidate,
    ClosedError,
    ConnectionState,
)

from .fake_core import FakeCore
from .helpers import (
    connect_pair,
    gather_all,
    loopback_agent,
    loopback_pair,
    record_loop_errors,
    run,
    until,
)


def test_close_after_gathering_completed_adds_no_second_end() -> None:
    async def main() -> None:
        agent = loopback_agent(core_factory=FakeCore)
        seen: list[Candidate | None] = []
        states: list[ConnectionState] = []
        agent.on_candidate(seen.append)
        agent.on_connection_state_change(states.append)
        await agent.gather_candidates()
        await agent.close()
        assert seen.count(None) == 1
        assert states == [ConnectionState.CLOSED]

    run(main())





def test_close_from_handler_through_gather_and_wait_for() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        done = asyncio.Event()

        async def on_state(state: ConnectionState) -> None:
            if state == ConnectionState.CONNECTED:
                # Both run close() in new tasks, not in the handler's own.
                await asyncio.wait_for(asyncio.gather(a.close(), b.close()), 5)
                done.set()

        a.on_connection_state_change(on_state)
        await connect_pair(a, b)
        await asyncio.wait_for(done.wait(), 5)
        assert a.closed and b.closed
        await asyncio.wait_for(a.close(), 5)

    run(main())


def test_close_twice_concurrently_with_dial() -> None:
    async def main() -> None:
        errors = record_loop_errors()
        a, b = loopback_pair()
        states: list[ConnectionState] = []
        a.on_connection_state_change(states.append)
        await a.gather_candidates()
        dial = asyncio.ensure_future(a.dial(*b.get_local_user_credentials()))
        await until(lambda: a.connection_state == ConnectionState.CHECKING)
        await asyncio.wait_for(asyncio.gather(a.close(), a.close()), 5)
        with pytest.raises(ClosedError):
            await dial
        await b.close()
        assert states.count(ConnectionState.CLOSED) == 1
        assert errors == []

    run(main())


def test_an_unexpected_error_in_server_gathering_still_ends_gathering(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("bug in a relay client")

    monkeypatch.setattr("icekit.asyncio.agent.open_relay_socket", broken)

    async def main() -> list[Candidate | None]:
        url = URI.parse("turn:127.0.0.1:9", "user", "pass")
        async with loopback_agent(urls=[url]) as agent:
            return await gather_all(agent, 5)

    seen = run(main())
    assert seen[-1] is None and len(seen) >= 2  # the host candidate, then the end
    assert "bug in a relay client" in caplog.text


def test_dial_sets_the_role_on_the_same_core() -> None:
    # dial/accept used to build a new core in the other role and replay every
    # candidate into it (1.6 s for 100,000 candidates, synchronously).
    async def main() -> None:
        a, b = loopback_agent(), loopback_agent()
        cores = (a.core, b.core)
        async with a, b:
            await connect_pair(a, b)
            assert (a.core, b.core) == cores
            assert a.core.controlling and not b.core.controlling

    run(main())
