"""Remote candidates through the asyncio Agent: bounded, listed from the core."""

from __future__ import annotations

from icekit import Candidate, CandidateType

from .helpers import loopback_agent, run


def _remote(i: int) -> Candidate:
    return Candidate(foundation=f"f{i}", component=1, transport="udp", priority=1000 + i,
                     address=f"198.51.{100 + i // 50000}.{(i // 250) % 250 + 1}",
                     port=1024 + i % 250, type=CandidateType.HOST)


def test_remote_candidates_are_capped_and_counted() -> None:
    async def main() -> None:
        async with loopback_agent() as agent:
            limit = agent.core.config.max_remote_candidates
            for i in range(limit + 100):
                agent.add_remote_candidate(_remote(i))
            assert len(agent.get_remote_candidates()) == limit
            assert agent.core.stats.dropped["remote_candidate_limit"] == 100
            # The same candidate again is neither stored twice nor counted.
            agent.add_remote_candidate(_remote(0))
            assert len(agent.get_remote_candidates()) == limit

    run(main())
