"""The Agent/Conn plumbing over real loopback sockets, driven by the toy core.

These tests pin down what the asyncio layer itself does (timers, demux,
handlers, buffers, closing) independently of the real ICE core.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from icekit import ClosedError, ConnectionFailedError, InvalidStateError
from icekit.ice.states import ConnectionState

from .fake_core import FakeCore
from .helpers import connect_pair, exchange_candidates, loopback_pair, run, until


def test_connect_and_exchange_both_ways() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            assert await ca.write(b"hello") == 5
            assert await asyncio.wait_for(cb.read(), 5) == b"hello"
            await cb.write(b"back")
            assert await asyncio.wait_for(ca.read(), 5) == b"back"
            assert ca.local_addr == cb.remote_addr
            assert ca.remote_addr == cb.local_addr
            pair = a.get_selected_candidate_pair()
            assert pair is not None and pair[0].addr == ca.local_addr

    run(main())


def test_handlers_order_sync_and_async_and_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list[object]:
        seen: list[object] = []
        a, b = loopback_pair(core_factory=FakeCore)

        async def on_state(state: ConnectionState) -> None:
            await asyncio.sleep(0)
            seen.append(state)

        def on_candidate(candidate: object) -> None:
            seen.append("cand" if candidate is not None else None)
            raise RuntimeError("handler bug")

        a.on_connection_state_change(on_state)
        a.on_candidate(on_candidate)
        a.on_selected_candidate_pair_change(lambda local, remote: seen.append("pair"))
        await connect_pair(a, b)
        await a.close()
        await b.close()
        return seen

    with caplog.at_level(logging.ERROR):
        seen = run(main())
    assert seen[:2] == ["cand", None]
    states = [s for s in seen if isinstance(s, ConnectionState)]
    assert states == [ConnectionState.CHECKING, ConnectionState.CONNECTED, ConnectionState.CLOSED]
    assert seen.index("pair") < seen.index(ConnectionState.CONNECTED)
    assert "handler bug" in caplog.text


def test_close_fires_state_handler_once_and_wakes_read() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        closed: list[ConnectionState] = []
        a.on_connection_state_change(lambda s: closed.append(s) if s == ConnectionState.CLOSED else None)
        ca, _ = await connect_pair(a, b)
        reader = asyncio.ensure_future(ca.read())
        await asyncio.sleep(0)
        await a.close()
        await a.close()
        with pytest.raises(ClosedError):
            await asyncio.wait_for(reader, 5)
        with pytest.raises(ClosedError):
            await ca.write(b"x")
        with pytest.raises(ClosedError):
            await ca.read()
        assert closed == [ConnectionState.CLOSED]
        assert a.connection_state == ConnectionState.CLOSED
        await b.close()

    run(main())


def test_async_iteration_ends_on_close() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        ca, cb = await connect_pair(a, b)
        for i in range(3):
            await ca.write(b"m%d" % i)
        got: list[bytes] = []

        async def collect() -> None:
            async for datagram in cb:
                got.append(datagram)
                if len(got) == 3:
                    await b.close()

        await asyncio.wait_for(collect(), 5)
        assert got == [b"m0", b"m1", b"m2"]
        await a.close()

    run(main())


def test_receive_buffer_drops_oldest_and_counts() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore, receive_buffer_size=4)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            for i in range(10):
                await ca.write(b"%d" % i)
            await ca.write(b"last")
            # Wait until the last datagram arrived, reading nothing before.
            await until(lambda: cb.received == 11)
            assert cb.buffered == 4
            assert cb.dropped == 7
            assert [await cb.read() for _ in range(4)] == [b"7", b"8", b"9", b"last"]

    run(main())


def test_stun_range_data_never_reaches_the_user() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        async with a, b:
            ca, cb = await connect_pair(a, b)
            await ca.write(b"\x00Z not for the user")
            await ca.write(b"app")
            assert await asyncio.wait_for(cb.read(), 5) == b"app"

    run(main())


def test_data_from_unknown_source_is_dropped() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        async with a, b:
            _, cb = await connect_pair(a, b)
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
            try:
                assert cb.local_addr is not None
                transport.sendto(b"intruder", cb.local_addr)
                await until(lambda: b.dropped_invalid_source == 1)
            finally:
                transport.close()
            assert cb.buffered == 0

    run(main())


def test_cancelled_dial_closes_agent_cleanly() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        await a.gather_candidates()
        # No remote candidates: the dial cannot finish.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(a.dial(*b.get_local_user_credentials()), 0.05)
        assert a.closed
        assert a.connection_state == ConnectionState.CLOSED
        with pytest.raises(ClosedError):
            await a.gather_candidates()
        await a.close()
        await b.close()

    run(main())


def test_misuse_errors() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        await a.gather_candidates()
        with pytest.raises(InvalidStateError):
            await a.gather_candidates()
        await b.gather_candidates()
        exchange_candidates(a, b)
        await asyncio.wait_for(
            asyncio.gather(a.dial(*b.get_local_user_credentials()), b.accept(*a.get_local_user_credentials())), 5
        )
        with pytest.raises(InvalidStateError):
            await a.dial(*b.get_local_user_credentials())
        with pytest.raises(InvalidStateError):
            await b.accept(*a.get_local_user_credentials())
        await a.close()
        with pytest.raises(ClosedError):
            await a.dial(*b.get_local_user_credentials())
        with pytest.raises(ClosedError):
            a.add_remote_candidate(b.get_local_candidates()[0])
        await b.close()

    run(main())


def test_failed_state_fails_dial_and_conn() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        async with a, b:
            await a.gather_candidates()
            dial = asyncio.ensure_future(a.dial(*b.get_local_user_credentials()))
            await asyncio.sleep(0)
            # Drive the toy core into failure as the real one would report it.
            from icekit.ice import events

            a.core.events.append(events.ConnectionStateChanged(ConnectionState.FAILED))  # type: ignore[attr-defined]
            a._after_input()
            with pytest.raises(ConnectionFailedError):
                await asyncio.wait_for(dial, 5)
            assert not a.closed

    run(main())


def test_restart_allows_gathering_again_and_reuses_sockets() -> None:
    async def main() -> None:
        a, b = loopback_pair(core_factory=FakeCore)
        async with a, b:
            await a.gather_candidates()
            first = a.get_local_candidates()
            old = a.get_local_user_credentials()
            await a.restart()
            assert a.get_local_user_credentials() != old
            assert a.get_local_candidates() == []
            await a.gather_candidates()
            assert [c.addr for c in a.get_local_candidates()] == [c.addr for c in first]

    run(main())
