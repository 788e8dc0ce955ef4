"""Misuse of the asyncio API gets a clear icekit error, never a hang."""

from __future__ import annotations

import asyncio

import pytest

from icekit import (
    ClosedError,
    CredentialsError,
    InvalidStateError,
)
from icekit.asyncio.agent import Agent
from icekit.candidate import Candidate

from .helpers import loopback_pair, record_loop_errors, run


def test_handlers_must_be_callable() -> None:
    agent = Agent()
    for setter in (
        agent.on_candidate,
        agent.on_connection_state_change,
        agent.on_selected_candidate_pair_change,
        agent.on_server_error,
    ):
        with pytest.raises(TypeError):
            setter("not a function")  # type: ignore[arg-type]
        setter(None)
    run(agent.close())


def test_every_misuse_gets_an_icekit_error() -> None:
    async def main() -> None:
        errors = record_loop_errors()
        a, b = loopback_pair()
        await a.gather_candidates()
        remote = b.get_local_user_credentials()
        dial = asyncio.ensure_future(a.dial(*remote))
        await asyncio.sleep(0)  # the first dial has started
        with pytest.raises(InvalidStateError):
            await a.dial(*remote)
        with pytest.raises(InvalidStateError):
            await a.accept(*remote)
        for ufrag, pwd in (("", "a" * 22), ("abcd", ""), ("ab", "a" * 22), ("abc!", "a" * 22), ("abcd", "a" * 21)):
            with pytest.raises(CredentialsError):
                a.set_remote_credentials(ufrag, pwd)
        with pytest.raises(CredentialsError):
            await a.restart(ufrag="no spaces allowed")
        await a.close()
        with pytest.raises(ClosedError):
            await dial
        candidate = Candidate.unmarshal("candidate:1 1 udp 2130706431 127.0.0.1 9 typ host")
        calls = (
            a.gather_candidates(),
            a.restart(),
            a.dial(*remote),
            a.accept(*remote),
        )
        for call in calls:
            with pytest.raises(ClosedError):
                await call
        with pytest.raises(ClosedError):
            a.add_remote_candidate(candidate)
        with pytest.raises(ClosedError):
            a.set_remote_end_of_candidates()
        with pytest.raises(ClosedError):
            a.set_remote_credentials(*remote)
        await b.close()
        assert errors == []

    run(main())


def test_an_agent_used_from_a_second_event_loop_says_so() -> None:
    agent = Agent(include_loopback=True, network_types=["udp4"], ip_filter=lambda ip: ip.is_loopback)
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(agent.gather_candidates())

        async def elsewhere() -> None:
            with pytest.raises(InvalidStateError, match="another event loop"):
                await agent.dial("abcd", "a" * 22)
            with pytest.raises(InvalidStateError, match="another event loop"):
                await agent.restart()

        run(elsewhere())
        assert not agent.closed
    finally:
        first.run_until_complete(agent.close())
        first.close()
