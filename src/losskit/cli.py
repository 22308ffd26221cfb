"""The ``losskit`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="losskit", description="losskit: loss functions on every array library")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tour", help="walk through the Gluon loss tutorial with losskit")
    args = parser.parse_args(argv)
    if args.command == "tour":
        from .tour import run_tour

        return run_tour()
    return 2
