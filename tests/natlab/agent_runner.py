"""One ICE agent in a lab host namespace, driven by the test through a pipe.

``ip netns exec <host-ns> python3 agent_runner.py --role controlling ...``

The runner speaks JSON lines, and signalling trickles (RFC 8838): the test
forwards each runner's credentials and candidates to the other as they come.
On stdout the runner reports events:

* ``{"event": "credentials", "ufrag", "pwd"}`` at once;
* ``{"event": "candidate", "candidate": text}`` for each local candidate (RFC
  8839 text form), and ``"candidate": null`` when gathering is complete;
* ``{"event": "state", "state": "checking"}`` on every connection state change;
* ``{"event": "connected", "seconds": t, "local": {...}, "remote": {...}}``:
  ``t`` from dial/accept to connected, the selected pair's candidates;
* ``{"event": "exchanged", "sent": n, "echoed": m}`` after an ``exchange``;
* ``{"event": "error", "error": "..."}``; ``{"event": "closed"}``.

On stdin it takes commands:

* ``{"cmd": "credentials", "ufrag", "pwd"}``: the peer's; the runner then dials
  (controlling) or accepts (controlled).  The controlled side echoes every
  datagram it receives, prefixed with ``echo:``;
* ``{"cmd": "candidate", "candidate": text or null}``: a peer candidate, or
  the peer's end of candidates;
* ``{"cmd": "exchange", "count": n, "timeout": s}`` (controlling side): sends
  n datagrams and waits for their echoes, so data crosses both ways;
* ``{"cmd": "selected"}``: report the selected pair now; ``{"cmd": "close"}``.

``--impl icekit`` uses the public :class:`icekit.Agent` API; ``--impl aioice``
the aioice library (the interoperability row, and a check of this harness).
For ``turns:`` the test sets ``SSL_CERT_FILE`` to the lab server's certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any


def emit(event: str, **fields: Any) -> None:
    """Write one event line to stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def describe(candidate: Any) -> dict[str, Any]:
    """A candidate as a JSON-able dict (works for icekit and aioice candidates)."""
    ctype = getattr(candidate, "type", None)
    return {
        "type": str(getattr(ctype, "value", ctype)),
        "transport": str(getattr(candidate, "transport", "")).lower(),
        "address": getattr(candidate, "address", None) or getattr(candidate, "host", None),
        "port": getattr(candidate, "port", None),
        "relay_protocol": getattr(candidate, "relay_protocol", None),
    }


class IcekitPeer:
    """The icekit side: ``icekit.Agent`` with STUN and TURN URLs, trickling."""

    def __init__(self, args: argparse.Namespace) -> None:
        import icekit
        from icekit.uri import URI

        # The public API of issue 4 (icekit.Agent, .Candidate, .NetworkType); typed
        # loosely so this helper checks before those names are exported.
        api: Any = icekit
        urls = [URI.parse(u) for u in args.stun]
        urls += [URI.parse(u, username=args.user, password=args.password) for u in args.turn]
        options: dict[str, Any] = {"network_types": [api.NetworkType.UDP4], "urls": urls}
        for name in ("disconnected_timeout", "failed_timeout", "keepalive_interval",
                     "relay_acceptance_min_wait"):
            value = getattr(args, name)
            if value is not None:
                options[name] = value
        self.api = api
        self.agent = api.Agent(**options)
        self.conn: Any = None
        self.agent.on_candidate(
            lambda c: emit("candidate", candidate=c.marshal() if c is not None else None)
        )
        self.agent.on_connection_state_change(lambda s: emit("state", state=str(s)))

    def credentials(self) -> tuple[str, str]:
        """The local ufrag and pwd."""
        ufrag, pwd = self.agent.get_local_user_credentials()
        return str(ufrag), str(pwd)

    async def gather(self) -> None:
        """Start gathering; candidates trickle out through ``on_candidate``."""
        await self.agent.gather_candidates()

    async def add_remote(self, text: str | None) -> None:
        """A trickled peer candidate, or ``None`` for the peer's end of candidates."""
        if text is None:
            self.agent.set_remote_end_of_candidates()
        else:
            self.agent.add_remote_candidate(self.api.Candidate.unmarshal(text))

    async def connect(self, controlling: bool, ufrag: str, pwd: str) -> None:
        """Dial or accept (remote candidates may still be trickling in)."""
        method = self.agent.dial if controlling else self.agent.accept
        self.conn = await method(ufrag, pwd)

    def selected(self) -> tuple[Any, Any]:
        """The selected pair (local, remote)."""
        pair = self.agent.get_selected_candidate_pair()
        return (pair[0], pair[1]) if pair else (None, None)

    async def send(self, data: bytes) -> None:
        """Send one datagram on the selected pair."""
        await self.conn.write(data)

    async def recv(self) -> bytes:
        """Receive one datagram."""
        data: bytes = await self.conn.read()
        return data

    async def close(self) -> None:
        """Close the agent."""
        await self.agent.close()


class AioicePeer:
    """The aioice side (one STUN and one TURN server, as aioice supports).

    aioice gathers all candidates before it connects; they are reported when
    gathering is done.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        import aioice

        self.aioice = aioice
        stun = _hostport(args.stun[0]) if args.stun else None
        turn = _hostport(args.turn[0]) if args.turn else None
        secure = bool(args.turn) and args.turn[0].startswith("turns:")
        transport = "tcp" if args.turn and ("transport=tcp" in args.turn[0] or secure) else "udp"
        self.conn = aioice.Connection(
            ice_controlling=args.role == "controlling",
            stun_server=stun,
            turn_server=turn,
            turn_username=args.user if turn else None,
            turn_password=args.password if turn else None,
            turn_ssl=secure,
            turn_transport=transport,
            use_ipv6=False,
        )
        self.gathered = asyncio.Event()

    def credentials(self) -> tuple[str, str]:
        """The local ufrag and pwd."""
        return str(self.conn.local_username), str(self.conn.local_password)

    async def gather(self) -> None:
        """Gather every candidate, then report them."""
        try:
            await self.conn.gather_candidates()
            for cand in self.conn.local_candidates:
                emit("candidate", candidate=cand.to_sdp())
            emit("candidate", candidate=None)
        finally:
            self.gathered.set()

    async def add_remote(self, text: str | None) -> None:
        """A trickled peer candidate, or ``None`` for the peer's end of candidates."""
        cand = None if text is None else self.aioice.Candidate.from_sdp(
            text.removeprefix("candidate:"))
        await self.conn.add_remote_candidate(cand)

    async def connect(self, controlling: bool, ufrag: str, pwd: str) -> None:
        """Connect once local gathering is done (aioice requires it)."""
        await self.gathered.wait()
        self.conn.remote_username = ufrag
        self.conn.remote_password = pwd
        await self.conn.connect()

    def selected(self) -> tuple[Any, Any]:
        """The nominated pair of component 1 (local, remote)."""
        pair = getattr(self.conn, "_nominated", {}).get(1)
        return (pair.local_candidate, pair.remote_candidate) if pair else (None, None)

    async def send(self, data: bytes) -> None:
        """Send one datagram."""
        await self.conn.send(data)

    async def recv(self) -> bytes:
        """Receive one datagram."""
        data: bytes = await self.conn.recv()
        return data

    async def close(self) -> None:
        """Close the connection."""
        await self.conn.close()


def _hostport(url: str) -> tuple[str, int]:
    rest = url.split(":", 1)[1].split("?", 1)[0]
    host, _, port = rest.rpartition(":")
    return (host, int(port))


async def _read_command(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await reader.readline()
    if not line:
        return None
    cmd: dict[str, Any] = json.loads(line)
    return cmd


async def _echo(peer: Any) -> None:
    """Controlled side: echo every datagram back."""
    while True:
        data = await peer.recv()
        await peer.send(b"echo:" + data)


async def _exchange(peer: Any, count: int, timeout: float) -> None:
    """Controlling side: send *count* datagrams, count their echoes."""
    echoed: set[bytes] = set()
    sent = 0

    async def receive() -> None:
        while len(echoed) < count:
            data = await peer.recv()
            if data.startswith(b"echo:"):
                echoed.add(data[5:])

    receiver = asyncio.ensure_future(receive())
    try:
        deadline = time.monotonic() + timeout
        while len(echoed) < count and time.monotonic() < deadline:
            # Resend what is not echoed yet (the link may lose datagrams).
            for i in range(count):
                msg = f"ping {i}".encode()
                if msg not in echoed:
                    await peer.send(msg)
                    sent += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(receiver), timeout=0.5)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
    emit("exchanged", sent=sent, echoed=len(echoed))


async def run(args: argparse.Namespace) -> int:
    """Gather and connect while signalling trickles, then follow commands."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    peer: Any = IcekitPeer(args) if args.impl == "icekit" else AioicePeer(args)
    controlling = args.role == "controlling"
    tasks: list[asyncio.Future[Any]] = []
    failed = asyncio.Event()

    def watch(task: asyncio.Future[Any], what: str) -> None:
        def done(t: asyncio.Future[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                emit("error", error=f"{what}: {type(exc).__name__}: {exc}")
                failed.set()

        task.add_done_callback(done)
        tasks.append(task)

    async def connect(ufrag: str, pwd: str) -> None:
        started = time.monotonic()
        await asyncio.wait_for(peer.connect(controlling, ufrag, pwd), args.timeout)
        local, remote = peer.selected()
        emit("connected", seconds=time.monotonic() - started,
             local=describe(local) if local else None, remote=describe(remote) if remote else None)
        if not controlling:
            watch(asyncio.ensure_future(_echo(peer)), "echo")

    ufrag, pwd = peer.credentials()
    emit("credentials", ufrag=ufrag, pwd=pwd)
    watch(asyncio.ensure_future(asyncio.wait_for(peer.gather(), args.timeout)), "gather")
    try:
        while True:
            command = asyncio.ensure_future(_read_command(reader))
            stop = asyncio.ensure_future(failed.wait())
            await asyncio.wait({command, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not command.done():
                command.cancel()
                return 1  # an error was reported
            cmd = command.result()
            if cmd is None or cmd.get("cmd") == "close":
                return 0
            kind = cmd.get("cmd")
            if kind == "credentials":
                watch(asyncio.ensure_future(connect(cmd["ufrag"], cmd["pwd"])), "connect")
            elif kind == "candidate":
                await peer.add_remote(cmd.get("candidate"))
            elif kind == "exchange":
                await _exchange(peer, int(cmd.get("count", 5)), float(cmd.get("timeout", 10)))
            elif kind == "selected":
                local, remote = peer.selected()
                emit("selected", local=describe(local) if local else None,
                     remote=describe(remote) if remote else None)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
        emit("error", error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await peer.close()
        emit("closed")


def main(argv: list[str] | None = None) -> int:
    """Command line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("controlling", "controlled"), required=True)
    parser.add_argument("--impl", choices=("icekit", "aioice"), default="icekit")
    parser.add_argument("--stun", action="append", default=[], help="stun: URL")
    parser.add_argument("--turn", action="append", default=[], help="turn:/turns: URL")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--timeout", type=float, default=30.0, help="gather/connect bound, s")
    parser.add_argument("--disconnected-timeout", type=float, dest="disconnected_timeout")
    parser.add_argument("--failed-timeout", type=float, dest="failed_timeout")
    parser.add_argument("--keepalive-interval", type=float, dest="keepalive_interval")
    parser.add_argument("--relay-acceptance-min-wait", type=float,
                        dest="relay_acceptance_min_wait",
                        help="how long a valid relayed pair waits for a better one, s")
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
