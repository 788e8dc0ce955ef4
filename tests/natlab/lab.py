"""The NAT lab topology: a public segment, a server, two NATed sides.

::

    host-a --[link-a]-- router-a ==\\                     /== router-b --[link-b]-- host-b
     192.168.1.2       .1 | 203.0.113.11  server (bridge)  198.51.100.12 | .1    192.168.2.2
                                           203.0.113.10
                                           198.51.100.10

* The server namespace holds the public segment (a bridge) and two addresses,
  one per TEST-NET range (RFC 5737), so the probe and STUN see two server
  addresses; both ranges are on-link for every public interface.
* Each side is a host behind a NAT router (nftables, see :mod:`nat`), or, for
  ``NatType.NONE``, a host directly on the public segment with a public address.
* ``[link-x]`` is a plain veth, or, when the side has an impairment, a small
  namespace whose userspace bridge (:mod:`impair`) adds loss, delay and jitter
  (this kernel has no ``sch_netem``).

Build with :func:`build_lab` (a context manager); :meth:`Lab.verify` probes
the NAT behaviour of both sides, and :func:`build_lab` calls it before yielding,
so a wrong lab fails loudly.  Everything is torn down by name and PID on exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import IO

from tests.natlab.nat import (
    NatType,
    flush_state_commands,
    host_firewall,
    remap_commands,
    router_ruleset,
)
from tests.natlab.netns import LabError, Namespace, ProcessGroup, delete_namespaces, run
from tests.natlab.turnd import HELPER as STUN_HELPER
from tests.natlab.turnd import TurnServer, start_turnserver

__all__ = [
    "PROBE_PORTS",
    "SERVER_ADDRS",
    "Impairment",
    "Lab",
    "Side",
    "SideSpec",
    "build_lab",
]

log = logging.getLogger(__name__)

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_SCRIPT = os.path.join(HERE, "probe.py")
IMPAIR_SCRIPT = os.path.join(HERE, "impair.py")

SERVER_ADDRS = ("203.0.113.10", "198.51.100.10")
PUBLIC_NETS = ("203.0.113.0/24", "198.51.100.0/24")
PROBE_PORTS = (3490, 3491)  # clear of coturn's 3478/5349 and its relay range
_START_BOUND = 10.0  # seconds a lab helper process has to print "ready"


@dataclasses.dataclass(frozen=True)
class Impairment:
    """Link impairment of a side's access link, applied in each direction."""

    loss: float = 0.0  # probability a packet is dropped, 0..1
    delay: float = 0.0  # seconds added to every packet
    jitter: float = 0.0  # seconds: delay varies uniformly in [delay - jitter, delay + jitter]
    seed: int | None = None  # for a reproducible loss/jitter pattern

    def command(self) -> str:
        """The control line the impairment process understands."""
        seed = "" if self.seed is None else f" seed={self.seed}"
        return f"set loss={self.loss} delay={self.delay} jitter={self.jitter}{seed}"


@dataclasses.dataclass(frozen=True)
class SideSpec:
    """What one side of the lab should be."""

    nat: NatType
    udp_blocked: bool = False
    impairment: Impairment | None = None


@dataclasses.dataclass
class Side:
    """One built side: a host, maybe a router and an impairment link."""

    label: str  # "a" or "b"
    spec: SideSpec
    host: Namespace
    host_addr: str  # the host's own address (private behind a NAT)
    public_addr: str  # the router's public address, or the host's own for "none"
    router: Namespace | None = None
    link: Namespace | None = None
    impairer: subprocess.Popen[bytes] | None = None
    probe_result: dict[str, object] | None = None

    @property
    def nat(self) -> NatType:
        """The side's NAT behaviour."""
        return self.spec.nat


class Lab:
    """A built lab; use :func:`build_lab` rather than constructing it directly."""

    def __init__(self, specs: Sequence[SideSpec]) -> None:
        if len(specs) != 2:
            raise ValueError("the lab has exactly two sides")
        self.specs = tuple(specs)
        self.run_id = f"ik{secrets.token_hex(3)}p{os.getpid()}"
        self.server = Namespace(f"{self.run_id}-s")
        self.server_addrs = SERVER_ADDRS
        self.sides: list[Side] = []
        self.processes = ProcessGroup()
        self.namespaces: list[Namespace] = [self.server]
        self.setup_seconds = 0.0
        self.workdir = tempfile.mkdtemp(prefix="icekit-natlab-")
        self.turn: TurnServer | None = None

    # -- building -----------------------------------------------------------

    def build(self) -> None:
        """Create namespaces, links, addresses and rules (not yet verified)."""
        started = time.monotonic()
        for label, spec, plan in zip("ab", self.specs, _PLANS):
            host = Namespace(f"{self.run_id}-h{label}")
            if spec.nat.translates:
                side = Side(label, spec, host, plan["lan_host"], plan["public"])
            else:
                side = Side(label, spec, host, plan["host"], plan["host"])
            self.namespaces.append(host)
            if spec.nat.translates:
                side.router = Namespace(f"{self.run_id}-r{label}")
                self.namespaces.append(side.router)
            if spec.impairment is not None:
                side.link = Namespace(f"{self.run_id}-l{label}")
                self.namespaces.append(side.link)
            self.sides.append(side)
        root = [f"netns add {ns.name}" for ns in self.namespaces]
        root += self._veth_lines()
        run(["ip", "-batch", "-"], stdin="\n".join(root) + "\n")
        self._configure_server()
        for side, plan in zip(self.sides, _PLANS):
            self._configure_side(side, plan)
        self.setup_seconds = time.monotonic() - started

    def _veth_lines(self) -> list[str]:
        """``ip`` batch lines creating every veth pair, ends placed in namespaces."""
        lines = []
        for side in self.sides:
            # Uplink: router "pub" <-> bridge port "up-x".  Access link: host
            # "eth0" <-> router "lan" (for "none": straight to the bridge port),
            # through the link namespace's two ends when impaired.
            if side.router is not None:
                lines.append(_veth(side.router, "pub", self.server, f"up-{side.label}"))
                near, near_dev = side.router, "lan"
            else:
                near, near_dev = self.server, f"up-{side.label}"
            if side.link is None:
                lines.append(_veth(side.host, "eth0", near, near_dev))
            else:
                lines.append(_veth(side.host, "eth0", side.link, _LINK_DEVS[0], nooffload=True))
                lines.append(_veth(side.link, _LINK_DEVS[1], near, near_dev, nooffload=True))
        return lines

    def _configure_server(self) -> None:
        lines = ["link set lo up", "link add pub type bridge", "link set pub up"]
        lines += [f"addr add {addr}/24 dev pub" for addr in self.server_addrs]
        lines += [f"link set up-{s.label} master pub" for s in self.sides]
        lines += [f"link set up-{s.label} up" for s in self.sides]
        self.server.ip_batch(lines)
        self.server.sysctl(*_NO_IPV6)
        self._start_probe_server()

    def _configure_side(self, side: Side, plan: dict[str, str]) -> None:
        host_lines = ["link set lo up", "link set eth0 up"]
        if side.router is not None:
            lan_prefix = plan["lan_prefix"]
            host_lines += [
                f"addr add {side.host_addr}/{lan_prefix} dev eth0",
                f"route add default via {plan['lan_router']}",
            ]
            router_lines = [
                "link set lo up",
                "link set lan up",
                "link set pub up",
                f"addr add {plan['lan_router']}/{lan_prefix} dev lan",
                f"addr add {side.public_addr}/24 dev pub",
                f"route add {plan['other_net']} dev pub",
            ]
            side.router.ip_batch(router_lines)
            side.router.sysctl("net.ipv4.ip_forward=1", *_NO_IPV6)
            side.router.nft(
                router_ruleset(side.nat, pub="pub", lan="lan", udp_blocked=side.spec.udp_blocked)
            )
        else:
            host_lines += [
                f"addr add {side.host_addr}/24 dev eth0",
                f"route add {plan['other_net']} dev eth0",
            ]
            if side.spec.udp_blocked:
                side.host.nft(host_firewall("eth0"))
        side.host.ip_batch(host_lines)
        side.host.sysctl(*_NO_IPV6)
        if side.link is not None:
            side.link.ip_batch(
                [f"link set {dev} {state}" for state in ("promisc on", "up") for dev in _LINK_DEVS]
            )
            side.link.sysctl(*_NO_IPV6)
            side.impairer = self.start(
                side.link, [sys.executable, IMPAIR_SCRIPT, *_LINK_DEVS], stdin=True
            )
            self._wait_ready(side.impairer, "impairment link")

    def _start_probe_server(self) -> None:
        argv = [sys.executable, PROBE_SCRIPT, "serve"]
        for addr in self.server_addrs:
            argv += ["--addr", addr]
        for port in PROBE_PORTS:
            argv += ["--port", str(port)]
        self._wait_ready(self.start(self.server, argv), "probe server")

    # -- processes ----------------------------------------------------------

    def start(
        self,
        ns: Namespace,
        argv: Sequence[str],
        *,
        stdin: bool = False,
        stderr: int | IO[bytes] | None = subprocess.PIPE,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start *argv* inside *ns*; the lab stops it (by PID) at teardown.

        Helpers that import icekit get the icekit this process sees (a source
        checkout may sit next to an installed copy).
        """
        env = dict(os.environ if env is None else env)
        spec = importlib.util.find_spec("icekit")
        if spec is not None and spec.origin:
            src = os.path.dirname(os.path.dirname(spec.origin))
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
        proc = subprocess.Popen(
            ns.argv(*argv),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        return self.processes.add(proc)

    @staticmethod
    def _wait_ready(proc: subprocess.Popen[bytes], what: str) -> None:
        """Block until *proc* prints ``ready`` (bounded), else raise."""
        assert proc.stdout is not None
        import selectors

        deadline = time.monotonic() + _START_BOUND
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(deadline - time.monotonic()):
                    break
                line = proc.stdout.readline()
                if not line:
                    break
                if line.strip() == b"ready":
                    return
        err = b""
        if proc.poll() is not None and proc.stderr is not None:
            err = proc.stderr.read()
        raise LabError(f"{what} did not start: {err.decode(errors='replace').strip()}")

    # -- probing ------------------------------------------------------------

    def probe(self, side: Side, attempts: int = 6) -> dict[str, object]:
        """Run the NAT probe on *side*'s host; return its observations."""
        return self.probe_many([side], attempts)[0]

    def _probe_argv(self, mode: str, *extra: str) -> list[str]:
        argv = [sys.executable, PROBE_SCRIPT, mode, *extra]
        for addr in self.server_addrs:
            argv += ["--addr", addr]
        for port in PROBE_PORTS:
            argv += ["--port", str(port)]
        return argv

    def finish(self, proc: subprocess.Popen[bytes], stdin: bytes | None = None) -> str:
        """Wait (bounded) for a helper to exit; return its stdout or raise."""
        try:
            out, err = proc.communicate(stdin, timeout=60)
        finally:
            self.processes.stop(proc)
            self.processes.procs.remove(proc)
        if proc.returncode != 0:
            raise LabError(f"lab helper failed: {err.decode(errors='replace').strip()}")
        return out.decode()

    def probe_many(self, sides: Sequence[Side], attempts: int = 6) -> list[dict[str, object]]:
        """Probe several sides concurrently (each in its own process)."""
        procs = [self.start(s.host, self._probe_argv("client", "--attempts", str(attempts))) for s in sides]
        return [json.loads(self.finish(proc)) for proc in procs]

    def punch(self, budget: float = 2.0) -> tuple[bool, bool]:
        """Try plain UDP hole punching between the two hosts.

        Returns whether each side completed (received from and was
        acknowledged by the other): the lab's own answer to "is there a
        direct path", independent of any ICE implementation.
        """
        argv = self._probe_argv("punch", "--budget", str(budget))
        procs = [self.start(side.host, argv, stdin=True) for side in self.sides]
        mapped = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise LabError("punch helper exited early")
            addr = json.loads(line)["mapped"]
            if addr is None:
                raise LabError("punch helper got no mapped address")
            mapped.append(addr)
        for proc, peer in zip(procs, reversed(mapped)):
            assert proc.stdin is not None
            proc.stdin.write(f"{peer[0]} {peer[1]}\n".encode())
            proc.stdin.flush()
        outs = [self.finish(proc) for proc in procs]
        a_ok, b_ok = (bool(json.loads(out.splitlines()[-1])["ok"]) for out in outs)
        return a_ok, b_ok

    def verify(self) -> None:
        """Probe both sides; raise :class:`LabError` unless each is what was built."""
        results = self.probe_many(self.sides, attempts=1 if self._any_udp_blocked else 6)
        problems = []
        for side, result in zip(self.sides, results):
            side.probe_result = result
            problems += [f"side {side.label} ({side.nat}): {p}" for p in expected_problems(side, result)]
        if problems:
            raise LabError("the lab is not what was built:\n" + "\n".join(problems))

    @property
    def _any_udp_blocked(self) -> bool:
        return any(s.spec.udp_blocked for s in self.sides)

    # -- STUN / TURN --------------------------------------------------------

    def start_turn(self) -> TurnServer:
        """Start coturn on the server's lab addresses (once); return it."""
        if self.turn is None:
            workdir = os.path.join(self.workdir, "turn")
            os.mkdir(workdir)
            self.turn = start_turnserver(self.server, self.server_addrs, self.processes, workdir)
        return self.turn

    def stun_client(self, side: Side, *args: str) -> dict[str, object]:
        """Run the STUN/TURN client helper on *side*'s host; return its JSON."""
        proc = self.start(side.host, [sys.executable, STUN_HELPER, *args])
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            self.processes.stop(proc)
            self.processes.procs.remove(proc)
        if not out.strip():
            raise LabError(f"STUN helper failed: {err.decode(errors='replace').strip()}")
        result: dict[str, object] = json.loads(out)
        return result

    def stun_binding(self, side: Side, transport: str = "udp") -> dict[str, object]:
        """Binding requests from one socket of *side* to coturn on both addresses."""
        turn = self.start_turn()
        port = turn.tls_port if transport == "tls" else turn.port
        args = ["binding", "--transport", transport, "--cafile", turn.cert_file]
        for addr in turn.addrs:
            args += ["--server", f"{addr}:{port}"]
        return self.stun_client(side, *args)

    def turn_allocate(self, side: Side, transport: str = "udp") -> dict[str, object]:
        """One authenticated TURN Allocate from *side* over *transport*."""
        turn = self.start_turn()
        port = turn.tls_port if transport == "tls" else turn.port
        return self.stun_client(
            side, "allocate", "--transport", transport, "--cafile", turn.cert_file,
            "--server", f"{turn.addrs[0]}:{port}",
            "--user", turn.username, "--password", turn.password,
        )

    # -- scenario controls --------------------------------------------------

    def set_impairment(self, side: Side, impairment: Impairment) -> None:
        """Change a side's link impairment now (the side must have a link)."""
        proc = side.impairer
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise LabError(f"side {side.label} was built without an impairment link")
        proc.stdin.write(impairment.command().encode() + b"\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != b"ok":
            raise LabError("the impairment process refused the setting")

    def link_stats(self, side: Side) -> dict[str, int]:
        """Counters of a side's impairment link (forwarded, dropped, delayed...)."""
        proc = side.impairer
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise LabError(f"side {side.label} was built without an impairment link")
        proc.stdin.write(b"stats\n")
        proc.stdin.flush()
        stats: dict[str, int] = json.loads(proc.stdout.readline())
        return stats

    def flush_nat(self, side: Side) -> None:
        """Forget every mapping of a side's NAT (conntrack and learned maps).

        The next outbound packet makes a new mapping; masquerade keeps the
        host's port when free, so it usually comes back the same.
        """
        if side.router is None:
            return
        side.router.nft(flush_state_commands())
        self._flush_conntrack(side.router)

    def remap_nat(self, side: Side) -> None:
        """Expire every mapping and make new ones use other ports (a NAT reboot)."""
        if side.router is None:
            raise LabError("a 'none' side has no NAT to remap")
        side.router.nft(remap_commands("pub"))
        self._flush_conntrack(side.router)

    @staticmethod
    def _flush_conntrack(router: Namespace) -> None:
        if shutil.which("conntrack") is None:
            raise LabError("flushing NAT mappings needs `conntrack` (Debian package conntrack)")
        router.run("conntrack", "-F")

    # -- teardown -----------------------------------------------------------

    def close(self) -> None:
        """Stop every process (by PID) and delete every namespace (by name)."""
        try:
            self.processes.stop_all()
        finally:
            delete_namespaces([ns.name for ns in reversed(self.namespaces)])
            shutil.rmtree(self.workdir, ignore_errors=True)


def expected_problems(side: Side, result: dict[str, object]) -> list[str]:
    """How a probe result differs from what *side* should be (empty: all good)."""
    problems = []
    if side.spec.udp_blocked:
        if result.get("udp"):
            problems.append("UDP passes but should be blocked")
        if not result.get("tcp"):
            problems.append("TCP does not pass")
        return problems
    if not result.get("udp"):
        return [f"no UDP answer from the server: {result}"]
    if result.get("mapping") != side.nat.mapping.value:
        problems.append(f"mapping {result.get('mapping')}, expected {side.nat.mapping}")
    if result.get("filtering") != side.nat.filtering.value:
        problems.append(f"filtering {result.get('filtering')}, expected {side.nat.filtering}")
    mapped = result.get("mapped")
    if side.nat.translates:
        if result.get("nat") is not True:
            problems.append("no address translation observed")
        if isinstance(mapped, list) and mapped and mapped[0] and mapped[0][0] != side.public_addr:
            problems.append(f"mapped to {mapped[0]}, expected the router's {side.public_addr}")
    elif result.get("nat") is not False:
        problems.append(f"translation observed on a 'none' side: {mapped}")
    if not result.get("tcp"):
        problems.append("TCP does not pass")
    return problems


def _veth(ns1: Namespace, dev1: str, ns2: Namespace, dev2: str, nooffload: bool = False) -> str:
    # The impairment bridge forwards frames one by one: no multi-segment (GSO) frames.
    opts = " gso_max_segs 1" if nooffload else ""
    return f"link add {dev1} netns {ns1.name}{opts} type veth peer name {dev2} netns {ns2.name}{opts}"


# The impairment namespace's two ends: toward the host, toward the network.
# (Not "h"/"u": ip(8) reads an "h" argument as "help".)
_LINK_DEVS = ("tohost", "tonet")
_NO_IPV6 = ("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")

_PLANS: tuple[dict[str, str], dict[str, str]] = (
    {
        "public": "203.0.113.11",  # router a, or host a itself for "none"
        "host": "203.0.113.21",
        "other_net": PUBLIC_NETS[1],
        "lan_host": "192.168.1.2",
        "lan_router": "192.168.1.1",
        "lan_prefix": "24",
    },
    {
        "public": "198.51.100.12",
        "host": "198.51.100.22",
        "other_net": PUBLIC_NETS[0],
        "lan_host": "192.168.2.2",
        "lan_router": "192.168.2.1",
        "lan_prefix": "24",
    },
)


@contextlib.contextmanager
def build_lab(
    a: SideSpec | NatType, b: SideSpec | NatType, *, verify: bool = True, turn: bool = False
) -> Iterator[Lab]:
    """Build a verified two-sided lab for the ``with`` block, then tear it down.

    With *turn*, coturn runs in the server namespace (``lab.turn``).
    """
    specs = [s if isinstance(s, SideSpec) else SideSpec(s) for s in (a, b)]
    lab = Lab(specs)
    try:
        lab.build()
        if verify:
            lab.verify()
        if turn:
            lab.start_turn()
        for side in lab.sides:
            if side.spec.impairment is not None:
                lab.set_impairment(side, side.spec.impairment)
        yield lab
    finally:
        lab.close()
