"""icekit relay-only (an ICE core on a TURN relay through coturn) against aioice on host candidates."""

from __future__ import annotations

import asyncio
import random

import aioice
import pytest
from aioice import ice as aioice_ice

from icekit.asyncio.relay import TurnRelay
from icekit.asyncio.servers import open_relay
from icekit.candidate import Candidate, CandidateType
from icekit.ice import IceAgent, IceConfig
from tests.turn.coturn import CoturnServer, relay_options
from tests.turn.relayed_core import RelayedCore

pytestmark = pytest.mark.coturn


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_only_icekit_with_aioice_host(
    coturn: CoturnServer, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aioice gathers on loopback only, so the test never leaves 127.0.0.1.
    monkeypatch.setattr(
        aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    )

    async def main() -> None:
        core = IceAgent(
            IceConfig(nomination_wait_relay=0.0),
            controlling=True,
            local_ufrag="icek",
            local_pwd="icekitPasswordIsLongEnough",
            rng=random.Random(3),
        )
        theirs = aioice.Connection(ice_controlling=False, use_ipv6=False)
        relay: TurnRelay | None = None
        ours: RelayedCore | None = None
        try:
            relay = await open_relay(coturn.url(transport), username=coturn.username, password=coturn.password, options=relay_options(timeout=10.0))
            ours = RelayedCore(core, relay)
            await theirs.gather_candidates()
            core.set_remote_credentials(theirs.local_username, theirs.local_password)
            for theirs_candidate in theirs.local_candidates:
                core.add_remote_candidate(
                    Candidate.unmarshal(theirs_candidate.to_sdp())
                )
            core.set_remote_end_of_candidates()
            theirs.remote_username = core.local_ufrag
            theirs.remote_password = core.local_pwd
            for candidate in core.local_candidates:
                assert candidate.type is CandidateType.RELAY
                await theirs.add_remote_candidate(
                    aioice.Candidate.from_sdp(
                        candidate.marshal().removeprefix("candidate:")
                    )
                )
            await theirs.add_remote_candidate(None)
            core.start(asyncio.get_running_loop().time())
            ours.pump()
            await asyncio.wait_for(theirs.connect(), 20.0)
            await ours.wait(lambda: core.selected_pair is not None)
            pair = core.selected_pair
            assert pair is not None
            assert pair.local.type is CandidateType.RELAY
            assert pair.remote.type is CandidateType.HOST
            for i in range(10):
                ours.send(b"to aioice %d" % i)
                assert await asyncio.wait_for(theirs.recv(), 5.0) == b"to aioice %d" % i
                await theirs.send(b"to icekit %d" % i)
                await ours.wait(
                    lambda i=i: any(d == b"to icekit %d" % i for d, _ in ours.received)
                )
        finally:
            await theirs.close()
            if ours is not None:
                ours.stop()
            if relay is not None:
                await relay.aclose()

    asyncio.run(asyncio.wait_for(main(), 60.0))
