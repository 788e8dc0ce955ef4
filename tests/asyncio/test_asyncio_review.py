"""Regression tests for misuse, cancellation and error paths of the asyncio layer."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from icekit import (
    ClosedError,
    ConfigError,
    ConnectionFailedError,
    CredentialsError,
    InvalidStateError,
)
from icekit.asyncio.agent import Agent
from icekit.asyncio.conn import Conn
from icekit.asyncio.options import AgentOptions
from icekit.asyncio.udp import UdpEndpoint
from icekit.candidate import Candidate
from icekit.ice.states import ConnectionState
from icekit.types import Address
from icekit.uri import URI

from .fake_core import FakeCore
from .helpers import connect_pair, requires_core, run, until


def _agents(**options: object) -> tuple[Agent, Agent]:
    opts: dict[str, Any] = {
        "include_loopback": True,
        "network_types": ["udp4"],
        "ip_filter": lambda ip: ip.is_loopback,
    }
    opts.update(options)
    return Agent(**opts), Agent(**opts)


def _record_loop_errors() -> list[dict[str, Any]]:
    """Collect what would otherwise be logged as 'exception in callback'."""
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    return errors


def test_cancelling_one_reader_leaves_the_others_waiting() -> None:
    async def main() -> None:
        a, b = _agents(core_factory=FakeCore)
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


def test_close_from_handler_through_gather_and_wait_for() -> None:
    async def main() -> None:
        a, b = _agents(core_factory=FakeCore)
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


@requires_core
def test_restart_before_dial_forgets_old_remote_candidates() -> None:
    async def main() -> None:
        a = _agents()[0]
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


class _SilentStun(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.requests = 0

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.requests += 1


@requires_core
def test_restart_stops_server_gathering_of_the_old_generation() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(_SilentStun, local_addr=("127.0.0.1", 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            tasks = len(asyncio.all_tasks())
            a = _agents(urls=[f"stun:127.0.0.1:{port}"], stun_gather_timeout=60)[0]
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


def test_timeouts_keep_failed_timeout_relative_to_disconnection() -> None:
    config = AgentOptions(disconnected_timeout=40).ice_config()
    assert config.disconnected_timeout == 40
    assert config.consent_timeout == 65  # failed_timeout keeps its 25 s default
    assert AgentOptions(disconnected_timeout=2, failed_timeout=0).ice_config().consent_timeout == 2
    Agent(disconnected_timeout=40)


def test_max_remote_prflx_option() -> None:
    assert AgentOptions().ice_config().max_remote_prflx == 100
    assert AgentOptions(max_remote_prflx=3).ice_config().max_remote_prflx == 3
    assert Agent(max_remote_prflx=7).core.config.max_remote_prflx == 7
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ConfigError, match="max_remote_prflx"):
            Agent(max_remote_prflx=bad)  # type: ignore[arg-type]


class _RefusingSocket(socket.socket):
    """A UDP socket whose first read and first send fail as after ICMP port unreachable."""

    refuse_read = True
    refuse_send = True

    def recvfrom(self, size: int, flags: int = 0) -> tuple[bytes, Any]:  # type: ignore[override]
        if self.refuse_read:
            self.refuse_read = False
            raise ConnectionRefusedError(111, "Connection refused")
        return super().recvfrom(size, flags)

    def sendto(self, data: Any, *args: Any) -> int:  # type: ignore[override]
        if self.refuse_send:
            self.refuse_send = False
            raise ConnectionRefusedError(111, "Connection refused")
        return super().sendto(data, *args)


def test_socket_errors_do_not_kill_the_endpoint() -> None:
    async def main() -> None:
        errors = _record_loop_errors()
        loop = asyncio.get_running_loop()
        sock = _RefusingSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.setblocking(False)
        got: list[bytes] = []
        arrived = asyncio.Event()

        def on_data(_sid: int, _src: Address, data: bytes) -> None:
            got.append(data)
            arrived.set()

        endpoint = UdpEndpoint(loop, sock, 1, lambda *_: None, on_data)
        try:
            peer_addr = peer.getsockname()
            assert endpoint.sendto(b"refused", peer_addr) is False
            assert endpoint.send_errors == 1
            assert endpoint.sendto(b"\x40sent", peer_addr) is True
            # The datagram waits in the peer's socket buffer.
            assert await loop.sock_recv(peer, 100) == b"\x40sent"
            peer.sendto(b"\x40after the error", endpoint.local_addr)
            await asyncio.wait_for(arrived.wait(), 5)
            assert got == [b"\x40after the error"]
            assert not endpoint.closed
            assert errors == []
        finally:
            endpoint.close()
            peer.close()

    run(main())


@requires_core
def test_pending_read_is_woken_by_consent_loss() -> None:
    async def main() -> None:
        errors = _record_loop_errors()
        fast = {"keepalive_interval": 0.05, "disconnected_timeout": 0.1, "failed_timeout": 0.1}
        a, b = _agents(**fast)
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


@requires_core
def test_close_twice_concurrently_with_dial() -> None:
    async def main() -> None:
        errors = _record_loop_errors()
        a, b = _agents()
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


async def _ping(ca: Conn, cb: Conn, message: bytes) -> None:
    await ca.write(message)
    assert await asyncio.wait_for(cb.read(), 5) == message
    await cb.write(message)
    assert await asyncio.wait_for(ca.read(), 5) == message


@requires_core
def test_restart_keeps_the_old_pair_until_the_new_one_is_selected() -> None:
    async def main() -> None:
        a, b = _agents()
        async with a, b:
            ca, cb = await connect_pair(a, b)
            selections = asyncio.Queue[tuple[Candidate, Candidate]]()
            a.on_selected_candidate_pair_change(lambda local, remote: selections.put_nowait((local, remote)))
            await a.restart()
            await b.restart()
            await _ping(ca, cb, b"between restart and gathering")
            await a.gather_candidates()
            await b.gather_candidates()
            await _ping(ca, cb, b"before the new credentials")
            a.set_remote_credentials(*b.get_local_user_credentials())
            b.set_remote_credentials(*a.get_local_user_credentials())
            for candidate in b.get_local_candidates():
                a.add_remote_candidate(candidate)
            for candidate in a.get_local_candidates():
                b.add_remote_candidate(candidate)
            await asyncio.wait_for(selections.get(), 10)  # the new generation's pair
            assert a.connection_state in (ConnectionState.CONNECTED, ConnectionState.COMPLETED)
            await _ping(ca, cb, b"on the new pair")
            # A second restart works the same way: gather again afterwards.
            await a.restart()
            await a.gather_candidates()
            await _ping(ca, cb, b"after a second restart")

    run(main())


@requires_core
def test_every_misuse_gets_an_icekit_error() -> None:
    async def main() -> None:
        errors = _record_loop_errors()
        a, b = _agents()
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


def test_an_unexpected_error_in_server_gathering_still_ends_gathering(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("bug in a relay client")

    monkeypatch.setattr("icekit.asyncio.agent.open_relay_socket", broken)

    async def main() -> list[Candidate | None]:
        seen: list[Candidate | None] = []
        done = asyncio.Event()

        def on_candidate(candidate: Candidate | None) -> None:
            seen.append(candidate)
            if candidate is None:
                done.set()

        url = URI.parse("turn:127.0.0.1:9", "user", "pass")
        agent = _agents(urls=[url])[0]
        agent.on_candidate(on_candidate)
        async with agent:
            await agent.gather_candidates()
            await asyncio.wait_for(done.wait(), 5)
        return seen

    seen = run(main())
    assert seen[-1] is None and len(seen) >= 2  # the host candidate, then the end
    assert "bug in a relay client" in caplog.text
