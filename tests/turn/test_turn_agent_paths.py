"""The Agent's TURN data path and server options, against a real coturn.

* the selected relay pair switches to ChannelData (RFC 8656 §12);
* ``turn_tls``: certificate checks by default (a clear reported failure),
  a CA file, or no verification;
* relay-only agents never show or use a host address;
* relay to relay still connects when the peers also signal dead host
  addresses;
* ``on_server_error`` (coroutine handler) reports bad servers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from icekit.asyncio.agent import Agent
from icekit.asyncio.relay import TurnRelay
from icekit.asyncio.servers import ServerFailure, TlsOptions
from icekit.candidate import Candidate, CandidateType
from icekit.ice import IceAgent
from icekit.turn import events
from icekit.types import Address
from icekit.uri import URI
from tests.asyncio import helpers
from tests.turn.coturn import CoturnServer

pytestmark = pytest.mark.coturn

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], bound: float = 60.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, bound))


loopback_agent = helpers.loopback_agent


async def gather(agent: Agent, bound: float = 20.0) -> list[Candidate]:
    seen = await helpers.gather_all(agent, bound)
    assert seen[-1] is None and seen.count(None) == 1
    return [c for c in seen if c is not None]


def turn_uri(server: CoturnServer, transport: str) -> URI:
    return URI.parse(server.url(transport), server.username, server.password)


def relays(agent: Agent) -> list[TurnRelay]:
    return [e for e in agent._endpoints.values() if isinstance(e, TurnRelay)]


async def connect(
    a: Agent, b: Agent, a_cands: list[Candidate], b_cands: list[Candidate]
) -> Any:
    for candidate in a_cands:
        b.add_remote_candidate(candidate)
    for candidate in b_cands:
        a.add_remote_candidate(candidate)
    return await asyncio.wait_for(
        asyncio.gather(
            a.dial(*b.get_local_user_credentials()),
            b.accept(*a.get_local_user_credentials()),
        ),
        20.0,
    )


async def wait_channel(relay: TurnRelay, peer: Address, bound: float = 10.0) -> int:
    """The channel number of *peer* once the server confirmed the binding."""
    bound_event = asyncio.Event()
    relay.on_event = lambda event: (
        bound_event.set() if isinstance(event, events.ChannelBound) else None
    )

    async def bound_channel() -> int:
        while (number := relay.channel_for(peer)) is None:
            await bound_event.wait()
            bound_event.clear()
        return number

    try:
        return await asyncio.wait_for(bound_channel(), bound)
    finally:
        relay.on_event = None


def record_frames(relay: TurnRelay) -> list[bytes]:
    """Every frame the relay's sans-IO client hands to the link from now on."""
    frames: list[bytes] = []
    client = relay.client
    poll = client.poll_transmit

    def recording() -> bytes | None:
        data = poll()
        if data is not None:
            frames.append(data)
        return data

    client.poll_transmit = recording  # type: ignore[method-assign]
    return frames


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_selected_relay_pair_uses_channel_data(
    coturn: CoturnServer, transport: str
) -> None:
    async def main() -> None:
        uri = turn_uri(coturn, transport)
        a = loopback_agent(urls=[uri], candidate_types=["relay"])
        b = loopback_agent(urls=[uri], candidate_types=["relay"])
        async with a, b:
            ca, cb = await connect(a, b, await gather(a), await gather(b))
            pair = a.get_selected_candidate_pair()
            assert pair is not None
            (relay,) = relays(a)
            number = await wait_channel(relay, pair[1].addr)
            assert 0x4000 <= number <= 0x4FFF
            frames = record_frames(relay)
            payload = b"x" * 100
            for _ in range(5):
                await ca.write(payload)
                assert await asyncio.wait_for(cb.read(), 5) == payload
            data_frames = [f for f in frames if f.endswith(payload) or payload in f]
            assert len(data_frames) == 5
            for frame in data_frames:
                # ChannelData: 2-byte channel number, 2-byte length, payload
                # (padded to 4 bytes over TCP: 100 needs none).
                assert frame[:2] == number.to_bytes(2, "big")
                assert len(frame) == 4 + len(payload)

    run(main())


def test_turns_certificate_checked_by_default(
    coturn: CoturnServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)

    async def main() -> None:
        reported: list[ServerFailure] = []

        async def on_server_error(
            failure: ServerFailure,
        ) -> None:  # coroutine handlers work too
            reported.append(failure)

        agent = loopback_agent(urls=[turn_uri(coturn, "tls")], stun_gather_timeout=5.0)
        agent.on_server_error(on_server_error)
        async with agent:
            kinds = [c.type for c in await gather(agent)]
            await agent._notifier.flush()
        assert kinds == [CandidateType.HOST]
        (failure,) = agent.gathering_failures
        assert reported == [failure]
        assert failure.server == coturn.url("tls")
        assert "certificate" in str(failure.error).lower(), failure

    run(main())


@pytest.mark.parametrize(
    "tls",
    [pytest.param("cafile", id="cafile"), pytest.param("noverify", id="verify-off")],
)
def test_turns_with_tls_options(
    coturn: CoturnServer, tls: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    options = (
        TlsOptions(cafile=coturn.cert_file)
        if tls == "cafile"
        else TlsOptions(verify=False)
    )

    async def main() -> None:
        agent = loopback_agent(
            urls=[turn_uri(coturn, "tls")], candidate_types=["relay"], turn_tls=options
        )
        async with agent:
            kinds = [c.type for c in await gather(agent)]
        assert kinds == [CandidateType.RELAY]
        assert agent.gathering_failures == []

    run(main())


def test_turn_tls_option_is_validated() -> None:
    from icekit.errors import ConfigError

    with pytest.raises(ConfigError, match="turn_tls"):
        Agent(turn_tls="yes")  # type: ignore[arg-type]


def test_relay_only_never_uses_a_host_address(coturn: CoturnServer) -> None:
    # The peer has host and relay candidates; the relay-only agent must show
    # only its relayed address, and every packet the peer receives from it
    # must come from that relayed address (no check from a host socket).
    async def main() -> None:
        uri = turn_uri(coturn, "udp")
        sources: set[Address] = set()

        class SpyCore(IceAgent):
            """Records every source b's core hears STUN or data from."""

            def handle_stun(self, now: float, socket_id: int, src: Address, data: bytes) -> None:
                sources.add(src)
                super().handle_stun(now, socket_id, src, data)

            def is_valid_source(self, socket_id: int, src: Address) -> bool:
                sources.add(src)
                return super().is_valid_source(socket_id, src)

        a = loopback_agent(urls=[uri], candidate_types=["relay"])
        b = loopback_agent(urls=[uri], core_factory=SpyCore)
        core = b.core
        async with a, b:
            a_cands = await gather(a)
            b_cands = await gather(b)
            assert [c.type for c in a_cands] == [CandidateType.RELAY]
            assert {c.type for c in b_cands} == {
                CandidateType.HOST,
                CandidateType.RELAY,
            }
            # Nothing but relays behind the agent: no host socket to send from.
            assert all(isinstance(e, TurnRelay) for e in a._endpoints.values())
            ca, cb = await connect(a, b, a_cands, b_cands)
            assert b.core is core
            for i in range(3):
                await ca.write(b"a%d" % i)
                assert await asyncio.wait_for(cb.read(), 5) == b"a%d" % i
                await cb.write(b"b%d" % i)
                assert await asyncio.wait_for(ca.read(), 5) == b"b%d" % i
            pair = a.get_selected_candidate_pair()
            assert pair is not None and pair[0].type is CandidateType.RELAY
            relayed = {c.addr for c in a_cands}
            # What b learned of a: its relay, or addresses b saw it from.
            assert sources and sources <= relayed, (sources, relayed)
            for candidate in b.get_remote_candidates():
                assert candidate.addr in relayed, candidate
        # Host addresses of a never left a: not even as the relay candidate's
        # related address (the mapped address, here a's TURN client socket).
        for candidate in a.get_local_candidates():
            assert candidate.type is CandidateType.RELAY
            assert (candidate.related_address, candidate.related_port) == ("0.0.0.0", 0)
            assert "raddr 0.0.0.0 rport 0" in candidate.marshal()

    run(main())


def test_relay_pair_connects_despite_dead_host_candidates(coturn: CoturnServer) -> None:
    # Each side signals its relay plus host addresses where nobody listens:
    # the checks to them (direct and through the relay) fail, and the
    # relay-to-relay pair must still win. (Addresses the server has no route
    # to need a namespace: see test_turn_agent_netns.py.)
    async def main() -> None:
        uri = turn_uri(coturn, "udp")
        a = loopback_agent(urls=[uri])
        b = loopback_agent(urls=[uri])
        async with a, b:
            a_all = await gather(a)
            b_all = await gather(b)

            def signalled(cands: list[Candidate], fake: str) -> list[Candidate]:
                out = [c for c in cands if c.type is CandidateType.RELAY]
                for c in cands:
                    if c.type is CandidateType.HOST:
                        out.append(
                            Candidate.unmarshal(c.marshal().replace(c.address, fake, 1))
                        )
                return out

            a_sig = signalled(a_all, "127.0.0.2")
            b_sig = signalled(b_all, "127.0.0.3")
            assert {c.type for c in a_sig} == {CandidateType.HOST, CandidateType.RELAY}
            ca, cb = await connect(a, b, a_sig, b_sig)
            for agent in (a, b):
                pair = agent.get_selected_candidate_pair()
                assert pair is not None
                # Through a relay: relay/relay, or a host socket to the
                # peer's relay (permissions are per IP, shared on loopback).
                assert CandidateType.RELAY in (pair[0].type, pair[1].type), pair
            await ca.write(b"ping")
            assert await asyncio.wait_for(cb.read(), 5) == b"ping"
            await cb.write(b"pong")
            assert await asyncio.wait_for(ca.read(), 5) == b"pong"

    run(main())


def test_stun_server_failure_reported(coturn: CoturnServer) -> None:
    # A STUN server that never answers: the host candidate arrives, gathering
    # ends within the bound, and the failure names the server. A working one
    # (coturn) gives no failure; a stuns: URL is reported as unusable.
    async def main() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        host, port = silent.getsockname()
        stuns = f"stuns:127.0.0.1:{coturn.tls_port}"
        try:
            agent = loopback_agent(
                urls=[f"stun:{host}:{port}", f"stun:127.0.0.1:{coturn.port}", stuns],
                # Bounds the silent server; generous so coturn answers in
                # time on a loaded machine.
                stun_gather_timeout=3.0,
            )
            async with agent:
                kinds = [c.type for c in await gather(agent)]
        finally:
            silent.close()
        # On loopback the mapped address equals the host one: no srflx.
        assert kinds == [CandidateType.HOST]
        failures = {f.server: f for f in agent.gathering_failures}
        assert sorted(failures) == sorted([f"stun:{host}:{port}", stuns])
        assert failures[f"stun:{host}:{port}"].family == "ipv4"
        assert "Binding" in str(failures[f"stun:{host}:{port}"].error)
        assert "TCP connection" in str(failures[stuns].error)

    run(main())
