"""Connection benchmark: icekit against aioice and raw asyncio UDP on loopback.

Run with ``python3 bench/bench_conn.py`` (needs aioice and uvloop: ``pip install
-e '.[bench]'``); ``--quick`` for a short smoke run, ``--json FILE`` to keep the
raw figures. A full run (5 rounds) takes about 3.5 minutes on two cores.

Every measurement runs in freshly spawned processes (glibc's allocator makes
a long-lived process faster than a fresh one, see docs/performance.md), and the
configurations alternate round by round so that machine noise hits all alike.
Measured, each with the default asyncio loop and with uvloop:

* connect: from "two agents created" to "both connected", gathering included,
  both agents in one process (median over all runs);
* throughput: an unpaced sender process (yielding every 256 datagrams) sends
  100,000 datagrams of 1,200 or 100 bytes to a receiver process, which counts
  what arrives until 0.3 s of silence; datagrams/s at the receiver and loss;
* ping-pong: 5,000 sequential round trips of 100 bytes between two processes;
* memory: resident set growth per connected pair with 200 pairs in one process
  (each pair carried one datagram each way), and file descriptors per pair.

``raw`` is a pair of stock asyncio datagram endpoints: for throughput it counts
in ``datagram_received`` (no queue, the cheapest possible receiver), for
ping-pong it reads through an ``asyncio.Queue``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from conn_sides import IMPLS, connected_pair, make_side

from icekit.errors import IcekitError

LOOPS = ("asyncio", "uvloop")
SILENCE = 0.3
PROCESS_TIMEOUT = 60.0


# -- workers (run inside the spawned processes) ----------------------------------


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _read_line() -> dict[str, Any]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("parent went away")
    result: dict[str, Any] = json.loads(line)
    return result


async def worker_connect(impl: str, runs: int) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        a, b = await connected_pair(impl)
        times.append(time.perf_counter() - start)
        await a.close()
        await b.close()
    _emit({"connect_ms": [t * 1000 for t in times]})


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def worker_memory(impl: str, pairs: int) -> None:
    async def one() -> tuple[Any, Any]:
        a, b = await connected_pair(impl)
        await a.send(b"x" * 100)
        await b.recv()
        await b.send(b"y" * 100)
        await a.recv()
        return a, b

    warm = await one()
    gc.collect()
    rss0, fds0 = _rss_bytes(), len(os.listdir("/proc/self/fd"))
    held = []
    for _ in range(0, pairs, 20):
        held.extend(await asyncio.gather(*(one() for _ in range(20))))
    gc.collect()
    rss1, fds1 = _rss_bytes(), len(os.listdir("/proc/self/fd"))
    _emit(
        {
            "rss_per_pair": (rss1 - rss0) / len(held),
            "fds_per_pair": (fds1 - fds0) / len(held),
        }
    )
    for a, b in held + [warm]:
        await a.close()
        await b.close()


async def worker_peer(impl: str, role: str, mode: str, size: int, count: int) -> None:
    """One side of a two-process test; the parent relays the signalling."""
    loop = asyncio.get_running_loop()
    count_only = role == "recv" and mode == "tput"
    side = make_side(impl, count_only=count_only)
    _emit({"info": await side.prepare(role == "send")})
    remote = await _read_line()
    await side.connect(remote)
    if role == "recv" and mode == "tput" and impl != "raw":
        # Count through the public read API, one datagram per call.
        async def reader() -> None:
            recv = side.recv
            try:
                while True:
                    await recv()
                    side.counted += 1
                    side.last_arrival = loop.time()
            except (ConnectionError, IcekitError):  # closed at the end of the run
                return

        loop.create_task(reader())
    _emit({"connected": True})
    await _read_line()  # "go"
    payload = os.urandom(size)
    # First byte above 3: never mistaken for STUN by the receiver (RFC 7983).
    payload = b"\x80" + payload[1:]
    if role == "send" and mode == "tput":
        send = side.send
        start = time.perf_counter()
        for i in range(count):
            await send(payload)
            if i % 256 == 255:
                await asyncio.sleep(0)
        _emit({"sent": count, "send_s": time.perf_counter() - start})
    elif role == "recv" and mode == "tput":
        first = None
        deadline = loop.time() + 30
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            if side.counted and first is None:
                first = side.last_arrival
            if side.counted and loop.time() - side.last_arrival > SILENCE:
                break
        span = max(side.last_arrival - (first or side.last_arrival), 1e-9)
        _emit({"received": side.counted, "recv_s": span})
    elif role == "send" and mode == "pingpong":
        start = time.perf_counter()
        for _ in range(count):
            await side.send(payload)
            await side.recv()
        elapsed = time.perf_counter() - start
        _emit({"round_trips": count, "pp_s": elapsed})
    else:  # echo

        async def echo() -> None:
            try:
                while True:
                    await side.send(await side.recv())
            except (ConnectionError, IcekitError):  # closed at the end of the run
                return

        task = loop.create_task(echo())
        await _read_line()  # "stop"
        task.cancel()
        _emit({"done": True})
    if role == "send":
        await _read_line()  # "stop"
    await side.close()


def worker_main(args: argparse.Namespace) -> None:
    log_dir = os.environ.get("BENCH_LOG_DIR")
    if log_dir:  # debugging aid: one debug log per worker process
        import logging

        logging.basicConfig(
            filename=os.path.join(log_dir, f"{args.worker}-{os.getpid()}.log"),
            level=logging.DEBUG,
            format="%(relativeCreated)d %(name)s %(message)s",
        )
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.worker == "connect":
        coro = worker_connect(args.impl, args.runs)
    elif args.worker == "memory":
        coro = worker_memory(args.impl, args.pairs)
    else:
        coro = worker_peer(args.impl, args.worker, args.mode, args.size, args.count)
    asyncio.run(coro)


# -- parent: spawning and relaying ---------------------------------------------------


class Worker:
    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args} ended early")
        result: dict[str, Any] = json.loads(line)
        return result

    def write(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        try:
            self.proc.wait(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_single(kind: str, impl: str, loop: str, **params: Any) -> dict[str, Any]:
    argv = ["--worker", kind, "--impl", impl, "--loop", loop]
    for key, value in params.items():
        argv += [f"--{key}", str(value)]
    worker = Worker(*argv)
    try:
        return worker.read()
    finally:
        worker.finish()


def run_two(impl: str, loop: str, mode: str, size: int, count: int) -> dict[str, Any]:
    common = [
        "--impl",
        impl,
        "--loop",
        loop,
        "--mode",
        mode,
        "--size",
        str(size),
        "--count",
        str(count),
    ]
    recv = Worker("--worker", "recv", *common)
    send = Worker("--worker", "send", *common)
    try:
        info_r, info_s = recv.read()["info"], send.read()["info"]
        recv.write(info_s)
        send.write(info_r)
        recv.read()
        send.read()
        recv.write({"go": True})
        send.write({"go": True})
        result = send.read()
        if mode == "tput":
            result.update(recv.read())
        send.write({"stop": True})
        if mode == "pingpong":
            recv.write({"stop": True})
            recv.read()
        return result
    finally:
        for w in (send, recv):
            if w.proc.stdin:
                w.proc.stdin.close()
            w.finish()


# -- the run and the report -------------------------------------------------------------


def bench(
    rounds: int, connect_runs: int, tput_count: int, pp_count: int, pairs: int
) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {}

    def add(key: str, value: dict[str, Any]) -> None:
        results.setdefault(key, []).append(value)
        print(f"  {key}: {json.dumps(value)[:120]}", file=sys.stderr, flush=True)

    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for loop in LOOPS:
            for impl in ("icekit", "icekit-ta5", "aioice"):
                add(
                    f"connect/{impl}/{loop}",
                    run_single("connect", impl, loop, runs=connect_runs),
                )
            for size in (1200, 100):
                for impl in IMPLS:
                    add(
                        f"tput{size}/{impl}/{loop}",
                        run_two(impl, loop, "tput", size, tput_count),
                    )
            for impl in IMPLS:
                add(
                    f"pingpong/{impl}/{loop}",
                    run_two(impl, loop, "pingpong", 100, pp_count),
                )
            if r == 0:
                for impl in IMPLS:
                    add(
                        f"memory/{impl}/{loop}",
                        run_single("memory", impl, loop, pairs=pairs),
                    )
    return results


def summarize(results: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, runs in results.items():
        kind = key.split("/")[0]
        if kind == "connect":
            out[key] = statistics.median([t for run in runs for t in run["connect_ms"]])
        elif kind.startswith("tput"):
            out[key] = statistics.median(
                run["received"] / run["recv_s"] for run in runs
            )
            out[key + "/loss"] = statistics.median(
                1 - run["received"] / run["sent"] for run in runs
            )
        elif kind == "pingpong":
            out[key] = statistics.median(
                run["round_trips"] / run["pp_s"] for run in runs
            )
        elif kind == "memory":
            out[key] = statistics.median(run["rss_per_pair"] for run in runs) / 1024
            out[key + "/fds"] = statistics.median(run["fds_per_pair"] for run in runs)
    return out


def report(s: dict[str, float]) -> str:
    lines = [
        "| measure | loop | icekit | aioice | raw | icekit/aioice | icekit/raw |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(
        name: str, kind: str, loop: str, fmt: str, lower_is_better: bool = False
    ) -> None:
        vals = {impl: s.get(f"{kind}/{impl}/{loop}") for impl in IMPLS}

        def cell(v: float | None) -> str:
            return "n/a" if v is None else format(v, fmt)

        def ratio(a: float | None, b: float | None) -> str:
            return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}"

        lines.append(
            f"| {name} | {loop} | {cell(vals['icekit'])} | {cell(vals['aioice'])} | {cell(vals['raw'])} "
            f"| {ratio(vals['icekit'], vals['aioice'])} | {ratio(vals['icekit'], vals['raw'])} |"
        )

    for loop in LOOPS:
        row("connect, ms (median)", "connect", loop, ".1f", True)
        fast, aio = s.get(f"connect/icekit-ta5/{loop}"), s.get(f"connect/aioice/{loop}")
        if fast is not None and aio is not None:
            lines.append(
                f"| connect with Ta 5 ms, ms | {loop} | {fast:.1f} | {aio:.1f} | n/a | {fast / aio:.2f} | n/a |"
            )
        row("1,200 B dgram/s received", "tput1200", loop, ",.0f")
        row("1,200 B loss", "tput1200/loss", loop, ".0%")
        row("100 B dgram/s received", "tput100", loop, ",.0f")
        row("100 B loss", "tput100/loss", loop, ".0%")
        row("ping-pong round trips/s", "pingpong", loop, ",.0f")
        row("RSS per pair, KiB", "memory", loop, ".1f", True)
        row("fds per pair", "memory/fds", loop, ".0f", True)
    return "\n".join(lines)


def _fix_keys(s: dict[str, float]) -> dict[str, float]:
    # "tput100/icekit/asyncio/loss" -> "tput100/loss/icekit/asyncio" for report().
    fixed: dict[str, float] = {}
    for key, value in s.items():
        parts = key.split("/")
        if len(parts) == 4:
            key = f"{parts[0]}/{parts[3]}/{parts[1]}/{parts[2]}"
        fixed[key] = value
    return fixed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="one short round (smoke test)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write raw results and the summary to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="tput", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=100, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1000, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    if args.quick:
        results = bench(1, 5, 20_000, 1_000, 40)
    else:
        results = bench(args.rounds, 10, 100_000, 5_000, 200)
    summary = _fix_keys(summarize(results))
    print(report(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
