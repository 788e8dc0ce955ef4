"""Traffic generators for the lab's link tests (standard library only).

``ip netns exec <ns> python3 traffic.py MODE ...``:

* ``rtt --server A:P --count N``: N sequential "map" requests to the probe
  server (see ``probe.py``), each waited for up to 5 s; prints the round-trip
  times of those answered and the number lost;
* ``burst --server A:P --count N``: N requests back to back, then the number
  answered (see :func:`burst`);
* ``sink --listen A:P``: accepts one TCP connection, prints ``ready`` first,
  then the byte count and SHA-256 of everything received;
* ``send --server A:P --bytes N``: sends N pseudo-random bytes over TCP;
  prints their count and SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import sys
import time


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host, int(port))


def rtt(server: tuple[str, int], count: int, timeout: float = 5.0) -> dict[str, object]:
    """Round trips of *count* probe requests (lost ones counted, not retried);
    an answer is waited for up to *timeout* seconds (a bound, not a speed test)."""
    times: list[float] = []
    lost = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(count):
            sent = time.monotonic()
            sock.sendto(json.dumps({"op": "map", "id": i}).encode(), server)
            deadline = sent + timeout
            while True:
                sock.settimeout(max(0.0, deadline - time.monotonic()))
                try:
                    msg = json.loads(sock.recv(2048))
                except TimeoutError:
                    lost += 1
                    break
                if msg.get("id") == i:
                    times.append(time.monotonic() - sent)
                    break
    return {"rtts": times, "lost": lost}


def burst(server: tuple[str, int], count: int) -> dict[str, object]:
    """Send *count* probe requests back to back; count the answers.

    Then a control request is repeated until answered: on a link without
    jitter both directions are first-in first-out, so every answer that was
    going to arrive has arrived by then (and every frame has crossed the link).
    """
    answered: set[int] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(count):
            sock.sendto(json.dumps({"op": "map", "id": i}).encode(), server)
        for attempt in range(150):
            control = f"c{attempt}"
            sock.sendto(json.dumps({"op": "map", "id": control}).encode(), server)
            sock.settimeout(0.2)
            try:
                while True:
                    rid = json.loads(sock.recv(2048)).get("id")
                    if isinstance(rid, int):
                        answered.add(rid)
                    elif rid == control:
                        return {"answered": len(answered), "controls": attempt + 1}
            except TimeoutError:
                continue
    raise SystemExit("no control answer")


def sink(listen: tuple[str, int]) -> dict[str, object]:
    """Receive one TCP stream; its size and digest."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(listen)
        srv.listen(1)
        print("ready", flush=True)
        srv.settimeout(60)
        conn, _ = srv.accept()
        digest = hashlib.sha256()
        size = 0
        with conn:
            conn.settimeout(60)
            while chunk := conn.recv(65536):
                digest.update(chunk)
                size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def send(server: tuple[str, int], nbytes: int) -> dict[str, object]:
    """Send *nbytes* pseudo-random bytes; their size and digest."""
    data = random.Random(nbytes).randbytes(nbytes)
    with socket.create_connection(server, timeout=60) as conn:
        conn.sendall(data)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def main(argv: list[str] | None = None) -> int:
    """Command line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("rtt", "burst", "sink", "send"))
    parser.add_argument("--server", type=_addr)
    parser.add_argument("--listen", type=_addr)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--bytes", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.mode == "rtt":
        result = rtt(args.server, args.count)
    elif args.mode == "burst":
        result = burst(args.server, args.count)
    elif args.mode == "sink":
        result = sink(args.listen)
    else:
        result = send(args.server, args.bytes)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
