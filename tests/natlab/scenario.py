"""Run two ICE agents in a lab and connect them (drives ``agent_runner.py``).

The test process is the signalling channel: it forwards each runner's
credentials and candidates, as they trickle out of its stdout, to the other
runner's stdin.  Every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import sys
import time
from typing import Any

from tests.natlab.lab import Lab, Side

__all__ = ["AgentProcess", "PairResult", "connect_pair", "is_relay", "turn_urls"]

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent_runner.py")


class AgentProcess:
    """One ``agent_runner.py`` process in a side's host namespace."""

    def __init__(self, lab: Lab, side: Side, argv: list[str]) -> None:
        env = dict(os.environ)
        if lab.turn is not None:
            env["SSL_CERT_FILE"] = lab.turn.cert_file  # trust the lab's TURN certificate
        self.side = side
        # stderr goes to a file: a chatty runner must never block on a full pipe.
        self.stderr_path = os.path.join(lab.workdir, f"runner-{side.label}-{id(self)}.err")
        with open(self.stderr_path, "wb") as err:
            self.proc = lab.start(
                side.host, [sys.executable, RUNNER, *argv], stdin=True, env=env, stderr=err
            )
        self.events: list[dict[str, Any]] = []
        self._buffer = b""

    def send(self, **cmd: Any) -> None:
        """Write one command line to the runner."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # the runner has exited: its events (read next) say why

    def read_events(self, timeout: float) -> list[dict[str, Any]] | None:
        """Events that arrive within *timeout* (``[]`` if none; ``None`` at EOF)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            if not sel.select(max(0.0, timeout)):
                return []
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        self._buffer += chunk
        events = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            events.append(json.loads(line))
        self.events += events
        return events

    def wait_for(self, *names: str, timeout: float) -> dict[str, Any]:
        """The next event named in *names* (``error``/``closed`` also end the wait)."""
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while True:
            for event in self.events[seen:]:
                if event["event"] in (*names, "error", "closed"):
                    return event
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                return {"event": "timeout", "waiting_for": names}
            if self.read_events(left) is None:
                return {"event": "closed", "stderr": self.stderr()}

    def stderr(self) -> str:
        """The end of the runner's stderr so far (for failure messages)."""
        try:
            with open(self.stderr_path, "rb") as fh:
                return fh.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""

    def states(self) -> list[str]:
        """Connection states reported so far, in order."""
        return [e["state"] for e in self.events if e["event"] == "state"]


@dataclasses.dataclass
class PairResult:
    """What happened when two agents were connected in a lab."""

    a: AgentProcess
    b: AgentProcess
    connected: bool
    connect_seconds: float | None  # the slower side's dial/accept time
    local_a: dict[str, Any] | None
    local_b: dict[str, Any] | None
    exchanged: dict[str, Any] | None
    problem: str | None

    def describe(self) -> str:
        """A one-line summary for assertion messages and the docs table."""
        if not self.connected:
            return f"not connected: {self.problem}"
        types = f"{_kind(self.local_a)} <-> {_kind(self.local_b)}"
        return f"{types} in {self.connect_seconds:.3f} s; exchange {self.exchanged}"


def _kind(cand: dict[str, Any] | None) -> str:
    if not cand:
        return "?"
    proto = cand.get("relay_protocol")
    return f"{cand['type']}/{proto}" if proto else str(cand["type"])


def is_relay(cand: dict[str, Any] | None) -> bool:
    """Whether a reported candidate is a relayed one."""
    return bool(cand) and cand.get("type") == "relay"  # type: ignore[union-attr]


def turn_urls(lab: Lab, transports: tuple[str, ...] = ("udp", "tcp", "tls")) -> list[str]:
    """Runner arguments for the lab's STUN and TURN servers."""
    turn = lab.start_turn()
    args: list[str] = []
    for url in turn.stun_urls()[:1]:
        args += ["--stun", url]
    for url in turn.turn_urls(transports):
        args += ["--turn", url]
    return args + ["--user", turn.username, "--password", turn.password]


def _signal_until_connected(
    a: AgentProcess, b: AgentProcess, timeout: float
) -> dict[str, dict[str, Any]]:
    """Forward credentials and candidates both ways until both sides report
    ``connected`` (or an error, an exit, or the timeout).  Returns the last
    decisive event of each side, keyed ``"a"``/``"b"``."""
    deadline = time.monotonic() + timeout
    outcome: dict[str, dict[str, Any]] = {}
    peers = {"a": (a, b), "b": (b, a)}
    with selectors.DefaultSelector() as sel:
        for label, (proc, _) in peers.items():
            assert proc.proc.stdout is not None
            sel.register(proc.proc.stdout.fileno(), selectors.EVENT_READ, label)
        while len(outcome) < 2:
            left = deadline - time.monotonic()
            if left <= 0:
                for label in peers:
                    outcome.setdefault(label, {"event": "timeout"})
                break
            for key, _ in sel.select(left):
                label = key.data
                proc, other = peers[label]
                events = proc.read_events(0)
                if events is None:
                    sel.unregister(key.fd)
                    outcome.setdefault(label, {"event": "closed", "stderr": proc.stderr()})
                    continue
                for event in events:
                    kind = event["event"]
                    if kind == "credentials":
                        other.send(cmd="credentials", ufrag=event["ufrag"], pwd=event["pwd"])
                    elif kind == "candidate":
                        other.send(cmd="candidate", candidate=event["candidate"])
                    elif kind in ("connected", "error", "closed"):
                        outcome.setdefault(label, event)
    return outcome


def connect_pair(
    lab: Lab,
    *,
    impl_a: str = "icekit",
    impl_b: str = "icekit",
    server_args: list[str] | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
    exchange: int = 5,
    close: bool = True,
) -> PairResult:
    """Start a controlling agent on side a and a controlled one on side b, connect them
    (signalling trickles through the test) and exchange *exchange* datagrams both ways."""
    common = (server_args if server_args is not None else turn_urls(lab)) + (extra_args or [])
    common += ["--timeout", str(timeout)]
    a = AgentProcess(lab, lab.sides[0], ["--role", "controlling", "--impl", impl_a, *common])
    b = AgentProcess(lab, lab.sides[1], ["--role", "controlled", "--impl", impl_b, *common])
    outcome = _signal_until_connected(a, b, timeout + 5)
    done = [outcome["a"], outcome["b"]]
    if any(d["event"] != "connected" for d in done):
        return PairResult(a, b, False, None, None, None, None,
                          f"a={done[0]} b={done[1]}; states a={a.states()} b={b.states()}; "
                          f"stderr a={a.stderr()!r} b={b.stderr()!r}")
    exchanged = None
    if exchange:
        a.send(cmd="exchange", count=exchange, timeout=timeout)
        exchanged = a.wait_for("exchanged", timeout=timeout + 5)
    if close:
        for p in (a, b):
            p.send(cmd="close")
        for p in (a, b):
            p.wait_for("closed", timeout=10)
    seconds = max(float(d["seconds"]) for d in done)
    return PairResult(a, b, True, seconds, done[0]["local"], done[1]["local"], exchanged, None)
