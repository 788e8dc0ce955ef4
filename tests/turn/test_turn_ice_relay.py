"""Two ICE cores connect relay-only through coturn, each with a TurnRelay as its socket.

This drives the sans-IO ICE core with :class:`icekit.asyncio.relay.TurnRelay`
used exactly as the agent uses a UDP endpoint (``socket_id``,
``set_callbacks``, ``sendto``), over UDP, TCP and TLS to the server.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal

import pytest

from icekit.asyncio.relay import TurnRelay
from icekit.asyncio.servers import open_relay
from icekit.candidate import CandidateType
from icekit.ice import ConnectionState, IceAgent, IceConfig
from tests.turn.coturn import CoturnServer, coturn_server, relay_options
from tests.turn.relayed_core import RelayedCore

pytestmark = pytest.mark.coturn


def connect(a: RelayedCore, b: RelayedCore) -> None:
    """Exchange credentials and candidates, then start both cores."""
    for me, other in ((a, b), (b, a)):
        me.core.set_remote_credentials(other.core.local_ufrag, other.core.local_pwd)
        for candidate in other.core.local_candidates:
            me.core.add_remote_candidate(candidate)
        me.core.set_remote_end_of_candidates()
    now = asyncio.get_running_loop().time()
    for side in (a, b):
        side.core.start(now)
        side.pump()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_two_cores_relay_only(coturn: CoturnServer, transport: str) -> None:
    async def main() -> None:
        rng = random.Random(5)
        config = IceConfig(nomination_wait_relay=0.0)
        cores = [
            IceAgent(
                config,
                controlling=i == 0,
                local_ufrag=f"ufrag{i}",
                local_pwd=f"passwordOfAgent{i}xxxxxxxxxxxx",
                rng=rng,
            )
            for i in range(2)
        ]
        relays: list[TurnRelay] = []
        sides: list[RelayedCore] = []
        try:
            for core in cores:
                relay = await open_relay(coturn.url(transport), username=coturn.username, password=coturn.password, options=relay_options(cafile=coturn.cert_file, timeout=10.0))
                relays.append(relay)
                sides.append(RelayedCore(core, relay))
            a, b = sides
            connect(a, b)
            for side in (a, b):
                await side.wait(lambda s=side: s.core.selected_pair is not None)
            for side in (a, b):
                pair = side.core.selected_pair
                assert pair is not None
                assert pair.local.type is CandidateType.RELAY
                assert pair.remote.type is CandidateType.RELAY
            # Data both ways, first as Send indications, then over the channels.
            for i in range(30):
                a.send(b"a%d" % i)
                b.send(b"b%d" % i)
                await b.wait(
                    lambda i=i: (b"a%d" % i, a.relay.relayed_address) in b.received
                )
                await a.wait(
                    lambda i=i: (b"b%d" % i, b.relay.relayed_address) in a.received
                )
            await a.wait(
                lambda: a.relay.channel_for(b.relay.relayed_address) is not None
            )
            assert ConnectionState.CONNECTED in a.states
        finally:
            for side in sides:
                side.stop()
            for relay in relays:
                await relay.aclose()

    asyncio.run(asyncio.wait_for(main(), 60.0))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_server_stopped_while_connected(transport: str) -> None:
    # Consent freshness (RFC 7675) notices that the relay path died: the cores
    # go disconnected, then failed, within bounded time; nothing raises into
    # the event loop and closing still works.
    config = IceConfig(
        nomination_wait_relay=0.0,
        consent_interval=0.2,
        disconnected_timeout=0.6,
        consent_timeout=1.5,
    )
    with coturn_server(tls=False) as server:

        async def main() -> None:
            loop = asyncio.get_running_loop()
            errors: list[dict[str, object]] = []
            loop.set_exception_handler(lambda _loop, context: errors.append(context))
            cores = [
                IceAgent(
                    config,
                    controlling=i == 0,
                    local_ufrag=f"ufrag{i}",
                    local_pwd=f"passwordOfAgent{i}xxxxxxxxxxxx",
                    rng=random.Random(i),
                )
                for i in range(2)
            ]
            relays: list[TurnRelay] = []
            sides: list[RelayedCore] = []
            try:
                for core in cores:
                    relay = await open_relay(server.url(transport), username=server.username, password=server.password, options=relay_options(timeout=10.0))
                    relays.append(relay)
                    sides.append(RelayedCore(core, relay))
                a, b = sides
                connect(a, b)
                for side in sides:
                    await side.wait(lambda s=side: s.core.selected_pair is not None)
                os.kill(server.pid, signal.SIGKILL)
                for side in sides:
                    await side.wait(
                        lambda s=side: ConnectionState.FAILED in s.states, 20.0
                    )
                    failed_at = side.states.index(ConnectionState.FAILED)
                    assert ConnectionState.DISCONNECTED in side.states[:failed_at]
            finally:
                for side in sides:
                    side.stop()
                for relay in relays:
                    relay.close()
            assert all(relay.closed for relay in relays)
            assert errors == []

        asyncio.run(asyncio.wait_for(main(), 60.0))
