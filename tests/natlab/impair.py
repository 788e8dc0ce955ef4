"""Userspace link impairment for the NAT lab: loss, delay and jitter.

This kernel has no ``sch_netem`` (``tc qdisc add ... netem`` fails with
"unknown qdisc") and nftables lacks the ``queue`` statement, so the lab
impairs links in userspace: a namespace sits in the middle of a link with two
veth ends, and this script bridges them with two ``AF_PACKET`` sockets,
dropping and delaying IPv4 frames (ARP and the rest pass untouched and
immediately, so addresses keep resolving).  Being a layer-2 bridge, it is
invisible to the hosts, routers and NAT rules on either side.

A standalone script (standard library only)::

    ip netns exec <link-ns> python3 impair.py DEV_A DEV_B

It prints ``ready`` once both sockets are bound.  Control lines on stdin:

* ``set loss=0.1 delay=0.1 jitter=0.01 [seed=N]``: applies to both
  directions from now on (loss is a probability, times in seconds); answers ``ok``;
* ``stats``: answers one JSON line of counters.

It exits when stdin closes.  Frames whose TCP/UDP checksum the sender left to
offload (``TP_STATUS_CSUMNOTREADY``) get it computed here, since a frame
re-sent through a packet socket reaches the receiver as if from a wire.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import random
import select
import socket
import struct
import sys
import time
from typing import Any

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
TP_STATUS_CSUMNOTREADY = 1 << 3
_AUX = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def fix_checksum(frame: bytes) -> bytes:
    """Compute the TCP/UDP checksum of an IPv4 frame whose sender left it to offload."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ip = 14
    ihl = (frame[ip] & 0x0F) * 4
    proto = frame[ip + 9]
    total = struct.unpack_from("!H", frame, ip + 2)[0]
    offset = {6: 16, 17: 6}.get(proto)
    frag = struct.unpack_from("!H", frame, ip + 6)[0] & 0x3FFF
    if offset is None or frag or ip + total > len(frame):
        return frame
    l4 = ip + ihl
    seg = bytearray(frame[l4 : ip + total])
    if len(seg) < offset + 2:
        return frame
    seg[offset : offset + 2] = b"\x00\x00"
    pseudo = frame[ip + 12 : ip + 20] + struct.pack("!BBH", 0, proto, len(seg))
    csum = 0xFFFF - _ones_sum(pseudo + bytes(seg))
    if proto == 17 and csum == 0:
        csum = 0xFFFF  # RFC 768: zero means "no checksum"
    seg[offset : offset + 2] = struct.pack("!H", csum)
    return frame[:l4] + bytes(seg) + frame[ip + total :]


class Link:
    """Two bridged devices and the impairment between them."""

    def __init__(self, dev_a: str, dev_b: str) -> None:
        self.socks = [self._open(dev_a), self._open(dev_b)]
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        self.rng = random.Random()
        self.queue: list[tuple[float, int, int, bytes]] = []
        self.seq = itertools.count()
        self.stats = {"ipv4": 0, "forwarded": 0, "dropped": 0, "delayed": 0, "checksummed": 0}

    @staticmethod
    def _open(dev: str) -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass  # older kernels: frames we sent are skipped by their packet type below
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.bind((dev, ETH_P_ALL))
        sock.setblocking(False)
        return sock

    def configure(self, line: str) -> None:
        """Apply a ``set key=value ...`` control line."""
        for word in line.split()[1:]:
            key, _, value = word.partition("=")
            if key == "seed":
                self.rng.seed(int(value))
            elif key in ("loss", "delay", "jitter"):
                number = float(value)
                if number < 0 or (key == "loss" and number > 1):
                    raise ValueError(f"{key}={value} out of range")
                setattr(self, key, number)
            else:
                raise ValueError(f"unknown setting {key!r}")

    def receive(self, index: int, now: float) -> None:
        """Move every frame waiting on socket *index* toward the other side."""
        sock = self.socks[index]
        out = 1 - index
        while True:
            try:
                frame, anc, _flags, addr = sock.recvmsg(65600, socket.CMSG_SPACE(_AUX.size))
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            for level, kind, data in anc:
                if (
                    level == SOL_PACKET
                    and kind == PACKET_AUXDATA
                    and len(data) >= _AUX.size
                    and _AUX.unpack_from(data)[0] & TP_STATUS_CSUMNOTREADY
                ):
                    frame = fix_checksum(frame)
                    self.stats["checksummed"] += 1
            is_ip = frame[12:14] == b"\x08\x00"
            self.stats["ipv4"] += is_ip
            if is_ip and self.loss and self.rng.random() < self.loss:
                self.stats["dropped"] += 1
                continue
            wait = 0.0
            if is_ip and (self.delay or self.jitter):
                wait = max(0.0, self.delay + self.rng.uniform(-self.jitter, self.jitter))
            if wait <= 0:
                self._send(out, frame)
            else:
                self.stats["delayed"] += 1
                heapq.heappush(self.queue, (now + wait, next(self.seq), out, frame))

    def _send(self, index: int, frame: bytes) -> None:
        try:
            self.socks[index].send(frame)
            self.stats["forwarded"] += 1
        except OSError:
            self.stats["dropped"] += 1  # e.g. the far end is gone during teardown

    def release_due(self, now: float) -> None:
        """Send every delayed frame whose time has come."""
        while self.queue and self.queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(self.queue)
            self._send(out, frame)

    def next_timeout(self, now: float) -> float | None:
        """Seconds until the next delayed frame is due (``None``: nothing queued)."""
        return max(0.0, self.queue[0][0] - now) if self.queue else None


def main(argv: list[str]) -> int:
    """Bridge two devices until stdin closes."""
    if len(argv) != 2:
        print("usage: impair.py DEV_A DEV_B", file=sys.stderr)
        return 2
    link = Link(argv[0], argv[1])
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, True)
    print("ready", flush=True)
    buffered = b""
    while True:
        now = time.monotonic()
        readable, _, _ = select.select([*link.socks, stdin], [], [], link.next_timeout(now))
        now = time.monotonic()
        for index, sock in enumerate(link.socks):
            if sock in readable:
                link.receive(index, now)
        if stdin in readable:
            chunk = os.read(stdin, 4096)
            if not chunk:
                return 0
            buffered += chunk
            while b"\n" in buffered:
                raw, buffered = buffered.split(b"\n", 1)
                print(_control(link, raw.decode().strip()), flush=True)
        link.release_due(time.monotonic())


def _control(link: Link, line: str) -> str:
    try:
        if line.startswith("set"):
            link.configure(line)
            return "ok"
        if line == "stats":
            report: dict[str, Any] = dict(link.stats, queued=len(link.queue))
            return json.dumps(report)
    except ValueError as exc:
        return f"error {exc}"
    return f"error unknown command {line!r}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
