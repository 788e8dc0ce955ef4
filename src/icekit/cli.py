"""The ``icekit`` command: ``icekit demo``, ``icekit gather``, ``icekit nat-probe`` and ``icekit ping-pong``.

``icekit demo`` connects two agents inside one process over this machine's
loopback interface (so it works with no network at all, and sends nothing off
the machine; ``--all-interfaces`` gathers every interface) and shows what
happens. ``icekit gather`` lists the candidates an agent gathers with the
given STUN/TURN servers as they arrive, then the servers that failed (never
with their passwords): for testing a STUN/TURN deployment. ``icekit nat-probe``
classifies the NAT in front of this machine (RFC 5780 via a STUN server). ``icekit ping-pong`` is wire-compatible with pion/ice's
ping-pong example: two processes signal over HTTP on localhost (the
controlling side serves on port 9000, the controlled side on 9001), POSTing
``/remoteAuth`` (form fields ``ufrag`` and ``pwd``) and ``/remoteCandidate``
(form field ``candidate``), then exchange random lowercase messages.
Only the standard library is used for the signalling. The signalling server
listens on a TCP port, so it is bounded (:class:`SignallingLimits`): headers
8 KiB, bodies 4 KiB (a larger declared length is refused with 413 before
reading), 5 s for a whole request, 16 connections at once; only form POSTs to
the two paths without an ``Origin`` header (no web page may post) are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import string
import sys
import threading
import time
import typing
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from . import __version__
from .asyncio.agent import Agent
from .asyncio.options import IPAddress, IPFilter, NetworkType, check_remote_credentials
from .asyncio.natprobe import NatVerdict, probe_nat
from .asyncio.servers import ServerFailure
from .candidate import Candidate, CandidateType
from .errors import ConfigError, IcekitError
from .uri import URI

__all__ = [
    "SignallingLimits", "auth_from_form", "main", "run_demo", "run_gather", "run_nat_probe", "run_ping_pong", "start_signalling_server",
]

logger = logging.getLogger(__name__)


# -- icekit demo --------------------------------------------------------------


async def run_demo(
    messages: int = 3,
    timeout: float = 10.0,
    out: Callable[[str], None] = print,
    all_interfaces: bool = False,
) -> int:
    """Connect two local agents, exchange ``messages`` datagrams each way; return an exit code."""
    # Loopback is included so that the demo works on a machine with no network;
    # by default it is the only thing gathered, so the demo stays on this machine.
    ip_filter: IPFilter | None = None if all_interfaces else _is_loopback
    out("gathering on every interface" if all_interfaces
        else "gathering on loopback only (--all-interfaces gathers every interface)")
    controlling = Agent(include_loopback=True, ip_filter=ip_filter)
    controlled = Agent(include_loopback=True, ip_filter=ip_filter)
    agents = {"A": controlling, "B": controlled}
    peers = {"A": controlled, "B": controlling}
    for name, agent in agents.items():
        _attach_printers(name, agent, peers[name], out)
    try:
        started = time.perf_counter()
        await controlling.gather_candidates()
        await controlled.gather_candidates()
        dial = controlling.dial(*controlled.get_local_user_credentials())
        accept = controlled.accept(*controlling.get_local_user_credentials())
        conn_a, conn_b = await asyncio.wait_for(asyncio.gather(dial, accept), timeout)
        elapsed = time.perf_counter() - started
        pair = controlling.get_selected_candidate_pair()
        if pair is not None:
            out(f"selected pair: {_hostport(pair[0])} <-> {_hostport(pair[1])}")
        out(f"connected in {elapsed * 1000:.1f} ms (gathering included)")
        for i in range(messages):
            await conn_a.write(f"ping {i}".encode())
            got = await asyncio.wait_for(conn_b.read(), timeout)
            out(f"B received: {got.decode()}")
            await conn_b.write(f"pong {i}".encode())
            got = await asyncio.wait_for(conn_a.read(), timeout)
            out(f"A received: {got.decode()}")
    except (asyncio.TimeoutError, IcekitError) as exc:
        out(f"demo failed: {exc!r}")
        return 1
    finally:
        await controlling.close()
        await controlled.close()
    return 0


def _is_loopback(address: IPAddress) -> bool:
    return address.is_loopback


def _hostport(candidate: Candidate) -> str:
    host = f"[{candidate.address}]" if ":" in candidate.address else candidate.address
    return f"{host}:{candidate.port} ({candidate.type})"


def _attach_printers(name: str, agent: Agent, peer: Agent, out: Callable[[str], None]) -> None:
    def on_candidate(candidate: Candidate | None) -> None:
        if candidate is None:
            out(f"{name}: gathering complete")
            return
        out(f"{name}: local candidate {candidate.marshal()}")
        if not peer.closed:
            peer.add_remote_candidate(candidate)

    agent.on_candidate(on_candidate)
    agent.on_connection_state_change(lambda state: out(f"{name}: connection state {state}"))


# -- icekit gather --------------------------------------------------------------


def _networks(text: str) -> list[NetworkType]:
    """``--network``: a comma-separated list of udp4/udp6."""
    networks = []
    for name in filter(None, (part.strip().lower() for part in text.split(","))):
        if name in ("tcp4", "tcp6"):
            raise argparse.ArgumentTypeError(f"{name}: ICE-TCP is not supported yet; use udp4 and/or udp6")
        if name not in ("udp4", "udp6"):
            raise argparse.ArgumentTypeError(f"{name!r} is not a network type (udp4, udp6)")
        networks.append(NetworkType(name))
    if not networks:
        raise argparse.ArgumentTypeError("empty list (expected udp4, udp6 or udp4,udp6)")
    return networks


def _agent_from_args(args: argparse.Namespace, server_timeout: float = 5.0) -> Agent:
    """The agent the options of :func:`_add_agent_options` describe (URIError/ConfigError
    on a bad URL or option)."""
    if (args.turn_user is None) != (args.turn_pass is None):
        raise ConfigError("--turn-user and --turn-pass go together")
    urls = [URI.parse(url) for url in args.stun]
    urls += [URI.parse(url, args.turn_user, args.turn_pass) for url in args.turn]
    types = [CandidateType.RELAY] if args.relay_only else [CandidateType.HOST, CandidateType.SRFLX, CandidateType.RELAY]
    interfaces: list[str] | None = args.interface
    addresses: list[str] | None = args.ip
    return Agent(
        urls=urls,
        network_types=args.network,
        candidate_types=types,
        include_loopback=args.loopback,
        interface_filter=(lambda name: name in interfaces) if interfaces else None,
        ip_filter=(lambda ip: str(ip) in addresses) if addresses else None,
        stun_gather_timeout=server_timeout,
    )


def _add_agent_options(parser: argparse.ArgumentParser, networks: str) -> None:
    """The gathering options ``icekit gather`` and ``icekit ping-pong`` share."""
    parser.add_argument("--stun", action="append", default=[], metavar="URL", help="a stun: server (repeatable)")
    parser.add_argument("--turn", action="append", default=[], metavar="URL", help="a turn:/turns: server (repeatable)")
    parser.add_argument("--turn-user", metavar="U", help="TURN username for every --turn server")
    parser.add_argument("--turn-pass", metavar="P", help="TURN password for every --turn server")
    parser.add_argument(
        "--network", type=_networks, default=_networks(networks), metavar="LIST",
        help=f"networks to gather, comma-separated (default {networks})",
    )
    parser.add_argument("--relay-only", action="store_true", help="gather relayed candidates only")
    parser.add_argument("--loopback", action="store_true", help="also gather loopback addresses")
    parser.add_argument(
        "--interface", action="append", default=None, metavar="NAME", help="gather only on this interface (repeatable)"
    )
    parser.add_argument("--ip", action="append", default=None, metavar="ADDRESS", help="gather only this address (repeatable)")


def _print_error(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _candidate_record(candidate: Candidate, ms: float) -> dict[str, object]:
    return {
        "type": str(candidate.type), "protocol": candidate.transport, "address": candidate.address,
        "port": candidate.port, "related_address": candidate.related_address, "related_port": candidate.related_port,
        "priority": candidate.priority, "foundation": candidate.foundation, "ms": round(ms, 1),
    }


def _failure_record(failure: ServerFailure) -> dict[str, object]:
    # ServerFailure.server is the URL without credentials; the error never holds the password.
    return {"server": failure.server, "family": failure.family, "code": failure.code, "error": str(failure.error)}


async def run_gather(
    args: argparse.Namespace, out: Callable[[str], None] = print, err: Callable[[str], None] | None = None
) -> int:
    """``icekit gather``: print candidates as they arrive, then server failures; return an exit code.

    Exit code 0 when at least one candidate was gathered, 1 otherwise (or on a
    bad URL or option), with one line to ``err`` (default: standard error).
    """
    err = err or _print_error
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + args.timeout
    try:
        # Servers give up before the whole run does, so that a silent one is reported.
        agent = _agent_from_args(args, min(args.timeout * 0.8, 5.0))
    except IcekitError as exc:
        err(f"icekit gather: error: {exc}")
        return 1
    as_json: bool = args.json
    width = 39 if NetworkType.UDP6 in args.network else 15
    row = f"{{:<5}} {{:<5}} {{:<{width}}} {{:>5}}  {{:<{width + 6}}} {{:>10}} {{:<10}} {{:>8}}"
    complete: asyncio.Future[None] = loop.create_future()
    count = 0

    def on_candidate(candidate: Candidate | None) -> None:
        nonlocal count
        if candidate is None:
            _resolve(complete)
            return
        count += 1
        record = _candidate_record(candidate, (loop.time() - started) * 1000)
        if as_json:
            out(json.dumps({"event": "candidate", **record}))
            return
        related = "" if candidate.related_address is None else f"{candidate.related_address}:{candidate.related_port}"
        out(row.format(record["type"], record["protocol"], candidate.address, candidate.port, related,
                       candidate.priority, candidate.foundation, f"{record['ms']:.1f}"))

    agent.on_candidate(on_candidate)
    agent.on_server_error(lambda failure: None)  # reported below, not logged to stderr meanwhile
    if not as_json:
        out(row.format("type", "proto", "address", "port", "related", "priority", "foundation", "ms"))
    timed_out = False
    try:
        await agent.gather_candidates()
        await asyncio.wait_for(complete, max(deadline - loop.time(), 0.0))
    except asyncio.TimeoutError:
        timed_out = True
    finally:
        failures = agent.gathering_failures
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(agent.close(), max(deadline - loop.time(), 1.0))
    elapsed = (loop.time() - started) * 1000
    for failure in failures:
        if as_json:
            out(json.dumps({"event": "server_error", **_failure_record(failure)}))
        else:
            code = f" {failure.code}" if failure.code is not None else ""
            family = f" ({failure.family})" if failure.family else ""
            out(f"server error: {failure.server}{family}:{code} {failure.error}")
    if as_json:
        out(json.dumps({"event": "done", "candidates": count, "complete": not timed_out, "ms": round(elapsed, 1)}))
    else:
        state = f"timed out after {args.timeout:g} s" if timed_out else "complete"
        out(f"{count} candidate(s), {len(failures)} server error(s), gathering {state}, {elapsed:.1f} ms")
    if count == 0:
        err("icekit gather: error: no candidate gathered")
        return 1
    return 0


# -- icekit ping-pong: HTTP signalling ----------------------------------------


@dataclass(frozen=True)
class SignallingLimits:
    """Bounds of the ping-pong signalling server, which listens on a TCP port.

    One request per connection. Every request must arrive whole (headers and
    body) within ``timeout`` seconds, or the connection is answered 408 and
    closed: a client that trickles bytes is cut off as surely as an idle one.
    """

    #: request line and headers together; more is answered 431
    max_header_bytes: int = 8192
    #: a declared Content-Length above this is answered 413 before any body is read
    max_body_bytes: int = 4096
    #: seconds for a whole request to arrive
    timeout: float = 5.0
    #: connections served at once; more are answered 503 and closed at once
    max_connections: int = 16


_FORM = "application/x-www-form-urlencoded"
_REASONS = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Payload Too Large", 415: "Unsupported Media Type",
    431: "Request Header Fields Too Large", 503: "Service Unavailable",
}


async def _serve_request(
    reader: asyncio.StreamReader, routes: dict[str, Callable[[dict[str, str]], None]], max_body: int
) -> int:
    """Read one form POST and hand it to its route; return the HTTP status to answer."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")  # bounded by the reader's limit
    except asyncio.LimitOverrunError:
        return 431
    lines = head.decode("latin-1").split("\r\n")
    request = lines[0].split()
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    if len(request) != 3 or "transfer-encoding" in headers:
        return 400
    if "origin" in headers:
        # Only browsers send Origin: no web page may post to the example (pion's Go client sends none).
        return 403
    route = routes.get(urllib.parse.urlsplit(request[1]).path)
    if route is None:
        return 404
    if request[0] != "POST":
        return 405
    if headers.get("content-type", "").partition(";")[0].strip().lower() != _FORM:
        return 415
    length = headers.get("content-length", "0")
    if not length.isdigit():
        return 400
    if int(length) > max_body:
        return 413
    body = await reader.readexactly(int(length))
    try:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("ascii"), max_num_fields=16).items()}
        route(form)
    except (ValueError, KeyError, IcekitError) as exc:
        # A bad post is refused; the example goes on.
        logger.debug("signalling post refused: %r", exc)
        return 400
    return 200


async def start_signalling_server(
    host: str,
    port: int,
    routes: dict[str, Callable[[dict[str, str]], None]],
    limits: SignallingLimits = SignallingLimits(),
) -> asyncio.AbstractServer:
    """Serve form POSTs to ``routes`` (pion's example signalling), within ``limits``.

    A route raising ValueError, KeyError or IcekitError is answered 400.
    """
    active = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active
        active += 1
        try:
            if active > limits.max_connections:
                status = 503
            else:
                try:
                    status = await asyncio.wait_for(
                        _serve_request(reader, routes, limits.max_body_bytes), limits.timeout
                    )
                except asyncio.TimeoutError:
                    status = 408
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(writer.drain(), limits.timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            active -= 1
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=limits.max_header_bytes)


async def _http_post(host: str, port: int, path: str, form: dict[str, str], deadline: float) -> None:
    """POST a form, retrying until the peer listens or ``deadline`` (loop time) passes."""
    loop = asyncio.get_running_loop()
    body = urllib.parse.urlencode(form).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    delay = 0.05
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() + delay > deadline:
                raise
            # The other process may not be listening yet.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        try:
            writer.write(request)
            await writer.drain()
            await reader.read()
        finally:
            writer.close()
        return


# -- icekit ping-pong ------------------------------------------------------------


def auth_from_form(form: dict[str, str]) -> tuple[str, str]:
    """The peer's ``(ufrag, pwd)`` from a /remoteAuth form, checked (KeyError, CredentialsError)."""
    ufrag, pwd = form["ufrag"], form["pwd"]
    check_remote_credentials(ufrag, pwd)
    return ufrag, pwd


async def run_ping_pong(args: argparse.Namespace, wait_enter: Callable[[], Awaitable[None]] | None = None) -> int:
    """The pion/ice ping-pong example; returns an exit code."""
    controlling: bool = args.controlling
    local_port = args.controlling_port if controlling else args.controlled_port
    remote_port = args.controlled_port if controlling else args.controlling_port
    host: str = args.host
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.timeout if args.timeout else float("inf")

    if args.ipv6 and NetworkType.UDP6 not in args.network:
        args.network = [*args.network, NetworkType.UDP6]
    try:
        agent = _agent_from_args(args)
    except IcekitError as exc:
        print(f"ping-pong: error: {exc}", file=sys.stderr, flush=True)
        return 1
    remote_auth: asyncio.Future[tuple[str, str]] = loop.create_future()
    posts: set[asyncio.Task[None]] = set()

    def on_auth(form: dict[str, str]) -> None:
        auth = auth_from_form(form)  # a bad one is answered 400; a good one may follow
        if not remote_auth.done():
            remote_auth.set_result(auth)

    def on_candidate_post(form: dict[str, str]) -> None:
        agent.add_remote_candidate(Candidate.unmarshal(form["candidate"]))

    def posted(task: asyncio.Task[None]) -> None:
        posts.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The peer never listened before the deadline: the run's own
            # timeout says so in one line.
            logger.debug("signalling post failed: %r", task.exception())

    def post(path: str, form: dict[str, str]) -> None:
        task = loop.create_task(_http_post(host, remote_port, path, form, deadline))
        posts.add(task)
        task.add_done_callback(posted)

    def on_local_candidate(candidate: Candidate | None) -> None:
        if candidate is not None:
            post("/remoteCandidate", {"candidate": candidate.marshal()})

    agent.on_candidate(on_local_candidate)
    agent.on_connection_state_change(lambda state: print(f"ICE Connection State: {state}", flush=True))
    try:
        server = await start_signalling_server(
            host, local_port, {"/remoteAuth": on_auth, "/remoteCandidate": on_candidate_post})
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"ping-pong: cannot listen on {host}:{local_port}: {reason}",
              file=sys.stderr, flush=True)
        await agent.close()
        return 1
    try:
        print("Local Agent is controlling" if controlling else "Local Agent is controlled", flush=True)
        if wait_enter is not None:
            print("Press 'Enter' when both processes have started", flush=True)
            await wait_enter()
        ufrag, pwd = agent.get_local_user_credentials()
        post("/remoteAuth", {"ufrag": ufrag, "pwd": pwd})
        print(f"waiting for the peer on {host}:{remote_port}", flush=True)
        remaining = None if deadline == float("inf") else max(deadline - loop.time(), 0.0)
        remote_ufrag, remote_pwd = await asyncio.wait_for(remote_auth, remaining)
        await agent.gather_candidates()
        connect = agent.dial if controlling else agent.accept
        remaining = None if deadline == float("inf") else max(deadline - loop.time(), 0.0)
        conn = await asyncio.wait_for(connect(remote_ufrag, remote_pwd), remaining)
        return await _exchange(conn, args, deadline)
    except asyncio.TimeoutError:
        print(f"ping-pong: not done within --timeout {args.timeout:g} s (is the peer running, "
              f"serving on {host}:{remote_port}?)", file=sys.stderr, flush=True)
        return 1
    except (IcekitError, OSError) as exc:
        failure = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"ping-pong failed: {failure}", file=sys.stderr, flush=True)
        return 1
    finally:
        server.close()
        for task in list(posts):
            task.cancel()
        await asyncio.gather(*posts, return_exceptions=True)
        await agent.close()
        await server.wait_closed()


async def _exchange(conn: object, args: argparse.Namespace, deadline: float) -> int:
    from .asyncio.conn import Conn

    assert isinstance(conn, Conn)
    count: int = args.count
    loop = asyncio.get_running_loop()
    received = 0

    async def sender() -> None:
        sent = 0
        while not count or sent < count:
            await asyncio.sleep(args.interval)
            message = "".join(secrets.choice(string.ascii_lowercase) for _ in range(15))
            await conn.write(message.encode())
            sent += 1
            print(f"Sent: '{message}'", flush=True)

    send_task = loop.create_task(sender())
    try:
        while not count or received < count:
            remaining = None if deadline == float("inf") else max(deadline - loop.time(), 0.0)
            data = await asyncio.wait_for(conn.read(), remaining)
            received += 1
            print(f"Received: '{data.decode(errors='replace')}'", flush=True)
        await asyncio.wait_for(send_task, None if deadline == float("inf") else max(deadline - loop.time(), 0.0))
    finally:
        send_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await send_task
    return 0


async def _wait_for_enter() -> None:
    # A daemon thread, not the loop's executor: asyncio.run() joins the
    # executor's threads on the way out, so Ctrl-C while waiting would hang
    # until Enter was pressed.
    loop = asyncio.get_running_loop()
    entered: asyncio.Future[None] = loop.create_future()

    def wait() -> None:
        sys.stdin.readline()
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(_resolve, entered)

    threading.Thread(target=wait, name="icekit-wait-enter", daemon=True).start()
    await entered


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# -- icekit nat-probe ---------------------------------------------------------------

_PROBE_EXIT = {NatVerdict.DIRECT_LIKELY: 0, NatVerdict.TURN_NEEDED: 2, NatVerdict.INCONCLUSIVE: 3}


async def run_nat_probe(
    args: argparse.Namespace, out: Callable[[str], None] = print, err: Callable[[str], None] | None = None
) -> int:
    """``icekit nat-probe``: RFC 5780 findings and a verdict; exit 0 direct likely,
    2 TURN needed, 3 inconclusive, 1 error (one line on standard error)."""
    try:
        result = await probe_nat(args.server, timeout=args.timeout)
    except (IcekitError, OSError) as exc:
        (err or _print_error)(f"icekit nat-probe: error: {exc}")
        return 1
    if args.json:
        out(json.dumps(result.to_dict()))
    else:
        def addr(a: tuple[str, int] | None) -> str:
            return "-" if a is None else (f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}")
        hairpin = {None: "not tested", True: "yes", False: "no"}[result.hairpinning]
        for label, value in (("server", addr(result.server)), ("local address", addr(result.local)),
                             ("mapped address", addr(result.mapped)),
                             ("other address", addr(result.other_address)),
                             ("mapping", result.mapping.value), ("filtering", result.filtering.value),
                             ("hairpinning", hairpin)):
            out(f"{label + ':':16} {value}")
        for note in result.notes[1:]:
            out(f"note: {note}")
        out(result.summary)
    return _PROBE_EXIT[result.verdict]


# -- entry point ---------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Bad arguments end with one line and exit code 1, not usage and code 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(1, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="icekit", description="ICE (RFC 8445) examples")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--version", action="version", version=f"icekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="connect two local agents and show what happens")
    demo.add_argument("--messages", type=int, default=3, help="messages each way (default 3)")
    demo.add_argument("--timeout", type=float, default=10.0, help="give up after this many seconds (default 10)")
    demo.add_argument(
        "--all-interfaces", action="store_true", help="gather every interface, not only loopback"
    )

    gather = sub.add_parser("gather", help="list the candidates gathered with given STUN/TURN servers")
    _add_agent_options(gather, "udp4,udp6")
    gather.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    gather.add_argument("--timeout", type=_seconds, default=10.0, help="bound on the whole run in seconds (default 10)")

    probe = sub.add_parser("nat-probe", help="classify this network's NAT (RFC 5780) via a STUN server")
    probe.add_argument("server", nargs="?", default="stun:stun.stunprotocol.org:3478",
                       help="stun:HOST[:PORT] of a server with RFC 5780 support (default %(default)s)")
    probe.add_argument("--json", action="store_true", help="print the findings as one JSON object")
    probe.add_argument("--timeout", type=_seconds, default=5.0, help="bound on the probe in seconds (default 5)")

    pp = sub.add_parser("ping-pong", help="pion/ice's ping-pong example, wire-compatible")
    pp.add_argument("--controlling", action="store_true", help="be the controlling agent")
    pp.add_argument("--no-wait", action="store_true", help="do not wait for Enter before starting")
    pp.add_argument("--count", type=int, default=0, help="exit 0 after N round trips (0: run forever)")
    pp.add_argument("--interval", type=float, default=3.0, help="seconds between messages (default 3)")
    pp.add_argument("--controlling-port", type=int, default=9000, help="HTTP port of the controlling side (default 9000)")
    pp.add_argument("--controlled-port", type=int, default=9001, help="HTTP port of the controlled side (default 9001)")
    pp.add_argument("--host", default="localhost", help="signalling host (default localhost)")
    _add_agent_options(pp, "udp4")
    pp.add_argument("--ipv6", action="store_true", help="gather IPv6 as well as IPv4 (same as --network udp4,udp6)")
    pp.add_argument("--timeout", type=float, default=0.0, help="exit 1 after this many seconds (0: never)")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of the ``icekit`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        if args.command == "demo":
            return asyncio.run(run_demo(args.messages, args.timeout, all_interfaces=args.all_interfaces))
        if args.command == "gather":
            return asyncio.run(run_gather(args))
        if args.command == "nat-probe":
            return asyncio.run(run_nat_probe(args))
        wait = None if args.no_wait else _wait_for_enter
        return asyncio.run(run_ping_pong(args, wait))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
