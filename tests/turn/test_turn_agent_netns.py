"""Agents connect relay to relay while signalling host addresses coturn cannot reach.

In a network namespace made by the test, coturn listens and relays on one
public-looking address. Two agents gather a host candidate on that address
and a relayed one, and each signals its relay plus a *private* host address
with no route in the namespace (as a peer behind a NAT would). Checks from a
relay to such a peer are refused locally (relaying there would make coturn
drop the whole allocation), so the relay-to-relay pair still connects.

The scenario runs inside the namespace as
``ip netns exec <ns> python3 -m tests.turn.test_turn_agent_netns --host <addr>``
and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import pytest

from tests.turn import netns

pytestmark = [pytest.mark.coturn, pytest.mark.netns]

HOST = "203.0.113.10"  # coturn's and the agents' address inside the namespace
PRIVATE = ("192.168.77.7", "192.168.77.8")  # unroutable in the namespace
RUN_BOUND = 90.0


def run_in_namespace(transport: str) -> dict[str, Any]:
    """Run this module's scenario in a fresh namespace (deleted afterwards)."""
    return netns.run_in_namespace(
        "tests.turn.test_turn_agent_netns", HOST, ["--host", HOST, "--transport", transport], RUN_BOUND
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_pair_connects_despite_private_host_candidates(transport: str) -> None:
    reason = netns.missing_requirements()
    if reason is not None:
        pytest.skip(reason)
    result = run_in_namespace(transport)
    assert result["error"] is None, result
    # Each side's path goes through a relay (a host socket may reach the
    # peer's relay: permissions are per IP, and both share the address).
    assert all("relay" in pair for pair in result["selected"]), result
    assert len(result["selected"]) == 2, result
    assert result["received"] == ["a->b", "b->a"], result
    assert result["failures"] == [], result
    assert result["server_dropped_allocation"] is False, result


# -- the scenario, run inside the namespace ------------------------------------


async def _scenario(host: str, transport: str) -> dict[str, Any]:
    from icekit.asyncio.agent import Agent
    from icekit.candidate import Candidate, CandidateType
    from icekit.errors import IcekitError
    from icekit.uri import URI
    from tests.turn.coturn import start_coturn

    out: dict[str, Any] = {
        "error": None,
        "selected": [],
        "received": [],
        "failures": [],
    }
    with start_coturn(host=host, tls=False) as server:
        uri = URI.parse(server.url(transport), server.username, server.password)

        def agent() -> Agent:
            return Agent(
                network_types=["udp4"], urls=[uri], ip_filter=lambda ip: str(ip) == host
            )

        a, b = agent(), agent()
        async with a, b:
            gathered: list[asyncio.Event] = []

            def until_gathered(done: asyncio.Event) -> Any:
                def on_candidate(candidate: Candidate | None) -> None:
                    if candidate is None:
                        done.set()

                return on_candidate

            for ag in (a, b):
                gathered.append(asyncio.Event())
                ag.on_candidate(until_gathered(gathered[-1]))
                await ag.gather_candidates()
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in gathered)), 20)

            def signalled(ag: Agent, private: str) -> list[Candidate]:
                cands = ag.get_local_candidates()
                out = [c for c in cands if c.type is CandidateType.RELAY]
                out += [
                    Candidate.unmarshal(c.marshal().replace(c.address, private, 1))
                    for c in cands
                    if c.type is CandidateType.HOST
                ]
                return out

            for c in signalled(a, PRIVATE[0]):
                b.add_remote_candidate(c)
            for c in signalled(b, PRIVATE[1]):
                a.add_remote_candidate(c)
            try:
                ca, cb = await asyncio.wait_for(
                    asyncio.gather(
                        a.dial(*b.get_local_user_credentials()),
                        b.accept(*a.get_local_user_credentials()),
                    ),
                    30,
                )
                for ag in (a, b):
                    pair = ag.get_selected_candidate_pair()
                    assert pair is not None
                    out["selected"].append([pair[0].type.value, pair[1].type.value])
                await ca.write(b"a->b")
                out["received"].append((await asyncio.wait_for(cb.read(), 5)).decode())
                await cb.write(b"b->a")
                out["received"].append((await asyncio.wait_for(ca.read(), 5)).decode())
            except (
                AssertionError,
                IcekitError,
                OSError,
                TimeoutError,
            ) as exc:  # reported in the JSON line
                out["error"] = repr(exc)
            out["failures"] = [
                str(f) for f in a.gathering_failures + b.gathering_failures
            ]
        log = server.read_log()
    out["server_dropped_allocation"] = "error 437" in log or "Wrong nonce" in log
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the scenario and print its JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--transport", default="udp")
    args = parser.parse_args(argv)
    result = asyncio.run(
        asyncio.wait_for(_scenario(args.host, args.transport), RUN_BOUND - 10)
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
