"""``icekit ping-pong`` through a real coturn: two processes, relay-only, with
the TURN options ``icekit gather`` has too."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.asyncio.helpers import PROCESS_TIMEOUT, free_tcp_ports, unbuffered_env
from tests.turn.coturn import CoturnServer

pytestmark = pytest.mark.coturn


def test_ping_pong_relay_only_through_coturn(coturn: CoturnServer) -> None:
    controlling_port, controlled_port = free_tcp_ports(2)
    common = [
        "--no-wait", "--count", "2", "--interval", "0.05",
        "--controlling-port", str(controlling_port), "--controlled-port", str(controlled_port),
        "--host", "127.0.0.1", "--relay-only", "--network", "udp4",
        "--turn", coturn.url("udp"), "--turn-user", coturn.username, "--turn-pass", coturn.password,
        "--timeout", "30",
    ]
    cmd = [sys.executable, "-m", "icekit.cli", "ping-pong"]
    procs = [subprocess.Popen(cmd + extra + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=unbuffered_env()) for extra in ([], ["--controlling"])]
    try:
        outputs = [proc.communicate(timeout=PROCESS_TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
        assert "ICE Connection State: connected" in out
        assert out.count("Received: '") == 2
        assert coturn.password not in out + err
