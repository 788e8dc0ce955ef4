"""Two icekit agents connect relay-only through a real coturn (UDP, TCP, TLS).

Also: a TURN server that refuses the credentials or does not answer never
stops the other candidates from arriving, and gathering still ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from icekit.asyncio.servers import TlsOptions
from icekit.candidate import CandidateType
from icekit.ice import ConnectionState
from icekit.uri import URI
from tests.asyncio import helpers
from tests.turn.coturn import CoturnServer, coturn_server

pytestmark = pytest.mark.coturn

T = TypeVar("T")

#: Gathering bound for a server that never answers (seconds): generous, so the
#: working servers beside it answer within it on a loaded machine too.
GATHER_BOUND = 3.0


def run(coro: Coroutine[Any, Any, T], bound: float = 60.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, bound))


loopback_agent = helpers.loopback_agent
gather = helpers.gather_all


def turn_uri(server: CoturnServer, transport: str, password: str | None = None) -> URI:
    return URI.parse(
        server.url(transport),
        server.username,
        password if password is not None else server.password,
    )


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_two_agents_relay_only(
    coturn: CoturnServer, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server's self-signed certificate is trusted through the
    # agent's turn_tls option, not through the process environment.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)

    async def main() -> None:
        uri = turn_uri(coturn, transport)
        tls = TlsOptions(cafile=coturn.cert_file)
        a = loopback_agent(urls=[uri], candidate_types=["relay"], turn_tls=tls)
        b = loopback_agent(urls=[uri], candidate_types=["relay"], turn_tls=tls)
        async with a, b:
            for agent in (a, b):
                seen = await gather(agent)
                assert seen[-1] is None
                kinds = [c.type for c in seen if c is not None]
                assert kinds == [
                    CandidateType.RELAY
                ]  # relay-only: no host address leaks
            for candidate in a.get_local_candidates():
                b.add_remote_candidate(candidate)
            for candidate in b.get_local_candidates():
                a.add_remote_candidate(candidate)
            ca, cb = await asyncio.wait_for(
                asyncio.gather(
                    a.dial(*b.get_local_user_credentials()),
                    b.accept(*a.get_local_user_credentials()),
                ),
                20.0,
            )
            for agent in (a, b):
                pair = agent.get_selected_candidate_pair()
                assert pair is not None
                assert pair[0].type is CandidateType.RELAY
                assert pair[1].type is CandidateType.RELAY
            for i in range(5):
                await ca.write(b"a->b %d" % i)
                assert await asyncio.wait_for(cb.read(), 5) == b"a->b %d" % i
                await cb.write(b"b->a %d" % i)
                assert await asyncio.wait_for(ca.read(), 5) == b"b->a %d" % i

    run(main())


def test_failed_turn_servers_do_not_break_gathering(coturn: CoturnServer) -> None:
    async def main() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        host, port = silent.getsockname()
        try:
            agent = loopback_agent(
                urls=[
                    turn_uri(coturn, "udp", password="Secret-x7q"),  # 401
                    URI.parse(f"turn:{host}:{port}", "u", "p"),  # never answers
                    turn_uri(coturn, "tcp"),  # works
                ],
                # Bounds the silent server; generous so the working ones
                # answer in time on a loaded machine.
                stun_gather_timeout=GATHER_BOUND,
            )
            async with agent:
                seen = await gather(agent)
        finally:
            silent.close()
        assert seen[-1] is None
        kinds = sorted(c.type.value for c in seen if c is not None)
        assert kinds == ["host", "relay"]
        # Both bad servers are reported, with the reason and without secrets.
        refused, silent_url = coturn.url("udp"), str(URI.parse(f"turn:{host}:{port}"))
        failures = agent.gathering_failures
        assert sorted(f.server for f in failures) == sorted([refused, silent_url]), (
            failures
        )
        by_server = {f.server: f for f in failures}
        assert by_server[refused].code == 401
        assert f"{GATHER_BOUND} s" in str(by_server[silent_url].error)
        assert all(
            "Secret-x7q" not in str(f) and coturn.password not in str(f)
            for f in failures
        )

    run(main())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_coturn_stopped_while_connected(transport: str) -> None:
    # The relay path dies with the server: consent freshness (RFC 7675) takes
    # both agents to disconnected, then failed, in bounded time; nothing is
    # raised into the event loop and close() still works.
    with coturn_server(tls=False) as server:

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop_errors: list[dict[str, Any]] = []
            loop.set_exception_handler(
                lambda _loop, context: loop_errors.append(context)
            )
            timers = {
                "keepalive_interval": 0.2,
                "disconnected_timeout": 0.6,
                "failed_timeout": 1.0,
            }
            uri = turn_uri(server, transport)
            a = loopback_agent(urls=[uri], candidate_types=["relay"], **timers)
            b = loopback_agent(urls=[uri], candidate_types=["relay"], **timers)
            states: dict[str, list[ConnectionState]] = {"a": [], "b": []}
            changed = asyncio.Event()

            def watcher(name: str) -> Any:
                def on_state(state: ConnectionState) -> None:
                    states[name].append(state)
                    changed.set()

                return on_state

            a.on_connection_state_change(watcher("a"))
            b.on_connection_state_change(watcher("b"))
            async with a, b:
                await gather(a)
                await gather(b)
                for candidate in a.get_local_candidates():
                    b.add_remote_candidate(candidate)
                for candidate in b.get_local_candidates():
                    a.add_remote_candidate(candidate)
                ca, cb = await asyncio.wait_for(
                    asyncio.gather(
                        a.dial(*b.get_local_user_credentials()),
                        b.accept(*a.get_local_user_credentials()),
                    ),
                    20.0,
                )
                await ca.write(b"before")
                assert await asyncio.wait_for(cb.read(), 5) == b"before"
                os.kill(server.pid, signal.SIGKILL)

                async def both_failed() -> None:
                    while not all(ConnectionState.FAILED in s for s in states.values()):
                        await changed.wait()
                        changed.clear()

                await asyncio.wait_for(both_failed(), 20.0)
                for history in states.values():
                    failed = history.index(ConnectionState.FAILED)
                    assert ConnectionState.DISCONNECTED in history[:failed]
                if transport == "tcp":
                    # The allocation dies with its connection: reported as a
                    # server failure after gathering.
                    for agent in (a, b):
                        (failure,) = agent.gathering_failures
                        assert failure.server == server.url("tcp")
                        assert "closed" in str(failure.error), failure
            assert loop_errors == []

        run(main())
