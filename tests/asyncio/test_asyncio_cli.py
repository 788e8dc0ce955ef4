"""The ``icekit`` command in subprocesses: the demo, and ping-pong against itself."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from typing import Any

import pytest

from .helpers import PROCESS_TIMEOUT, free_tcp_ports, run, unbuffered_env

#: Bound on each subprocess; reached only if something hangs.


def test_demo_runs_and_exits_zero() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "icekit.cli", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=PROCESS_TIMEOUT,
        env=unbuffered_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith("gathering on loopback only (--all-interfaces")
    assert "local candidate" in out
    assert "connection state connected" in out
    assert "selected pair:" in out
    assert "connected in" in out
    assert "B received: ping 2" in out and "A received: pong 2" in out
    assert out.count("connection state closed") == 2


def test_ping_pong_against_itself() -> None:
    controlling_port, controlled_port = free_tcp_ports(2)
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
    controlled = subprocess.Popen(cmd + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=unbuffered_env())
    controlling = subprocess.Popen(
        cmd + ["--controlling"] + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=unbuffered_env()
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
    controlling_port, controlled_port = free_tcp_ports(2)
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
        env=unbuffered_env(),
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


# -- the signalling server's bounds (issue: unbounded ping-pong server) --------

#: Bound on waiting for one server answer; only reached when the server hangs.
ANSWER_WAIT = 5.0


class _Recorder:
    """Routes that record the forms they accept and refuse a form without ``ok``."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []

    def route(self, form: dict[str, str]) -> None:
        if form.get("ok") != "1":
            raise ValueError("bad form")
        self.forms.append(form)


async def _serve(**limits: Any) -> tuple[asyncio.AbstractServer, int, _Recorder]:
    from icekit.cli import SignallingLimits, start_signalling_server

    recorder = _Recorder()
    server = await start_signalling_server(
        "127.0.0.1", 0, {"/remoteAuth": recorder.route}, SignallingLimits(**limits)
    )
    port = server.sockets[0].getsockname()[1]
    return server, port, recorder


def _post(path: str, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


async def _ask(port: int, request: bytes) -> str:
    """Send ``request``; return the status line of the answer ('' if closed without one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), ANSWER_WAIT)
    finally:
        writer.close()
    return answer.split(b"\r\n", 1)[0].decode()


def test_signalling_refuses_oversize_declared_length_without_reading() -> None:
    async def scenario() -> None:
        server, port, recorder = await _serve(max_body_bytes=1024)
        async with server:
            head = (
                "POST /remoteAuth HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 1000000000\r\n\r\n"
            ).encode()
            # No body is sent: the answer must come from the header alone.
            assert await _ask(port, head) == "HTTP/1.1 413 Payload Too Large"
        assert recorder.forms == []

    run(scenario())


def test_signalling_refuses_oversize_headers() -> None:
    async def scenario() -> None:
        server, port, _ = await _serve(max_header_bytes=1024)
        async with server:
            request = b"POST /remoteAuth HTTP/1.1\r\nX-Filler: " + b"a" * 4096 + b"\r\n\r\n"
            assert await _ask(port, request) == "HTTP/1.1 431 Request Header Fields Too Large"

    run(scenario())


def _trickle_test(prefix: bytes) -> None:
    """A client that sends ``prefix`` then trickles one byte at a time is cut off."""

    async def scenario() -> None:
        server, port, recorder = await _serve(timeout=0.3)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(prefix)
            closed = asyncio.ensure_future(reader.read())

            async def trickle() -> None:
                while True:
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(0.02)

            trickler = asyncio.ensure_future(trickle())
            try:
                # Cut off within the timeout, though bytes keep arriving.
                done, _ = await asyncio.wait({closed, trickler}, timeout=ANSWER_WAIT,
                                             return_when=asyncio.FIRST_COMPLETED)
                assert closed in done, "the server kept a trickling client"
                assert closed.result().startswith(b"HTTP/1.1 408")
            finally:
                trickler.cancel()
                await asyncio.gather(trickler, return_exceptions=True)
                writer.close()
            assert recorder.forms == []

    run(scenario())


def test_signalling_cuts_off_trickled_headers() -> None:
    _trickle_test(b"POST /remoteAuth HTTP/1.1\r\nX-Slow: ")


def test_signalling_cuts_off_trickled_body() -> None:
    _trickle_test(_post("/remoteAuth", b"")[:-4].replace(b"Length: 0", b"Length: 900") + b"\r\n\r\n")


def test_signalling_limits_concurrent_connections() -> None:
    async def scenario() -> None:
        server, port, recorder = await _serve(max_connections=2, timeout=ANSWER_WAIT * 2)
        async with server:
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            # Both idle connections hold their slots: a third is turned away at once.
            assert await _ask(port, _post("/remoteAuth", b"ok=1")) == "HTTP/1.1 503 Service Unavailable"
            assert recorder.forms == []
            for _, writer in idle:
                writer.close()
            # Freed slots serve again (the server notices the closes first).
            for _ in range(100):
                status = await _ask(port, _post("/remoteAuth", b"ok=1"))
                if status != "HTTP/1.1 503 Service Unavailable":
                    break
            assert status == "HTTP/1.1 200 OK"
            assert recorder.forms == [{"ok": "1"}]

    run(scenario())


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /remoteAuth HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
        (b"PUT /remoteAuth HTTP/1.1\r\nContent-Length: 4\r\n\r\nok=1", "HTTP/1.1 405 Method Not Allowed"),
        (_post("/remoteAuth", b'{"ok": 1}', "application/json"), "HTTP/1.1 415 Unsupported Media Type"),
        (_post("/remoteAuth", b"ok=1", "text/plain"), "HTTP/1.1 415 Unsupported Media Type"),
        (_post("/remoteAuth", b"ok=1")[:-4].replace(b"Host:", b"Origin: http://evil.example\r\nHost:") + b"ok=1",
         "HTTP/1.1 403 Forbidden"),
        (_post("/elsewhere", b"ok=1"), "HTTP/1.1 404 Not Found"),
        (_post("/remoteAuth", b"").replace(b"Length: 0", b"Length: x"), "HTTP/1.1 400 Bad Request"),
        (b"nonsense\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    ],
)
def test_signalling_refuses_other_requests(request_bytes: bytes, status: str) -> None:
    async def scenario() -> None:
        server, port, recorder = await _serve()
        async with server:
            assert await _ask(port, request_bytes) == status
        assert recorder.forms == []

    run(scenario())


def test_signalling_bad_form_is_400_and_serving_goes_on() -> None:
    async def scenario() -> None:
        server, port, recorder = await _serve()
        async with server:
            assert await _ask(port, _post("/remoteAuth", b"ok=0")) == "HTTP/1.1 400 Bad Request"
            assert await _ask(port, _post("/remoteAuth", b"\xff\xfe=\x00")) == "HTTP/1.1 400 Bad Request"
            ctype = "application/x-www-form-urlencoded; charset=utf-8"
            assert await _ask(port, _post("/remoteAuth", b"ok=1&x=%20y", ctype)) == "HTTP/1.1 200 OK"
        assert recorder.forms == [{"ok": "1", "x": " y"}]

    run(scenario())


def test_ping_pong_auth_form_is_checked_before_use() -> None:
    from icekit.cli import auth_from_form
    from icekit.errors import IcekitError

    good = {"ufrag": "abcd", "pwd": "p" * 22}
    assert auth_from_form(good) == ("abcd", "p" * 22)
    for bad in ({"ufrag": "abcd"}, {"ufrag": "ab", "pwd": "p" * 22}, {"ufrag": "abcd", "pwd": "short"},
                {"ufrag": "ab cd", "pwd": "p" * 22}):
        with pytest.raises((KeyError, ValueError, IcekitError)):
            auth_from_form(bad)


# -- icekit gather and --version ---------------------------------------------------

LOOPBACK_ONLY = ["--loopback", "--ip", "127.0.0.1", "--network", "udp4"]


def _icekit(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "icekit.cli", *argv],
        capture_output=True, text=True, check=False, timeout=PROCESS_TIMEOUT, env=unbuffered_env(),
    )


def test_gather_loopback_prints_a_table_and_exits_zero() -> None:
    proc = _icekit("gather", *LOOPBACK_ONLY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["type", "proto", "address", "port", "related", "priority", "foundation", "ms"]
    host = [line.split() for line in lines[1:] if line.startswith("host ")]
    assert len(host) == 1 and host[0][:2] == ["host", "udp"] and host[0][2] == "127.0.0.1"
    assert 0 < int(host[0][3]) < 65536 and int(host[0][4]) > 0  # port, priority
    # Columns line up: every field starts where the header's does.
    assert lines[1].index("127.0.0.1") == lines[0].index("address")
    assert lines[-1].startswith("1 candidate(s), 0 server error(s), gathering complete, ")
    assert proc.stderr == ""


def test_gather_json_lines_carry_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    from icekit.cli import main

    assert main(["gather", *LOOPBACK_ONLY, "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    candidates = [r for r in records if r["event"] == "candidate"]
    assert len(candidates) == 1
    fields = {"type", "protocol", "address", "port", "related_address", "related_port", "priority", "foundation", "ms"}
    assert fields < candidates[0].keys()
    assert candidates[0]["type"] == "host" and candidates[0]["address"] == "127.0.0.1"
    assert candidates[0]["related_address"] is None and candidates[0]["ms"] >= 0
    assert records[-1]["event"] == "done" and records[-1]["candidates"] == 1 and records[-1]["complete"] is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["gather", "--stun", "stun://127.0.0.1"], "'//' after the scheme"),
        (["gather", "--stun", "http:127.0.0.1"], "is not one of stun"),
        (["gather", "--turn", "turn:127.0.0.1"], "needs a username and a password"),
        (["gather", "--network", "tcp4"], "tcp4: ICE-TCP is not supported yet"),
        (["gather", "--network", "udp5"], "'udp5' is not a network type"),
        (["gather", "--timeout", "0"], "not a positive number of seconds"),
        (["gather", "--turn-user", "u"], "--turn-user and --turn-pass go together"),
    ],
)
def test_gather_bad_arguments_exit_one_with_one_line(argv: list[str], expected: str) -> None:
    proc = _icekit(*argv, *LOOPBACK_ONLY)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("icekit gather: error: ")
    assert expected in proc.stderr and "Traceback" not in proc.stderr


def test_gather_nothing_exits_one(capsys: pytest.CaptureFixture[str]) -> None:
    from icekit.cli import main

    # An address no interface has: nothing is gathered.
    assert main(["gather", "--loopback", "--ip", "192.0.2.254"]) == 1
    captured = capsys.readouterr()
    assert "0 candidate(s)" in captured.out
    assert captured.err.splitlines() == ["icekit gather: error: no candidate gathered"]


def test_version() -> None:
    import icekit

    proc = _icekit("--version")
    assert proc.returncode == 0 and proc.stdout == f"icekit {icekit.__version__}\n"


def test_gather_reports_a_silent_stun_server_within_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    from icekit.cli import main

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    url = f"stun:127.0.0.1:{silent.getsockname()[1]}"
    try:
        assert main(["gather", "--stun", url, *LOOPBACK_ONLY, "--timeout", "3"]) == 0
    finally:
        silent.close()
    lines = capsys.readouterr().out.splitlines()
    # The server gives up first (0.8 of the timeout), so the run ends complete and names it.
    assert [line for line in lines if line.startswith("server error: ")] == [
        line for line in lines if line.startswith(f"server error: {url} (ipv4): ")
    ] != []
    assert lines[-1].startswith("1 candidate(s), 1 server error(s), gathering complete, ")


def _ping_pong(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "icekit.cli", "ping-pong", "--no-wait", "--host", "127.0.0.1",
         "--loopback", "--ip", "127.0.0.1", *extra],
        capture_output=True, text=True, check=False, timeout=PROCESS_TIMEOUT, env=unbuffered_env(),
    )


def test_ping_pong_port_in_use_is_one_line_and_exit_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _ping_pong("--controlled-port", str(port), "--timeout", "10")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ping-pong: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_ping_pong_without_a_peer_says_what_it_waits_for_and_times_out() -> None:
    own, peer = free_tcp_ports(2)
    proc = _ping_pong("--controlled-port", str(own), "--controlling-port", str(peer), "--timeout", "1")
    assert proc.returncode == 1
    assert f"waiting for the peer on 127.0.0.1:{peer}" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ping-pong: not done within --timeout 1 s")
    assert "Traceback" not in proc.stderr


def test_ping_pong_bad_options_are_one_line() -> None:
    for extra in (["--network", "tcp4"], ["--turn", "turn:127.0.0.1:3478"], ["--turn-user", "u"]):
        proc = subprocess.run([sys.executable, "-m", "icekit.cli", "ping-pong", "--no-wait", *extra],
                              capture_output=True, text=True, check=False, timeout=PROCESS_TIMEOUT,
                              env=unbuffered_env())
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, (extra, proc.stderr)
        assert "Traceback" not in proc.stderr
