"""`python -m bench uplift-report`: an uplift sweep folder -> markdown with tables, plots, image grids and headline figures.

    python -m bench uplift-report --sweep results/uplift/toy --out reports/toyworld.md --headline reports/headline.json
    python -m bench uplift-report --sweep /tmp/u --out /tmp/u.md --select mean
"""
from __future__ import annotations

import argparse
import shlex
import sys


def add_parser(sub) -> None:
    r = sub.add_parser("uplift-report", help="markdown report, plots and grids from an uplift sweep", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--sweep", required=True, help="sweep folder written by `uplift`")
    r.add_argument("--out", required=True, help="markdown file to write; figures go beside it")
    r.add_argument("--headline", default=None, help="headline JSON to merge the chosen-scale figures into")
    r.add_argument("--sweep-command", default="", help="the command that ran the sweep, quoted in the report")
    r.add_argument("--select", default="win", choices=["win", "mean"],
                   help="how each backend's scale is chosen on the calibration seeds: highest win rate (default) or largest mean uplift")
    r.add_argument("--votes", default=None, help="human votes from `rate` (default: SWEEP/votes.sqlite; no votes, no human section)")
    r.set_defaults(func=run)


def run(a) -> int:
    from bench.report.uplift import write_report

    command = "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["uplift-report"] else "python -m bench uplift-report"
    out = write_report(a.sweep, a.out, a.headline, command, a.sweep_command, a.select, a.votes)
    print(f"wrote {out}")
    return 0
