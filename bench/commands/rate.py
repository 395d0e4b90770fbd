"""`python -m bench rate`: a local, blinded rating page over a sweep's image pairs; votes go to SQLite beside it.

    python -m bench rate --sweep results/uplift/toy            # then open http://127.0.0.1:8765/
    python -m bench uplift-report --sweep results/uplift/toy --out reports/toyworld.md   # folds the votes in

Pairs: the same seed and prompt under two arms (bench/rate/pairs.py states the plan); the command prints the
plan it offers. Sweeps keep only the grid seeds' images unless run with `uplift --keep-images all`.
"""
from __future__ import annotations

import argparse

from bench.rate.votes import VOTES_FILE  # light: sqlite3 and the standard library only


def add_parser(sub) -> None:
    p = sub.add_parser("rate", help="blinded pairwise rating page over a sweep's images (votes in SQLite)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", required=True, help="sweep folder written by `uplift` (run it with --keep-images all to offer every seed)")
    p.add_argument("--votes", default=None, help=f"vote database (default: SWEEP/{VOTES_FILE})")
    p.add_argument("--arms", default="chosen", choices=["chosen", "positive", "all"],
                   help="guided arms offered: each backend's chosen scale (default), every positive scale, or every scale")
    p.add_argument("--per-comparison", type=int, default=None,
                   help="(prompt, seed) items per comparison (default: as many as every comparison has images for)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.set_defaults(func=run)


def run(a) -> int:
    from pathlib import Path

    try:
        import flask  # noqa: F401
    except ImportError:
        raise ValueError("`rate` needs Flask: pip install 'guidance-bench[rate]'") from None
    from bench.rate.pairs import make_plan
    from bench.rate.server import make_app

    if not 0 <= a.port <= 65535:
        raise ValueError(f"--port {a.port}: expected 0 to 65535")
    plan = make_plan(a.sweep, a.arms, a.per_comparison)
    db = Path(a.votes) if a.votes else Path(a.sweep) / VOTES_FILE
    print(f"offering {plan.statement}", flush=True)
    print(f"votes -> {db}; rate at http://{a.host}:{a.port}/", flush=True)
    make_app(plan, db).run(host=a.host, port=a.port, threaded=True)
    return 0
