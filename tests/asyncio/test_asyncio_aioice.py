"""Interop with aioice (the other Python ICE library) on loopback, both roles."""

from __future__ import annotations

import asyncio

import pytest

from icekit.asyncio.agent import Agent
from icekit.candidate import Candidate

from .helpers import run

aioice = pytest.importorskip("aioice")
aioice_ice = pytest.importorskip("aioice.ice")



@pytest.fixture(autouse=True)
def aioice_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice never gathers loopback addresses: hand it 127.0.0.1."""
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.mark.parametrize("icekit_controls", [True, False])
def test_icekit_and_aioice_connect_and_exchange(icekit_controls: bool) -> None:
    async def main() -> None:
        agent = Agent(network_types=["udp4"], include_loopback=True, ip_filter=lambda ip: ip.is_loopback)
        peer = aioice.Connection(ice_controlling=not icekit_controls, use_ipv6=False)
        try:
            await agent.gather_candidates()
            await peer.gather_candidates()
            for candidate in peer.local_candidates:
                agent.add_remote_candidate(Candidate.unmarshal(candidate.to_sdp()))
            agent.set_remote_end_of_candidates()
            for ours in agent.get_local_candidates():
                await peer.add_remote_candidate(aioice.Candidate.from_sdp(ours.marshal()))
            await peer.add_remote_candidate(None)
            ufrag, pwd = agent.get_local_user_credentials()
            peer.remote_username = ufrag
            peer.remote_password = pwd
            connect = agent.dial if icekit_controls else agent.accept
            conn, _ = await asyncio.wait_for(
                asyncio.gather(connect(peer.local_username, peer.local_password), peer.connect()), 10
            )
            for i in range(3):
                await conn.write(b"from icekit %d" % i)
                assert await asyncio.wait_for(peer.recv(), 5) == b"from icekit %d" % i
                await peer.send(b"from aioice %d" % i)
                assert await asyncio.wait_for(conn.read(), 5) == b"from aioice %d" % i
            assert conn.remote_addr is not None and conn.remote_addr[0] == "127.0.0.1"
        finally:
            await agent.close()
            await peer.close()

    run(main())
