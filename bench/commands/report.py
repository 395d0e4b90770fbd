"""`python -m bench report`: results/ -> reports/cost.md, PNG plots, reports/headline.json.

    python -m bench report
    python -m bench report --results results --reports reports
"""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="turn results/ into reports/cost.md, plots and headline.json",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="results folder (reads timing/*/ and costmodel/*.csv)")
    p.add_argument("--reports", default="reports", help="where cost.md, the PNGs and headline.json go")
    p.set_defaults(func=_run)


def _run(a) -> int:
    from bench.report.cost import write_report

    paths = write_report(a.results, a.reports)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
