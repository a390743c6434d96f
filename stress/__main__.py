"""``python -m stress [load|faults|hostile|all|soak]``: run the reliability scenarios and print
their figures; exit 1 if any check failed. ``all`` leaves out the 30-minute soak."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twisted.internet import defer, task

from stress import faults, hostile, load, soak
from stress.report import table


@defer.inlineCallbacks
def main(reactor, args: argparse.Namespace):
    scenarios = []
    if args.which in ("load", "all"):
        scenarios.append((yield load.run(args.players, args.duration)))
    if args.which in ("faults", "all"):
        scenarios.extend((yield faults.run(args.fault_players)))
    if args.which in ("hostile", "all"):
        scenarios.append((yield hostile.run(args.flood)))
    if args.which == "soak":
        scenarios.append((yield soak.run(args.players, args.soak_duration, args.restart_every,
                                         args.cut_every, args.warmup, trace_memory=args.trace_memory,
                                         ramp=args.ramp)))
    print(table(scenarios), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([s.as_dict() for s in scenarios], indent=2))
    if not all(s.passed for s in scenarios):
        raise SystemExit(1)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stress", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=["load", "faults", "hostile", "all", "soak"])
    parser.add_argument("--players", type=int, default=200, help="bot players in the load run")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the load run lasts")
    parser.add_argument("--fault-players", type=int, default=10, help="players online during the fault drills")
    parser.add_argument("--flood", type=int, default=2000, help="hostile connections per flood")
    parser.add_argument("--soak-duration", type=float, default=1800.0, help="seconds the soak lasts")
    parser.add_argument("--restart-every", type=float, default=300.0, help="soak: seconds between backend restarts")
    parser.add_argument("--cut-every", type=float, default=420.0, help="soak: seconds between messaging cuts")
    parser.add_argument("--warmup", type=float, default=300.0, help="soak: seconds before growth is judged")
    parser.add_argument("--ramp", type=float, default=soak.RAMP_SECONDS,
                        help="soak: seconds over which the players join")
    parser.add_argument("--trace-memory", action="store_true",
                        help="soak: tracemalloc snapshots of the proxy after warm-up, at each fault and at the end")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    task.react(main, [parse(sys.argv[1:])])
