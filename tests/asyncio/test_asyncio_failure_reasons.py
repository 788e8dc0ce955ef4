"""ConnectionFailedError says why, on loopback (issue: failures that say why)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from icekit import ConnectionFailedError, FailureReason
from icekit.ice import IceAgent, IceConfig
from tests.asyncio.helpers import exchange_candidates, loopback_agent, run

WRONG_PWD = "wrongpasswordwrongpassword"
#: The PAC timer of the accepting side, shortened so that its own failure
#: (it waits for a nomination that cannot come) arrives within the test.
SHORT_PAC = 3.0


def _short_pac_core(config: IceConfig, **kwargs: Any) -> IceAgent:
    return IceAgent(dataclasses.replace(config, pac_timeout=SHORT_PAC), **kwargs)


def test_wrong_remote_pwd_fails_fast_with_the_reason_on_both_sides() -> None:
    async def main() -> None:
        async with loopback_agent() as a, loopback_agent(core_factory=_short_pac_core) as b:
            await a.gather_candidates()
            await b.gather_candidates()
            exchange_candidates(a, b)
            b_ufrag, _ = b.get_local_user_credentials()
            dial = asyncio.ensure_future(a.dial(b_ufrag, WRONG_PWD))
            accept = asyncio.ensure_future(b.accept(*a.get_local_user_credentials()))
            # The dialer's checks all get 401: it fails without waiting for
            # its PAC timer (39.5 s), well inside this bound.
            with pytest.raises(ConnectionFailedError) as dialed:
                await asyncio.wait_for(dial, 20)
            assert dialed.value.reason is FailureReason.CREDENTIALS_REJECTED
            assert "remote ufrag/pwd" in str(dialed.value)
            # The acceptor's checks succeed but every check of the dialer's
            # fails our integrity: the peer has our credentials wrong.
            with pytest.raises(ConnectionFailedError) as accepted:
                await asyncio.wait_for(accept, 20)
            assert accepted.value.reason is FailureReason.PEER_CREDENTIALS_WRONG
            assert WRONG_PWD not in str(accepted.value) + str(dialed.value)

    run(main())
