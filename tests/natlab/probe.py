"""NAT behaviour probe for the lab: a responder for the server, a client for a host.

A standalone script (standard library only) so that it runs with
``ip netns exec <ns> python3 probe.py ...`` in any lab namespace.

``serve`` binds UDP sockets on every (address, port) given and one TCP
listener on the first (address, port); it prints ``ready`` once bound and
serves until killed.  Requests are small JSON datagrams:

* ``{"op": "map", "id": n}``: answered from the same socket with the source
  address the server saw (the host's mapping toward that server address/port);
* ``{"op": "filter", "id": n, "from": [[a, p], ...]}``: the server sends one
  datagram to the source from each socket (address index ``a``, port index
  ``p``), then a ``control`` datagram from the socket that got the request.

``punch`` tries UDP hole punching with a peer host (see :func:`punch`).

``client`` classifies the NAT in front of the host in RFC 4787 terms and prints
one JSON object:

* mapping (RFC 4787 §4.1): one socket asks the server's (addr1, port1),
  (addr1, port2) and (addr2, port1) for its mapped address.  All equal:
  endpoint-independent; equal per server address: address-dependent; else
  address-and-port-dependent.
* filtering (RFC 4787 §5): a fresh socket (a fresh mapping that has only
  contacted (addr1, port1)) asks for datagrams from (addr2, port1) and from
  (addr1, port2).  Both arrive: endpoint-independent; only the second:
  address-dependent; neither: address-and-port-dependent.  The control
  datagram, sent last from the contacted socket, tells when the others had
  their chance; a short grace period covers reordering.
* TCP: whether a TCP connection to the server's listener works, and the
  source address the server saw on it.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time
from typing import Any

ATTEMPT_TIMEOUT = 0.25  # seconds per request attempt (lab RTTs are < 1 ms)
GRACE = 0.2  # seconds to wait for filtered datagrams after the control one


def serve(addrs: list[str], ports: list[int]) -> None:
    """Answer probe requests on every (address, port) until killed."""
    socks: dict[tuple[int, int], socket.socket] = {}
    for ai, addr in enumerate(addrs):
        for pi, port in enumerate(ports):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((addr, port))
            socks[(ai, pi)] = sock
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addrs[0], ports[0]))
    listener.listen(16)
    by_fd = {s.fileno(): key for key, s in socks.items()}
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([*socks.values(), listener], [], [])
        for sock in readable:
            if sock is listener:
                conn, peer = listener.accept()
                with conn:
                    conn.sendall(json.dumps({"mapped": list(peer)}).encode() + b"\n")
                continue
            data, src = sock.recvfrom(2048)
            try:
                req = json.loads(data)
            except ValueError:
                continue
            if not isinstance(req, dict):
                continue
            rid = req.get("id")
            if req.get("op") == "map":
                sock.sendto(json.dumps({"id": rid, "mapped": list(src)}).encode(), src)
            elif req.get("op") == "filter":
                for ai, pi in req.get("from", []):
                    other = socks.get((int(ai), int(pi)))
                    if other is not None:
                        msg = {"id": rid, "from": [ai, pi]}
                        other.sendto(json.dumps(msg).encode(), src)
                here = list(by_fd[sock.fileno()])
                sock.sendto(json.dumps({"id": rid, "control": True, "from": here}).encode(), src)


def _send(sock: socket.socket, data: bytes, dest: tuple[str, int]) -> None:
    """Send, ignoring local refusals (EPERM from a firewall that blocks UDP)."""
    try:
        sock.sendto(data, dest)
    except OSError:
        pass


def _recv_json(sock: socket.socket, deadline: float) -> dict[str, Any] | None:
    """The next JSON datagram before *deadline*, or ``None``."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return None
        try:
            data = sock.recv(2048)
        except OSError:  # ICMP unreachable from an earlier datagram
            continue
        try:
            msg = json.loads(data)
        except ValueError:
            continue
        if isinstance(msg, dict):
            return msg


def _ask_mapped(sock: socket.socket, dest: tuple[str, int], attempts: int) -> tuple[str, int] | None:
    """The mapped address the server saw at *dest*, retrying on loss."""
    for attempt in range(attempts):
        rid = f"m{attempt}"
        _send(sock, json.dumps({"op": "map", "id": rid}).encode(), dest)
        deadline = time.monotonic() + ATTEMPT_TIMEOUT
        while (msg := _recv_json(sock, deadline)) is not None:
            if msg.get("id") == rid and "mapped" in msg:
                host, port = msg["mapped"]
                return (str(host), int(port))
    return None


def _classify_mapping(m11: Any, m12: Any, m21: Any) -> str:
    if m11 == m12 == m21:
        return "endpoint-independent"
    if m11 == m12:
        return "address-dependent"
    return "address-and-port-dependent"


def _filtering(dest: tuple[str, int], attempts: int) -> str | None:
    """Classify filtering with a fresh socket that only contacted *dest*."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        for attempt in range(attempts):
            rid = f"f{attempt}"
            req = {"op": "filter", "id": rid, "from": [[1, 0], [0, 1]]}
            _send(sock, json.dumps(req).encode(), dest)
            got: set[tuple[int, int]] = set()
            deadline = time.monotonic() + ATTEMPT_TIMEOUT
            control = False
            while (msg := _recv_json(sock, deadline)) is not None:
                if msg.get("id") != rid:
                    continue
                if msg.get("control"):
                    if not control:
                        control = True
                        deadline = time.monotonic() + GRACE
                    continue
                ai, pi = msg["from"]
                got.add((int(ai), int(pi)))
            if not control:
                continue
            if (1, 0) in got and (0, 1) in got:
                return "endpoint-independent"
            if (0, 1) in got and (1, 0) not in got:
                return "address-dependent"
            if not got:
                return "address-and-port-dependent"
            return "inconsistent"
    return None


def _tcp_mapped(dest: tuple[str, int]) -> tuple[str, int] | None:
    try:
        with socket.create_connection(dest, timeout=1.0) as conn:
            conn.settimeout(1.0)
            line = conn.makefile("rb").readline()
    except OSError:
        return None
    host, port = json.loads(line)["mapped"]
    return (str(host), int(port))


def _local_ip(dest: tuple[str, int]) -> str:
    """The source address the kernel picks toward *dest* (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(dest)
        return str(sock.getsockname()[0])


def client(addrs: list[str], ports: list[int], attempts: int) -> dict[str, Any]:
    """Probe the NAT in front of this host; return the observations."""
    s11, s12, s21 = (addrs[0], ports[0]), (addrs[0], ports[1]), (addrs[1], ports[0])
    result: dict[str, Any] = {"mapping": None, "filtering": None, "nat": None}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        local = [_local_ip(s11), sock.getsockname()[1]]
        result["local"] = local
        m11 = _ask_mapped(sock, s11, attempts)
        result["udp"] = m11 is not None
        if m11 is not None:
            m12 = _ask_mapped(sock, s12, attempts)
            m21 = _ask_mapped(sock, s21, attempts)
            result["mapped"] = [list(m) if m else None for m in (m11, m12, m21)]
            if m12 is not None and m21 is not None:
                result["mapping"] = _classify_mapping(m11, m12, m21)
                result["nat"] = list(m11) != local
    if result["udp"]:
        result["filtering"] = _filtering(s11, attempts)
    tcp = _tcp_mapped(s11)
    result["tcp"] = tcp is not None
    result["tcp_mapped"] = list(tcp) if tcp else None
    return result


def punch(addrs: list[str], ports: list[int], attempts: int, budget: float) -> None:
    """UDP hole punching with a peer, signalled through stdin/stdout.

    Prints this host's mapped address (from the server's first address/port)
    as a JSON line, reads the peer's as ``host port`` from stdin, then sends
    to it every 20 ms, answering anything received at its source (as ICE
    answers a peer-reflexive source).  Prints ``{"ok": ...}`` once both
    directions worked (we received from the peer, and the peer acknowledged
    ours), or when *budget* seconds ran out.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        mapped = _ask_mapped(sock, (addrs[0], ports[0]), attempts)
        print(json.dumps({"mapped": list(mapped) if mapped else None}), flush=True)
        host, port = sys.stdin.readline().split()
        peer = (host, int(port))
        deadline = time.monotonic() + budget
        heard: tuple[str, int] | None = None
        acked = False
        linger_until: float | None = None
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline or (linger_until is not None and now >= linger_until):
                break
            if now >= next_send:
                _send(sock, b"punch", peer)
                if heard is not None and heard != peer:
                    _send(sock, b"punch", heard)
                next_send = now + 0.02
            readable, _, _ = select.select([sock], [], [], max(0.0, min(next_send, deadline) - now))
            if not readable:
                continue
            try:
                data, src = sock.recvfrom(2048)
            except OSError:
                continue
            if data == b"punch":
                heard = (str(src[0]), int(src[1]))
                _send(sock, b"ack", src)
            elif data == b"ack":
                acked = True
            if heard is not None and acked and linger_until is None:
                # Keep answering a little so the peer sees our acknowledgement too.
                linger_until = time.monotonic() + 0.2
        print(json.dumps({"ok": heard is not None and acked, "peer_src": heard}), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command line entry: ``serve``, ``client`` or ``punch``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("serve", "client", "punch"))
    parser.add_argument("--addr", action="append", required=True, help="server address (twice)")
    parser.add_argument("--port", action="append", type=int, required=True, help="port (twice)")
    parser.add_argument("--attempts", type=int, default=6, help="tries per request")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds for punching")
    args = parser.parse_args(argv)
    if len(args.addr) != 2 or len(args.port) != 2:
        parser.error("give --addr and --port twice each")
    if args.mode == "serve":
        serve(args.addr, args.port)
        return 0
    if args.mode == "punch":
        punch(args.addr, args.port, args.attempts, args.budget)
        return 0
    json.dump(client(args.addr, args.port, args.attempts), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
