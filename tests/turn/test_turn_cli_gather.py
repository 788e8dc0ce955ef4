"""``icekit gather`` against a real coturn on loopback: server-reflexive and
relayed candidates appear, and a refused TURN password is reported with its
code and never printed."""

from __future__ import annotations

import asyncio
import json

import pytest

from icekit.cli import _parser, main, run_gather
from tests.turn.coturn import CoturnServer
from tests.turn.udp_proxy import UdpProxy

pytestmark = pytest.mark.coturn

LOOPBACK_ONLY = ["--loopback", "--ip", "127.0.0.1", "--network", "udp4", "--json", "--timeout", "20"]


def _gather(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["gather", *argv, *LOOPBACK_ONLY])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.out + captured.err


def test_gather_srflx_and_relay_from_coturn(coturn: CoturnServer) -> None:
    # STUN goes through a loopback proxy, so coturn sees another port than the
    # host socket's: the srflx candidate differs from the host one and is kept.
    async def scenario() -> tuple[int, list[str], list[str]]:
        proxy = await UdpProxy((coturn.host, coturn.port), lambda _i, _d: False).start()
        try:
            args = _parser().parse_args([
                "gather", "--stun", f"stun:{proxy.address[0]}:{proxy.address[1]}",
                "--turn", coturn.url("udp"), "--turn-user", coturn.username, "--turn-pass", coturn.password,
                *LOOPBACK_ONLY,
            ])
            out: list[str] = []
            err: list[str] = []
            return await run_gather(args, out.append, err.append), out, err
        finally:
            proxy.close()

    code, out, err = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert code == 0 and err == []
    records = [json.loads(line) for line in out]
    by_type = {r["type"]: r for r in records if r["event"] == "candidate"}
    assert set(by_type) == {"host", "srflx", "relay"}
    host, srflx, relay = by_type["host"], by_type["srflx"], by_type["relay"]
    assert srflx["address"] == "127.0.0.1" and srflx["port"] != host["port"]
    assert (srflx["related_address"], srflx["related_port"]) == (host["address"], host["port"])
    assert relay["address"] == coturn.host and relay["related_address"] is not None
    assert all(isinstance(r["ms"], float) and isinstance(r["priority"], int) for r in by_type.values())
    assert [r for r in records if r["event"] == "server_error"] == []
    assert records[-1] == {**records[-1], "event": "done", "candidates": 3, "complete": True}


def test_gather_relay_only_table(coturn: CoturnServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([
        "gather", "--relay-only", "--turn", coturn.url("tcp"), "--turn-user", coturn.username,
        "--turn-pass", coturn.password, "--loopback", "--ip", "127.0.0.1", "--network", "udp4", "--timeout", "20",
    ])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:-1]]
    assert [row[0] for row in rows] == ["relay"]
    assert out.splitlines()[-1].startswith("1 candidate(s), 0 server error(s), gathering complete")


def test_gather_wrong_turn_password_is_reported_never_printed(
    coturn: CoturnServer, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-secret-Zq7"
    code, records, everything = _gather(
        capsys, "--turn", coturn.url("udp"), "--turn-user", coturn.username, "--turn-pass", wrong,
    )
    assert code == 0  # the host candidate was gathered
    errors = [r for r in records if r["event"] == "server_error"]
    assert len(errors) == 1
    assert errors[0]["code"] == 401 and errors[0]["server"] == coturn.url("udp")
    assert wrong not in everything and coturn.password not in everything


def test_gather_wrong_turn_password_table_line(coturn: CoturnServer, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = "not-the-secret-Zq7"
    code = main([
        "gather", "--relay-only", "--turn", coturn.url("udp"), "--turn-user", coturn.username, "--turn-pass", wrong,
        "--loopback", "--ip", "127.0.0.1", "--network", "udp4", "--timeout", "20",
    ])
    captured = capsys.readouterr()
    assert code == 1  # relay only, and the relay was refused: nothing gathered
    assert f"server error: {coturn.url('udp')} (ipv4): 401 " in captured.out
    assert captured.err.splitlines() == ["icekit gather: error: no candidate gathered"]
    assert wrong not in captured.out + captured.err
