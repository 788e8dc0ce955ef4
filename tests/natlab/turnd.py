"""coturn inside the lab's server namespace: STUN and TURN on the lab addresses.

The loopback launcher of the TURN tests (``tests/turn/coturn.py``) binds
127.0.0.1 in the test's own namespace; the lab needs the server bound to its
two public addresses inside the server namespace, with lab peers allowed, so
it has this small launcher of its own.  The server listens on both lab
addresses: UDP and TCP on :data:`PORT`, TLS on :data:`TLS_PORT`; it relays on
the first address; credentials are static (long-term mechanism).  RFC 5780
NAT discovery is on: the two addresses and port + 1 (coturn's alternate
port) give OTHER-ADDRESS and honour CHANGE-REQUEST.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence

from tests.natlab.netns import LabError, Namespace, ProcessGroup

__all__ = ["PASSWORD", "PORT", "REALM", "TLS_PORT", "USERNAME", "TurnServer", "start_turnserver"]

USERNAME = "icekit"
PASSWORD = "icekit-lab-secret"
REALM = "lab.icekit.test"
PORT = 3478  # RFC 8489 §18.6 default, UDP and TCP
TLS_PORT = 5349  # RFC 8656 default for TURN over TLS
LAB_PEER_RANGES = ("203.0.113.0-203.0.113.255", "198.51.100.0-198.51.100.255")
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stun_client.py")


@dataclasses.dataclass(frozen=True)
class TurnServer:
    """A coturn server running in the lab's server namespace."""

    addrs: tuple[str, ...]
    port: int
    tls_port: int
    username: str
    password: str
    realm: str
    cert_file: str
    log_file: str
    pid: int

    def stun_urls(self) -> list[str]:
        """``stun:`` URLs, one per server address (RFC 7064)."""
        return [f"stun:{addr}:{self.port}" for addr in self.addrs]

    def turn_urls(self, transports: Sequence[str] = ("udp", "tcp", "tls")) -> list[str]:
        """``turn:``/``turns:`` URLs on the first address (RFC 7065)."""
        addr = self.addrs[0]
        urls = []
        for transport in transports:
            if transport == "tls":
                urls.append(f"turns:{addr}:{self.tls_port}?transport=tcp")
            else:
                urls.append(f"turn:{addr}:{self.port}?transport={transport}")
        return urls

    def read_log(self) -> str:
        """The server log so far (for assertion messages)."""
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""


def missing_turnserver() -> str | None:
    """Why coturn cannot run here, or ``None``."""
    if shutil.which("turnserver") is None:
        return "the NAT lab's TURN server needs `turnserver` (Debian package coturn)"
    if shutil.which("openssl") is None:
        return "the NAT lab's TURN server needs `openssl` for its TLS certificate"
    return None


def _certificate(workdir: str, addrs: Sequence[str]) -> tuple[str, str]:
    cert = os.path.join(workdir, "cert.pem")
    key = os.path.join(workdir, "key.pem")
    san = ",".join([f"IP:{a}" for a in addrs] + ["DNS:turn.lab.icekit.test"])
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=turn.lab.icekit.test",
            "-addext", f"subjectAltName={san}", "-keyout", key, "-out", cert,
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def start_turnserver(
    server: Namespace, addrs: Sequence[str], processes: ProcessGroup, workdir: str | None = None
) -> TurnServer:
    """Start coturn in *server* (tracked in *processes*) and wait until it answers."""
    reason = missing_turnserver()
    if reason is not None:
        raise LabError(reason)
    workdir = workdir or tempfile.mkdtemp(prefix="icekit-natlab-turn-")
    cert, key = _certificate(workdir, addrs)
    log_file = os.path.join(workdir, "turnserver.log")
    argv = ["turnserver", "-n"]
    for addr in addrs:
        argv += ["--listening-ip", addr]
    argv += [
        "--relay-ip", addrs[0],
        "--listening-port", str(PORT),
        "--tls-listening-port", str(TLS_PORT),
        "--lt-cred-mech",
        "--user", f"{USERNAME}:{PASSWORD}",
        "--realm", REALM,
        "--fingerprint",
        "--cert", cert,
        "--pkey", key,
        "--no-cli",
        "--no-dtls",
        "--no-multicast-peers",
        "--relay-threads", "1",
        "--userdb", os.path.join(workdir, "turndb"),
        "--pidfile", os.path.join(workdir, "turnserver.pid"),
        "--log-file", log_file,
        "--simple-log",
        "--no-stdout-log",
        "--verbose",
    ]
    for peers in LAB_PEER_RANGES:
        argv += ["--allowed-peer-ip", peers]
    proc = processes.add(
        subprocess.Popen(
            server.argv(*argv),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    )
    # Readiness, checked from inside the namespace: a Binding answered on each
    # address over UDP, and the TLS port accepting (bounded wait in the helper).
    check = [sys.executable, HELPER, "wait", "--tls-port", str(TLS_PORT)]
    for addr in addrs:
        check += ["--server", f"{addr}:{PORT}"]
    waiter = subprocess.run(
        server.argv(*check), check=False, capture_output=True, text=True, timeout=60
    )
    if waiter.returncode != 0 or proc.poll() is not None:
        raise LabError(f"coturn did not come up in the lab: {waiter.stderr.strip()}")
    return TurnServer(
        addrs=tuple(addrs),
        port=PORT,
        tls_port=TLS_PORT,
        username=USERNAME,
        password=PASSWORD,
        realm=REALM,
        cert_file=cert,
        log_file=log_file,
        pid=proc.pid,
    )
