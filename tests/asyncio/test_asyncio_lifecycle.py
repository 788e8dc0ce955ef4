"""Agent lifecycle: what close() promises while other work is still under way."""

from __future__ import annotations

import asyncio
import socket

from icekit import Candidate, ConnectionState, URI

from .fake_core import FakeCore
from .helpers import loopback_agent, run


def test_close_during_server_gathering_ends_gathering_once() -> None:
    # A STUN server that never answers keeps gathering open; close() must
    # still end it with on_candidate(None), exactly once.
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            port = silent.getsockname()[1]
            agent = loopback_agent(urls=[URI.parse(f"stun:127.0.0.1:{port}")],
                                   stun_gather_timeout=30.0, core_factory=FakeCore)
            seen: list[Candidate | None] = []
            agent.on_candidate(seen.append)
            await agent.gather_candidates()
            await asyncio.sleep(0)
            assert seen and None not in seen  # host candidates only so far
            await agent.close()
            assert seen.count(None) == 1 and seen[-1] is None

    run(main())


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
