"""`python -m bench gate`: exit 1 on a regression against a baseline, naming backend, configuration and figure.

    python -m bench gate --baseline results/costmodel --current out/costmodel
    python -m bench gate --baseline results/costmodel --current out/ci --subset
    python -m bench gate --baseline .benchmarks/Linux-CPython-3.11-64bit/0001_h100.json --current out/bench.json

Exit status: 0 pass (improvements are listed and pass), 1 a regression or a
missing row or figure, 2 unreadable or missing input.
"""
from __future__ import annotations

import argparse

from bench.gate import GATED, compare, read_results


def add_parser(sub) -> None:
    tolerances = "; ".join(f"{k} {t.label()}" for k, t in GATED.items())
    p = sub.add_parser("gate", help="compare results with a baseline; non-zero exit on a regression",
                       description=__doc__ + f"\nGated figures and tolerances: {tolerances}.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="baseline results: a .csv, .jsonl or pytest-benchmark .json file, or a folder of them")
    p.add_argument("--current", required=True, help="current results: a .csv, .jsonl or pytest-benchmark .json file, or a folder of them")
    p.add_argument("--subset", action="store_true",
                   help="current recomputes only some baseline configurations (CI): skip the others instead of failing")
    p.set_defaults(func=run)


def run(a) -> int:
    result = compare(read_results(a.baseline), read_results(a.current), subset=a.subset)
    print("\n".join(result.lines()))
    return 0 if result.ok else 1
