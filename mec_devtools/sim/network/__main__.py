"""Command line for leftovers of crashed runs: list them, or remove them.

Usage:

    python -m mec_devtools.sim.network cleanup [--prefix t1] [--include-live]
    python -m mec_devtools.sim.network list [--prefix t1]
"""

from __future__ import annotations

import argparse
import sys

from mec_devtools.sim.network.cleanup import cleanup_leftovers, leftover_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mec_devtools.sim.network")
    sub = parser.add_subparsers(dest="action", required=True)
    clean = sub.add_parser("cleanup", help="remove runs whose owner process has gone")
    clean.add_argument("--prefix", default="", help="only runs whose tag starts with this")
    clean.add_argument("--include-live", action="store_true", help="remove live runs too")
    listing = sub.add_parser("list", help="namespaces and root links of emulated networks")
    listing.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    if args.action == "cleanup":
        lines = cleanup_leftovers(args.prefix, include_live=args.include_live)
    else:
        lines = leftover_names(args.prefix)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
