"""Network namespace plumbing for the NAT lab: names, commands, processes, sweep.

Every namespace the lab creates is named ``ik<run>p<pid>-<role>``: ``ik`` marks
it as the lab's, ``<run>`` is random per lab, ``<pid>`` is the test process
that owns it.  Teardown deletes namespaces by name and stops processes by PID;
:func:`sweep_stale` removes namespaces left behind by a test process that no
longer exists (a crash or ``kill -9`` skips every ``finally``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence

__all__ = [
    "NETNS_DIR",
    "LabError",
    "Namespace",
    "ProcessGroup",
    "delete_namespaces",
    "missing_requirements",
    "run",
    "sweep_stale",
]

log = logging.getLogger(__name__)

NETNS_DIR = "/run/netns"
_NAME_RE = re.compile(r"^ik[0-9a-f]{6}p(\d+)-[a-z0-9]+$")
_STOP_BOUND = 5.0  # seconds a lab process gets to exit after SIGTERM
_CMD_BOUND = 30.0  # seconds any single ip/nft/conntrack command may take


class LabError(RuntimeError):
    """The lab could not be built or verified (the test fails loudly)."""


def missing_requirements() -> str | None:
    """Why the lab cannot run here (not root, a tool missing), or ``None``."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the NAT lab needs root (network namespaces, nftables)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("conntrack", "conntrack")):
        if shutil.which(tool) is None:
            return f"the NAT lab needs `{tool}` (Debian package {package})"
    if not os.path.isdir("/proc/sys/net"):
        return "the NAT lab needs /proc/sys/net"
    return None


def run(argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command to completion; return stdout, raise :class:`LabError` on failure."""
    proc = subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=_CMD_BOUND,
        check=False,
    )
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class Namespace:
    """One named network namespace owned by a lab."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def argv(self, *args: str) -> list[str]:
        """The command line that runs *args* inside this namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """Run *args* inside the namespace to completion; return stdout."""
        return run(self.argv(*args), stdin=stdin, check=check)

    def ip_batch(self, lines: Sequence[str]) -> None:
        """Run several ``ip`` commands inside the namespace with one process."""
        if lines:
            run(["ip", "-n", self.name, "-batch", "-"], stdin="\n".join(lines) + "\n")

    def nft(self, ruleset: str) -> None:
        """Load an nftables rule set (text) into the namespace."""
        self.run("nft", "-f", "-", stdin=ruleset)

    def sysctl(self, *settings: str) -> None:
        """Set sysctls in the namespace (``"net.ipv4.ip_forward=1"`` strings).

        Written to ``/proc/sys`` by a shell inside the namespace (the ``net``
        entries there belong to the namespace of the writer), so that procps
        is not needed.
        """
        script = []
        for setting in settings:
            key, _, value = setting.partition("=")
            if not key or not value.isdigit() or not all(c.isalnum() or c in "._" for c in key):
                raise ValueError(f"bad sysctl setting {setting!r}")
            path = "/proc/sys/" + key.replace(".", "/")
            # A kernel without IPv6 has no ipv6 entries: nothing to switch off then.
            script.append(f"if [ -e {path} ]; then echo {value} > {path}; fi")
        self.run("sh", "-ec", "; ".join(script))


class ProcessGroup:
    """The processes a lab started, stopped by PID at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def add(self, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """Track *proc* so :meth:`stop_all` stops it."""
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM, then SIGKILL after a bound; always reaps the process."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_BOUND)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=_STOP_BOUND)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop_all(self) -> None:
        """Stop every tracked process, newest first."""
        while self.procs:
            proc = self.procs.pop()
            try:
                self.stop(proc)
            except Exception:  # teardown must go on for the others
                log.exception("could not stop lab process %d", proc.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def delete_namespaces(names: Sequence[str]) -> None:
    """Delete namespaces by name (missing ones are ignored)."""
    for name in names:
        if os.path.exists(os.path.join(NETNS_DIR, name)):
            _kill_members(name)
            run(["ip", "netns", "delete", name], check=False)


def _kill_members(name: str) -> None:
    """Kill processes still running inside a lab namespace about to be deleted.

    Only called for namespaces whose name marks them as the lab's own, so
    every process listed was started by a lab.
    """
    out = run(["ip", "netns", "pids", name], check=False)
    for word in out.split():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(word), signal.SIGKILL)


def sweep_stale(run_started: float) -> list[str]:
    """Delete lab namespaces left by dead test processes before *run_started*.

    A namespace is stale when its owner PID (in its name) is gone and it was
    created before this test run began; namespaces of a concurrent run stay.
    """
    try:
        entries = os.listdir(NETNS_DIR)
    except OSError:
        return []
    stale = []
    for name in entries:
        match = _NAME_RE.match(name)
        if match is None:
            continue
        owner = int(match.group(1))
        try:
            created = os.stat(os.path.join(NETNS_DIR, name)).st_mtime
        except OSError:
            continue
        if owner != os.getpid() and not _pid_alive(owner) and created < run_started:
            stale.append(name)
    if stale:
        log.warning("removing stale NAT lab namespaces: %s", ", ".join(stale))
        delete_namespaces(stale)
    return stale
