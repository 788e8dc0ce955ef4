"""STUN/TURN client helper run inside lab namespaces (uses ``icekit.stun``).

``ip netns exec <ns> python3 stun_client.py MODE ...``; prints one JSON line.

* ``binding --server A:P [--server B:P] [--transport udp|tcp|tls]``: one local
  socket (UDP) or one connection per server (TCP/TLS) sends a Binding request
  to each server; prints the XOR-MAPPED-ADDRESS of each (RFC 8489 §14.2).
* ``allocate --server A:P --transport udp|tcp|tls --user U --password P``: a
  TURN Allocate with the long-term credential mechanism (RFC 8656 §7.1,
  RFC 8489 §9.2); prints the relayed and mapped addresses.
* ``relay-pair --server A:P --user U --password P``: two allocations send to
  each other through the server (the symmetric-vs-symmetric path);
* ``wait --server A:P [...] [--tls-port N]``: returns once every server answers
  a UDP Binding and the TLS port accepts (bounded), for coturn's readiness.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
import time
from typing import Any

from icekit.stun import Attr, Message, MessageClass, Method, long_term_key

ATTEMPT_TIMEOUT = 0.5  # seconds per UDP attempt; retransmission as RFC 8489 §6.2.1, shortened
WAIT_BOUND = 20.0  # seconds coturn gets to come up


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host, int(port))


class Channel:
    """One transport to one server: UDP datagrams or a TCP/TLS byte stream."""

    def __init__(self, transport: str, server: tuple[str, int], cafile: str | None,
                 udp: socket.socket | None = None) -> None:
        self.transport = transport
        self.server = server
        self.buffer = b""
        if transport == "udp":
            self.sock = udp or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            raw = socket.create_connection(server, timeout=5.0)
            if transport == "tls":
                ctx = ssl.create_default_context(cafile=cafile)
                if cafile is None:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                raw = ctx.wrap_socket(raw, server_hostname=server[0])
            self.sock = raw

    def transact(self, request: Message, key: bytes | None = None, attempts: int = 6,
                 timeout: float = ATTEMPT_TIMEOUT) -> Message:
        """Send *request*, return the response with the same transaction id."""
        data = request.encode(integrity_key=key, fingerprint=True)
        for _ in range(attempts if self.transport == "udp" else 1):
            if self.transport == "udp":
                self.sock.sendto(data, self.server)
            else:
                self.sock.sendall(data)
            deadline = time.monotonic() + (timeout if self.transport == "udp" else 5.0)
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    raw = self._receive()
                except TimeoutError:
                    break
                msg = Message.decode(raw)
                if msg.transaction_id == request.transaction_id:
                    return msg
        raise TimeoutError(f"no answer from {self.server} over {self.transport}")

    def _receive(self) -> bytes:
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(4096)
            return data
        # STUN over a stream: messages back to back, length in the header (RFC 8489 §6.2.2).
        while True:
            if len(self.buffer) >= 20:
                size = 20 + int.from_bytes(self.buffer[2:4], "big")
                if len(self.buffer) >= size:
                    msg, self.buffer = self.buffer[:size], self.buffer[size:]
                    return msg
            chunk = self.sock.recv(4096)
            if not chunk:
                raise TimeoutError("connection closed")
            self.buffer += chunk

    def close(self) -> None:
        """Close the connection (a shared UDP socket is closed by its owner)."""
        if self.transport != "udp":
            self.sock.close()


def binding(servers: list[tuple[str, int]], transport: str, cafile: str | None,
            timeout: float = ATTEMPT_TIMEOUT) -> dict[str, Any]:
    """Mapped address seen by each server (one shared socket for UDP)."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if transport == "udp" else None
    if udp is not None:
        udp.bind(("0.0.0.0", 0))
    mapped = []
    try:
        for server in servers:
            chan = Channel(transport, server, cafile, udp)
            try:
                request = Message(Method.BINDING, MessageClass.REQUEST)
                resp = chan.transact(request, timeout=timeout)
                value = resp.get(Attr.XOR_MAPPED_ADDRESS)
                mapped.append(list(value) if value else None)
            finally:
                chan.close()
    finally:
        if udp is not None:
            udp.close()
    return {"mapped": mapped}


def allocate(server: tuple[str, int], transport: str, user: str, password: str,
             cafile: str | None) -> dict[str, Any]:
    """One authenticated TURN Allocate; the relayed and mapped addresses."""
    chan = Channel(transport, server, cafile)
    try:
        first = Message(Method.ALLOCATE, MessageClass.REQUEST)
        first.add(Attr.REQUESTED_TRANSPORT, 17)  # UDP relaying, RFC 8656 §7.1
        challenge = chan.transact(first)
        if challenge.msg_class != MessageClass.ERROR:
            return {"error": "allocate without credentials succeeded"}
        realm, nonce = challenge.get(Attr.REALM), challenge.get(Attr.NONCE)
        second = Message(Method.ALLOCATE, MessageClass.REQUEST)
        second.add(Attr.REQUESTED_TRANSPORT, 17)
        second.add(Attr.USERNAME, user)
        second.add(Attr.REALM, realm)
        second.add(Attr.NONCE, nonce)
        resp = chan.transact(second, key=long_term_key(user, realm, password))
        if resp.msg_class != MessageClass.SUCCESS:
            return {"error": list(resp.get(Attr.ERROR_CODE) or ())}
        relayed = resp.get(Attr.XOR_RELAYED_ADDRESS)
        mapped = resp.get(Attr.XOR_MAPPED_ADDRESS)
        return {"relayed": list(relayed) if relayed else None,
                "mapped": list(mapped) if mapped else None}
    finally:
        chan.close()


class Allocation:
    """An authenticated TURN allocation (UDP to the server) for relay tests."""

    def __init__(self, server: tuple[str, int], user: str, password: str) -> None:
        self.chan = Channel("udp", server, None)
        self.chan.sock.bind(("0.0.0.0", 0))
        self.user = user
        first = Message(Method.ALLOCATE, MessageClass.REQUEST)
        first.add(Attr.REQUESTED_TRANSPORT, 17)
        challenge = self.chan.transact(first)
        self.realm, self.nonce = challenge.get(Attr.REALM), challenge.get(Attr.NONCE)
        self.key = long_term_key(user, self.realm, password)
        resp = self.request(Method.ALLOCATE, [(Attr.REQUESTED_TRANSPORT, 17)])
        self.relayed: tuple[str, int] = resp.get(Attr.XOR_RELAYED_ADDRESS)

    def request(self, method: int, attrs: list[tuple[int, Any]]) -> Message:
        """An authenticated request; raises ``OSError`` on an error response."""
        msg = Message(method, MessageClass.REQUEST)
        for attr, value in attrs:
            msg.add(attr, value)
        msg.add(Attr.USERNAME, self.user)
        msg.add(Attr.REALM, self.realm)
        msg.add(Attr.NONCE, self.nonce)
        resp = self.chan.transact(msg, key=self.key)
        if resp.msg_class != MessageClass.SUCCESS:
            raise OSError(f"TURN method 0x{method:03x} failed: {resp.get(Attr.ERROR_CODE)}")
        return resp

    def send_to(self, peer: tuple[str, int], data: bytes) -> None:
        """A Send indication toward *peer* (RFC 8656 §11.2)."""
        ind = Message(Method.SEND, MessageClass.INDICATION)
        ind.add(Attr.XOR_PEER_ADDRESS, peer)
        ind.add(Attr.DATA, data)
        self.chan.sock.sendto(ind.encode(), self.chan.server)

    def receive(self, timeout: float = 2.0) -> tuple[tuple[str, int], bytes]:
        """The next Data indication: (peer, data)."""
        self.chan.sock.settimeout(timeout)
        while True:
            msg = Message.decode(self.chan.sock.recv(4096))
            if msg.method == Method.DATA:
                return msg.get(Attr.XOR_PEER_ADDRESS), msg.get(Attr.DATA)


def relay_pair(server: tuple[str, int], user: str, password: str) -> dict[str, Any]:
    """Two allocations relay to each other through the same server (as two
    symmetric-NAT peers do): permissions both ways, then data both ways."""
    a, b = Allocation(server, user, password), Allocation(server, user, password)
    try:
        a.request(Method.CREATE_PERMISSION, [(Attr.XOR_PEER_ADDRESS, b.relayed)])
        b.request(Method.CREATE_PERMISSION, [(Attr.XOR_PEER_ADDRESS, a.relayed)])
        a.send_to(b.relayed, b"a-to-b")
        got_b = b.receive()
        b.send_to(a.relayed, b"b-to-a")
        got_a = a.receive()
    finally:
        a.chan.sock.close()
        b.chan.sock.close()
    return {
        "relays": [list(a.relayed), list(b.relayed)],
        "b_got": [list(got_b[0]), got_b[1].decode()],
        "a_got": [list(got_a[0]), got_a[1].decode()],
    }


def wait(servers: list[tuple[str, int]], tls_port: int | None) -> None:
    """Return once every server answers; raise ``TimeoutError`` after a bound."""
    deadline = time.monotonic() + WAIT_BOUND
    pending = list(servers)
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Binding answer from {pending}")
        try:
            binding([pending[0]], "udp", None, timeout=0.05)
            pending.pop(0)
        except (TimeoutError, OSError):
            continue  # each attempt waits for an answer (bounded): no busy loop
    while tls_port is not None:
        try:
            socket.create_connection((servers[0][0], tls_port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            # Refused at once while coturn starts its TLS listener: wait on a
            # Binding round trip as the pacing event instead of sleeping.
            binding([servers[0]], "udp", None)


def main(argv: list[str] | None = None) -> int:
    """Command line entry (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("binding", "allocate", "relay-pair", "wait"))
    parser.add_argument("--server", action="append", required=True, type=_addr)
    parser.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp")
    parser.add_argument("--cafile")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--tls-port", type=int)
    args = parser.parse_args(argv)
    try:
        if args.mode == "binding":
            result = binding(args.server, args.transport, args.cafile)
        elif args.mode == "allocate":
            result = allocate(args.server[0], args.transport, args.user, args.password, args.cafile)
        elif args.mode == "relay-pair":
            result = relay_pair(args.server[0], args.user, args.password)
        else:
            wait(args.server, args.tls_port)
            result = {"ready": True}
    except (OSError, TimeoutError) as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
