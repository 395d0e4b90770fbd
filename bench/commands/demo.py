"""`python -m bench demo` (`make demo`): a small uplift sweep in the toy world with its report.

With --tiny-random: every backend on the random-weight tiny model (the machinery demo).

    python -m bench demo --out demo-out
    python -m bench demo --tiny-random --out demo-out-tiny
"""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="a small uplift sweep in the toy world with its report (or, with --tiny-random, "
                                    "every backend on the random-weight tiny model)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo-out", help="output folder")
    p.add_argument("--seeds", type=int, default=16, help="seeds per prompt (toy world)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: 25 toy world, 10 tiny)")
    p.add_argument("--backends", nargs="+", default=None, help="backends (toy world; default none midu latent pixel)")
    p.add_argument("--scales", type=float, nargs="+", default=None, help="guidance scales (default: -0.05 0.03 0.05 toy world, -1 0 1 tiny)")
    p.add_argument("--best-of", type=int, default=None, metavar="N",
                   help="best-of-N draws on the held-out pairs, N a power of two (toy world; default 4; 1: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it is also off when stderr is not a terminal)")
    p.add_argument("--tiny-random", action="store_true", help="the machinery demo: every backend on the tiny model with random weights")
    p.set_defaults(func=run)


def run(a) -> int:
    if a.tiny_random:
        from bench.jobs.demo_tiny import demo

        demo(a.out, a.steps or 10, tuple(a.scales or (-1.0, 0.0, 1.0)), progress=not a.quiet)
        return 0
    import torch

    from bench.jobs.demo_toy import DEMO_BACKENDS, DEMO_BEST_OF, DEMO_SCALES, toy_demo
    from bench.uplift.seeds import check_best_of

    if a.seeds < 2:
        raise ValueError(f"--seeds {a.seeds}: expected at least 2 (half choose the scale, half measure it)")
    best_of = DEMO_BEST_OF if a.best_of is None else a.best_of
    check_best_of(best_of)
    torch.set_num_threads(1)  # CPU-only and tiny: one thread is fastest, and 2 threads crawl on a loaded 2-core machine
    toy_demo(a.out, a.seeds, a.steps or 25, tuple(a.backends or DEMO_BACKENDS), tuple(a.scales or DEMO_SCALES), progress=not a.quiet,
             best_of=best_of)
    return 0
