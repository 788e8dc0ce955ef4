"""Start and stop a real coturn ``turnserver`` for the tests.

The server listens on 127.0.0.1 only: UDP and TCP on one free port, TLS on
another, with a static long-term user, a realm, loopback peers allowed and
every file it writes (configuration, certificate, log, pid file, user
database) kept in a private temporary directory.

Use :func:`start_coturn` as a context manager, or the ``coturn`` pytest
fixture from ``tests/turn/conftest.py`` (other test packages can import
:func:`coturn_server` from here and wrap it in their own fixture).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from icekit.asyncio.servers import RelayOptions, TlsOptions
from icekit.turn import TurnClientConfig

__all__ = [
    "CoturnServer",
    "CoturnUnavailable",
    "coturn_server",
    "find_turnserver",
    "free_port",
    "start_coturn",
]

USERNAME = "icekit"
PASSWORD = "icekit-secret"
REALM = "icekit.test"

_MAGIC_COOKIE = 0x2112A442
# Bounded waits: starting coturn takes ~100 ms on an idle machine; stopping is
# immediate on SIGTERM.  The bounds only guard against a wedged process.
_START_BOUND = 20.0
_STOP_BOUND = 5.0


class CoturnUnavailable(Exception):
    """``turnserver`` or ``openssl`` is not installed (tests are skipped)."""


@dataclasses.dataclass(frozen=True)
class CoturnServer:
    """A running coturn server (all addresses are on 127.0.0.1)."""

    host: str
    port: int  # UDP and TCP
    tls_port: int  # TLS
    username: str
    password: str
    realm: str
    cert_file: str  # the self-signed certificate (PEM), usable as a CA file
    log_file: str
    pid: int

    @property
    def ports(self) -> dict[str, int]:
        """Ports by transport: ``{"udp": p, "tcp": p, "tls": t}``."""
        return {"udp": self.port, "tcp": self.port, "tls": self.tls_port}

    def url(self, transport: str = "udp", scheme: str | None = None) -> str:
        """A ``turn:``/``turns:`` URL for this server and *transport*."""
        if transport == "tls":
            return f"{scheme or 'turns'}:{self.host}:{self.tls_port}?transport=tcp"
        return f"{scheme or 'turn'}:{self.host}:{self.port}?transport={transport}"

    def read_log(self) -> str:
        """The server log so far (for assertion messages)."""
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def __iter__(self) -> Iterator[object]:
        # Lets tests unpack ``host, ports, username, password, realm = server``.
        return iter((self.host, self.ports, self.username, self.password, self.realm))


def find_turnserver() -> str:
    """Path of the ``turnserver`` binary, or raise :class:`CoturnUnavailable`."""
    for candidate in (
        shutil.which("turnserver"),
        "/usr/bin/turnserver",
        "/usr/sbin/turnserver",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise CoturnUnavailable("turnserver (Debian package coturn) is not installed")


def free_port(host: str = "127.0.0.1", exclude: tuple[int, ...] = ()) -> int:
    """A port free for both UDP and TCP on *host* (and not the ports excluded)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            if port in exclude or port + 1 in exclude or port - 1 in exclude:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port found")


def _make_certificate(directory: str) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CoturnUnavailable("openssl is not installed")
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    return cert, key


def _binding_answered(host: str, port: int, timeout: float) -> bool:
    """Send one STUN Binding request; True if a matching response comes back."""
    tid = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, _MAGIC_COOKIE) + tid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, (host, port))
            data = sock.recv(2048)
        except OSError:  # timeout, or ICMP port unreachable before coturn binds
            return False
    return len(data) >= 20 and data[0:2] == b"\x01\x01" and data[8:20] == tid


def _tcp_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a bound; always reaps the process."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=_STOP_BOUND)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=_STOP_BOUND)
    except ProcessLookupError:
        proc.wait(timeout=_STOP_BOUND)


@contextlib.contextmanager
def start_coturn(
    *,
    max_allocate_lifetime: int | None = None,
    permission_lifetime: int | None = None,
    channel_lifetime: int | None = None,
    stale_nonce: int | None = None,
    alternate_server: str | None = None,
    tls: bool = True,
    ipv6: bool = False,
    extra_args: tuple[str, ...] = (),
    host: str = "127.0.0.1",
) -> Iterator[CoturnServer]:
    """Run a coturn server on 127.0.0.1 for the duration of the ``with`` block.

    The lifetimes (seconds) shorten coturn's allocation, permission and
    channel lifetimes for refresh tests; *stale_nonce* makes nonces expire
    after that many seconds.  *ipv6* also listens and relays on ``::1``
    (IPv6 relayed addresses, RFC 8656 §7.2 REQUESTED-ADDRESS-FAMILY).
    *extra_args* go on the command line after ``-c <config file>``.  *host*
    replaces 127.0.0.1 as the listening and relay address (an address of a
    network namespace the test made itself; TLS keeps a 127.0.0.1
    certificate).  Raises
    :class:`CoturnUnavailable` when coturn (or openssl, when *tls*) is
    missing.
    """
    binary = find_turnserver()
    workdir = tempfile.mkdtemp(prefix="icekit-coturn-")
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = free_port(host)
        # coturn may also use port+1 (RFC 5780 alternate port): keep TLS clear of it.
        tls_port = free_port(host, exclude=(port,))
        log_file = os.path.join(workdir, "turnserver.log")
        # The configuration file: one option per line, "name" or "name=value"
        # (the long command-line names without the dashes).
        options: list[tuple[str, str | None]] = [
            ("listening-ip", host),
            ("relay-ip", host),
            ("listening-port", str(port)),
            ("tls-listening-port", str(tls_port)),
            ("lt-cred-mech", None),
            ("user", f"{USERNAME}:{PASSWORD}"),
            ("realm", REALM),
            ("fingerprint", None),
            ("allow-loopback-peers", None),
            ("no-cli", None),
            ("no-dtls", None),
            ("no-rfc5780", None),
            ("no-tcp-relay", None),
            ("no-multicast-peers", None),
            ("relay-threads", "1"),
            # Every file coturn writes stays in the private directory.
            ("userdb", os.path.join(workdir, "turndb")),
            ("pidfile", os.path.join(workdir, "turnserver.pid")),
            ("log-file", log_file),
            ("simple-log", None),
            ("no-stdout-log", None),
            ("new-log-timestamp", None),
            ("verbose", None),
        ]
        cert = ""
        if tls:
            cert, key = _make_certificate(workdir)
            options += [("cert", cert), ("pkey", key)]
        else:
            options.append(("no-tls", None))
        if ipv6:
            options += [("listening-ip", "::1"), ("relay-ip", "::1")]
        for name, value in (
            ("max-allocate-lifetime", max_allocate_lifetime),
            ("permission-lifetime", permission_lifetime),
            ("channel-lifetime", channel_lifetime),
            ("stale-nonce", stale_nonce),
            ("alternate-server", alternate_server),
        ):
            if value is not None:
                options.append((name, str(value)))
        config_file = os.path.join(workdir, "turnserver.conf")
        with open(config_file, "w", encoding="utf-8") as fh:
            for name, value in options:
                fh.write(name if value is None else f"{name}={value}")
                fh.write("\n")
        args = [binary, "-c", config_file, *extra_args]
        proc = subprocess.Popen(
            args,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_BOUND
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"turnserver exited with {proc.returncode}; log in {log_file}"
                )
            if _binding_answered(host, port, 0.2) and (
                not tls or _tcp_accepts(host, tls_port)
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not answer within {_START_BOUND} s")
            # Pace the probes by waiting on the process itself (returns early if it dies).
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        yield CoturnServer(
            host=host,
            port=port,
            tls_port=tls_port,
            username=USERNAME,
            password=PASSWORD,
            realm=REALM,
            cert_file=cert,
            log_file=log_file,
            pid=proc.pid,
        )
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def coturn_server(**options: object) -> Iterator[CoturnServer]:
    """Like :func:`start_coturn`, but skips the current test if coturn is missing."""
    import pytest

    try:
        binary_ok = find_turnserver()
    except CoturnUnavailable as exc:
        pytest.skip(str(exc))
    del binary_ok
    with start_coturn(**options) as server:  # type: ignore[arg-type]
        yield server


def relay_options(*, cafile: str | None = None, verify: bool = True,
                  ssl_context: ssl.SSLContext | None = None, family: str | None = None,
                  timeout: float = 10.0, socket_id: int = -1, **client: Any) -> RelayOptions:
    """:class:`RelayOptions` from flat keywords (``client`` ones go to the
    :class:`~icekit.turn.TurnClientConfig`)."""
    tls = TlsOptions(cafile=cafile, verify=verify, ssl_context=ssl_context)
    return RelayOptions(family, timeout, tls, socket_id, TurnClientConfig("", "", **client))
