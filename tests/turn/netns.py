"""Run a test scenario module inside a throwaway network namespace.

The namespace has only ``lo`` and a bridge carrying one lab address, so a
scenario can start coturn on a "public" address and see what it does with
peers it cannot route to. The namespace is deleted whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from typing import Any

from tests.turn.coturn import CoturnUnavailable, find_turnserver

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def missing_requirements() -> str | None:
    """Why a namespace scenario with coturn cannot run here (None: it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need `ip` (Debian package iproute2)"
    try:
        find_turnserver()
    except CoturnUnavailable as exc:
        return str(exc)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def run_in_namespace(module: str, host: str, args: list[str], bound: float) -> dict[str, Any]:
    """Run ``python -m module`` in a fresh namespace with *host* on a bridge.

    The module prints one JSON object as its last line of output; that
    object is returned. The run must exit 0 within *bound* seconds.
    """
    name = f"icekit-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "br0", "type", "bridge")
        _ip("-n", name, "addr", "add", f"{host}/24", "dev", "br0")
        _ip("-n", name, "link", "set", "br0", "up")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
        done = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-m", module, *args],
            check=False,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=bound,
        )
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
