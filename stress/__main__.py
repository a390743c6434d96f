"""``python -m stress [load|faults|hostile|all]``: run the reliability scenarios and print
their figures; exit 1 if any check failed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twisted.internet import defer, task

from stress import faults, hostile, load
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
    print(table(scenarios), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([s.as_dict() for s in scenarios], indent=2))
    if not all(s.passed for s in scenarios):
        raise SystemExit(1)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stress", description=__doc__)
    parser.add_argument("which", nargs="?", default="all", choices=["load", "faults", "hostile", "all"])
    parser.add_argument("--players", type=int, default=200, help="bot players in the load run")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds the load run lasts")
    parser.add_argument("--fault-players", type=int, default=10, help="players online during the fault drills")
    parser.add_argument("--flood", type=int, default=2000, help="hostile connections per flood")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    task.react(main, [parse(sys.argv[1:])])
