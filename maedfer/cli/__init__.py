"""The ``maedfer`` command. Each sub-command lives in its own module with ``add_parser``
and ``run``; user errors end in one line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import sys

from . import data, info, predict, train, visualize


COMMANDS = (info, data, train, predict, visualize)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maedfer", description="Self-supervised dynamic facial expression "
                                     "recognition: MAE-DFER pre-training, LGI-Former fine-tuning, prediction.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    # Input problems (bad configs, checkpoints, data: all ValueErrors) and a diverging run
    # (non-finite loss) end in one line; anything else is a bug and keeps its traceback.
    except (ValueError, FloatingPointError) as e:
        print(f"maedfer: error: {e}", file=sys.stderr)
        return 2
