"""The ``accelerate-rl`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="accelerate-rl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the main job (a scan of the example beamline)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        print("accelerate-rl demo: the embedded engine is not available yet", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
