"""The ``icekit`` command in subprocesses: the demo, and ping-pong against itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from .helpers import requires_core

pytestmark = requires_core

#: Bound on each subprocess; reached only if something hangs.
PROCESS_TIMEOUT = 60


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_tcp_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def test_demo_runs_and_exits_zero() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "icekit.cli", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=PROCESS_TIMEOUT,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "local candidate" in out
    assert "connection state connected" in out
    assert "selected pair:" in out
    assert "connected in" in out
    assert "B received: ping 2" in out and "A received: pong 2" in out
    assert out.count("connection state closed") == 2


def test_ping_pong_against_itself() -> None:
    controlling_port, controlled_port = _free_tcp_ports(2)
    common = [
        "--no-wait",
        "--count", "3",
        "--interval", "0.05",
        "--controlling-port", str(controlling_port),
        "--controlled-port", str(controlled_port),
        "--host", "127.0.0.1",
        "--loopback",
        "--ip", "127.0.0.1",
        "--timeout", "30",
    ]
    cmd = [sys.executable, "-m", "icekit.cli", "ping-pong"]
    controlled = subprocess.Popen(cmd + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    controlling = subprocess.Popen(
        cmd + ["--controlling"] + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        out_a, err_a = controlling.communicate(timeout=PROCESS_TIMEOUT)
        out_b, err_b = controlled.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        for proc in (controlling, controlled):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert controlling.returncode == 0, out_a + err_a
    assert controlled.returncode == 0, out_b + err_b
    assert "Local Agent is controlling" in out_a
    assert "Local Agent is controlled" in out_b
    for out in (out_a, out_b):
        assert "ICE Connection State: connected" in out
        assert out.count("Sent: '") == 3
        assert out.count("Received: '") == 3
    sent_a = {line.split("'")[1] for line in out_a.splitlines() if line.startswith("Sent:")}
    received_b = {line.split("'")[1] for line in out_b.splitlines() if line.startswith("Received:")}
    assert sent_a == received_b
    assert all(len(m) == 15 and m.isalpha() and m.islower() for m in sent_a)


def test_help_lists_commands() -> None:
    from icekit.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0


def test_ctrl_c_while_waiting_for_enter_exits() -> None:
    controlling_port, controlled_port = _free_tcp_ports(2)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "icekit.cli", "ping-pong", "--controlling",
            "--controlling-port", str(controlling_port), "--controlled-port", str(controlled_port),
            "--host", "127.0.0.1",
        ],
        stdin=subprocess.PIPE,  # left open: Enter never comes
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Enter" in line:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=PROCESS_TIMEOUT) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
