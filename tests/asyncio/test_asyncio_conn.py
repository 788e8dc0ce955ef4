"""Conn: readers, wake-ups and what ends a read."""

from __future__ import annotations

import asyncio

import pytest

from icekit import (
    ConnectionFailedError,
)
from icekit.ice.states import ConnectionState

from .fake_core import FakeCore
from .helpers import connect_pair, loopback_pair, record_loop_errors, run, until


def test_cancelling_one_reader_leaves_the_others_waiting() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            first = asyncio.ensure_future(cb.read())
            second = asyncio.ensure_future(cb.read())
            for _ in range(3):  # let both start waiting
                await asyncio.sleep(0)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            await ca.write(b"for the other reader")
            assert await asyncio.wait_for(second, 5) == b"for the other reader"
            # A reader polling an idle connection leaves nothing behind.
            for _ in range(20):
                poll = asyncio.ensure_future(cb.read())
                await until(lambda: bool(cb._waiters))
                poll.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await poll
            assert cb._waiters == []

    run(main())


def test_pending_read_is_woken_by_consent_loss() -> None:
    async def main() -> None:
        errors = record_loop_errors()
        fast = {"keepalive_interval": 0.05, "disconnected_timeout": 0.1, "failed_timeout": 0.1}
        a, b = loopback_pair(**fast)
        async with a, b:
            ca, _ = await connect_pair(a, b)
            reading = asyncio.ensure_future(ca.read())
            await b.close()  # silent from now on: consent checks go unanswered
            with pytest.raises(ConnectionFailedError):
                await asyncio.wait_for(reading, 10)
            assert a.connection_state == ConnectionState.FAILED
            with pytest.raises(ConnectionFailedError):
                await ca.write(b"nobody listens")
            with pytest.raises(ConnectionFailedError):
                await ca.read()
        assert errors == []

    run(main())
