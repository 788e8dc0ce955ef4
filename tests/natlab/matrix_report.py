"""Run the NAT matrix outside pytest and print a Markdown table of the results.

``sudo python3 -m tests.natlab.matrix_report [--impl icekit|aioice]`` from the
repository root: one lab per row, the selected pair's candidate types and the
connect time (the slower side's dial/accept), for ``docs/nat-lab.md``.
"""

from __future__ import annotations

import argparse
import itertools
import sys

from tests.natlab.lab import Impairment, SideSpec, build_lab
from tests.natlab.nat import NatType, direct_path_exists
from tests.natlab.netns import missing_requirements
from tests.natlab.scenario import connect_pair, turn_urls


def _rows() -> list[tuple[str, SideSpec, SideSpec]]:
    rows = [
        (f"{a} / {b}", SideSpec(a), SideSpec(b))
        for a, b in itertools.combinations_with_replacement(list(NatType), 2)
    ]
    blocked = SideSpec(NatType.PORT_RESTRICTED, udp_blocked=True)
    rows.append(("port-restricted, UDP blocked / port-restricted", blocked,
                 SideSpec(NatType.PORT_RESTRICTED)))
    rows.append(("port-restricted, UDP blocked / none", blocked, SideSpec(NatType.NONE)))
    impaired = SideSpec(NatType.PORT_RESTRICTED,
                        impairment=Impairment(loss=0.1, delay=0.1, jitter=0.01, seed=5))
    rows.append(("port-restricted / port-restricted, 10 % loss + 100 ms each link",
                 impaired, impaired))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 1 if a row did not connect."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("icekit", "aioice"), default="icekit")
    parser.add_argument("--udp-turn-only", action="store_true",
                        help="configure only TURN over UDP (aioice takes one TURN server)")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    reason = missing_requirements()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    print("| side a / side b | expected | selected (a <-> b) | connect time |")
    print("|---|---|---|---|")
    failures = 0
    for name, a, b in _rows():
        expected = "relay"
        if not (a.udp_blocked or b.udp_blocked) and direct_path_exists(a.nat, b.nat):
            expected = "direct"
        with build_lab(a, b, turn=True) as lab:
            transports = ("udp",) if args.udp_turn_only else ("udp", "tcp", "tls")
            result = connect_pair(lab, impl_a=args.impl, impl_b=args.impl,
                                  server_args=turn_urls(lab, transports), timeout=args.timeout)
        if result.connected:
            kinds = result.describe().split(" in ")[0]
            print(f"| {name} | {expected} | {kinds} | {result.connect_seconds:.3f} s |")
        else:
            failures += 1
            print(f"| {name} | {expected} | not connected | - |")
            print(f"  ({result.problem})", file=sys.stderr)
        sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
