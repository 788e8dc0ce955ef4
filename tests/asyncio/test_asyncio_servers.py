"""Gathering from STUN and TURN servers: srflx from a scripted STUN server, relay via coturn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from icekit import ConfigError
from icekit.asyncio.agent import Agent
from icekit.candidate import Candidate, CandidateType
from icekit.stun import Attr, Message, MessageClass, Method
from icekit.types import Address
from icekit.uri import URI

from .helpers import (
    exchange_candidates,
    gather_all,
    loopback_agent,
    open_fds,
    run,
    until,
)


class _StunServer(asyncio.DatagramProtocol):
    """Answers Binding requests with a scripted XOR-MAPPED-ADDRESS (or not at all)."""

    def __init__(self, mapped: Address | None, silent: bool = False) -> None:
        self.mapped = mapped
        self.silent = silent
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = Message.decode(data)
        if request.method != Method.BINDING or request.msg_class != MessageClass.REQUEST:
            return
        self.requests += 1
        if self.silent or self.transport is None:
            return
        response = Message(Method.BINDING, MessageClass.SUCCESS, request.transaction_id)
        response.add(Attr.XOR_MAPPED_ADDRESS, self.mapped or (addr[0], addr[1]))
        self.transport.sendto(response.encode(fingerprint=True), addr)


async def _start_stun(mapped: Address | None, silent: bool = False) -> tuple[_StunServer, str]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _StunServer(mapped, silent), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    return proto, f"stun:127.0.0.1:{port}"


_agent = loopback_agent
_gather = gather_all


def test_srflx_candidate_from_stun_server() -> None:
    async def main() -> None:
        server, url = await _start_stun(("203.0.113.7", 40000))
        try:
            async with _agent(urls=[url]) as agent:
                seen = await _gather(agent)
        finally:
            assert server.transport is not None
            server.transport.close()
        assert seen[-1] is None
        types = [c.type for c in seen if c is not None]
        assert types == [CandidateType.HOST, CandidateType.SRFLX]
        host, srflx = seen[0], seen[1]
        assert host is not None and srflx is not None
        assert srflx.addr == ("203.0.113.7", 40000)
        assert srflx.related_addr == host.addr
        assert srflx.priority < host.priority
        assert server.requests == 1

    run(main())


def test_redundant_srflx_is_dropped_and_silent_server_times_out() -> None:
    async def main() -> None:
        echo, echo_url = await _start_stun(None)  # mapped address == base: redundant
        silent, silent_url = await _start_stun(None, silent=True)
        try:
            async with _agent(urls=[echo_url, silent_url], stun_gather_timeout=0.3) as agent:
                seen = await _gather(agent)
        finally:
            for server in (echo, silent):
                assert server.transport is not None
                server.transport.close()
        assert [c.type for c in seen if c is not None] == [CandidateType.HOST]
        assert seen[-1] is None
        assert silent.requests >= 1
        # The silent server is reported, the answering one is not.
        (failure,) = agent.gathering_failures
        assert failure.server == silent_url and failure.family == "ipv4"
        assert failure.code is None

    run(main())


def test_server_failure_text_and_code() -> None:
    from icekit.asyncio.servers import ServerFailure
    from icekit.errors import TurnError

    failure = ServerFailure("turn:192.0.2.1:3478", "ipv4", TurnError("refused", code=401))
    assert failure.code == 401
    assert str(failure) == "turn:192.0.2.1:3478 (ipv4): refused"
    assert ServerFailure("stun:192.0.2.1:3478", None, ConfigError("x")).code is None


def test_open_relay_socket_reports_instead_of_raising() -> None:
    from icekit.asyncio.servers import ServerFailure, open_relay_socket

    async def main() -> None:
        loop = asyncio.get_running_loop()
        silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        try:
            port = silent.get_extra_info("sockname")[1]
            uri = URI.parse(f"turn:127.0.0.1:{port}", "user", "Secret-q9")
            result = await open_relay_socket(uri, 7, "ipv4", 0.3)
        finally:
            silent.close()
        assert isinstance(result, ServerFailure)
        assert result.server == f"turn:127.0.0.1:{port}" and result.family == "ipv4"
        assert "0.3 s" in str(result.error) and "Secret-q9" not in str(result)

    run(main())


def test_server_error_handler_and_relay_only_without_servers() -> None:
    # A coroutine handler gets the failure; gathering still ends.
    async def main() -> None:
        silent, silent_url = await _start_stun(None, silent=True)
        reported: list[object] = []

        async def on_server_error(failure: object) -> None:
            reported.append(failure)

        try:
            async with _agent(urls=[silent_url], stun_gather_timeout=0.2) as agent:
                agent.on_server_error(on_server_error)
                seen = await _gather(agent)
                await until(lambda: bool(reported))
        finally:
            assert silent.transport is not None
            silent.transport.close()
        assert seen[-1] is None
        assert reported == agent.gathering_failures

    run(main())


def test_url_option_errors() -> None:
    with pytest.raises(ConfigError):
        Agent(urls=["http://example.org"])
    with pytest.raises(ConfigError):
        Agent(urls=["turn:127.0.0.1:3478"])  # no credentials
    with pytest.raises(ConfigError):
        Agent(urls=["stun:127.0.0.1"], candidate_types=["host"])
    agent = Agent(urls=[URI.parse("turn:127.0.0.1:3478", "u", "p"), "stun:127.0.0.1"])
    assert len(agent.options.urls) == 2


@pytest.fixture(scope="module")
def coturn() -> Iterator[object]:
    from tests.turn.coturn import coturn_server

    with coturn_server() as server:
        yield server


def test_relay_candidate_connects_through_coturn(coturn: object) -> None:
    async def main() -> None:
        url = URI.parse(coturn.url("udp"), coturn.username, coturn.password)  # type: ignore[attr-defined]
        relayed = _agent(urls=[url], candidate_types=["relay"])
        plain = _agent()
        async with relayed, plain:
            seen = await _gather(relayed, 15)
            await _gather(plain)
            assert [c.type for c in seen if c is not None] == [CandidateType.RELAY]
            exchange_candidates(relayed, plain)
            ca, cb = await asyncio.wait_for(
                asyncio.gather(
                    relayed.dial(*plain.get_local_user_credentials()),
                    plain.accept(*relayed.get_local_user_credentials()),
                ),
                15,
            )
            local, _ = relayed.get_selected_candidate_pair() or (None, None)
            assert local is not None and local.type == CandidateType.RELAY
            for i in range(3):
                await ca.write(b"via relay %d" % i)
                assert await asyncio.wait_for(cb.read(), 5) == b"via relay %d" % i
                await cb.write(b"back %d" % i)
                assert await asyncio.wait_for(ca.read(), 5) == b"back %d" % i

    run(main())


def test_close_during_server_gathering_is_prompt_and_clean() -> None:
    async def main() -> None:
        silent, url = await _start_stun(None, silent=True)
        try:
            fds = open_fds()
            tasks = len(asyncio.all_tasks())
            agent = _agent(urls=[url], stun_gather_timeout=60)
            seen: list[Candidate | None] = []
            agent.on_candidate(seen.append)
            await agent.gather_candidates()
            await until(lambda: silent.requests >= 1)
            await asyncio.wait_for(agent.close(), 5)
            assert open_fds() == fds
            assert len(asyncio.all_tasks()) == tasks
            # Gathering ended with the close: on_candidate(None), once.
            assert seen.count(None) == 1 and seen[-1] is None
        finally:
            assert silent.transport is not None
            silent.transport.close()

    run(main())
