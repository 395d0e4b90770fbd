"""guidance-bench command line: `python -m bench COMMAND --help` (installed: `guidance-bench COMMAND --help`).

    python -m bench sample --model tiny --backend midu --scale 5 --prompt "a horse on a beach" --out out/horse
    python -m bench uplift --world toy --backends none midu --scales -1 0.5 1 --seeds 16 --out /tmp/u
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# subcommand -> the module in bench/commands that adds its parser (imported when the CLI is built)
COMMANDS = {
    "sample": "bench.commands.sample",
    "demo": "bench.commands.demo",
    "uplift": "bench.commands.uplift",
    "uplift-report": "bench.commands.uplift_report",
    "cost-run": "bench.commands.cost_run",
    "costmodel": "bench.commands.costmodel",
    "report": "bench.commands.report",
    "gate": "bench.commands.gate",
    "rate": "bench.commands.rate",
    "pack": "bench.commands.pack",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`error: ...`, exit 2) like every other bad input; --help shows the usage."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _prog() -> str:
    """How the user called us: the installed console script or the module (messages and usage name it)."""
    return "guidance-bench" if Path(sys.argv[0]).name == "guidance-bench" else "python -m bench"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=_prog(), description="guidance-bench: what classifier guidance costs and buys")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, already printed)
        return int(e.code or 0)
    try:
        return a.func(a)
    except (ValueError, FileNotFoundError) as e:  # bad input: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the machine, not the input (a full disk, a permission): one line too; rows written so far are safe
        print(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return 1
