"""The ``maedfer`` command. Each sub-command lives in its own module with ``add_parser``
and ``run``. Bad input ends in one line on stderr (``maedfer: error: ...``) and exit status
2, never in a traceback: maedfer's own errors, values refused by Python or torch, and
files the system cannot open. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from ..errors import one_line
from . import data, hub, info, predict, train, visualize

COMMANDS = (info, data, train, predict, visualize, hub)


class _Parser(argparse.ArgumentParser):
    """argparse with the same one-line errors as the rest (argparse prints its usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="maedfer",
        description="Self-supervised dynamic facial expression "
        "recognition: MAE-DFER pre-training, LGI-Former fine-tuning, prediction.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed in one line
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.run(args) or 0
    except BrokenPipeError:  # the reader left (maedfer models | head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second failure at exit
        return 0
    # Input problems (bad configs, checkpoints, data, options: ValueErrors, maedfer's own
    # among them), files the system refuses (OSError) and a diverging run (non-finite
    # loss) end in one line.
    except (ValueError, FloatingPointError, OSError) as e:
        # An error every process of a multi-process run raises alike is printed once, by
        # rank 0 (engine.distributed.distributed_run).
        if not getattr(e, "reported", False):
            print(f"maedfer: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maedfer: interrupted", file=sys.stderr)
        return 130
