"""Uplift against the cost of a finished sample: every arm on one plane, the front per backend, the best at a budget.

Each arm (a backend at one scale and knob setting: window, every_k, reuse_grad,
recurrence, iterations...) costs `sd_cost_per_sample` unguided samples at SD
2.1-base scale (bench/uplift/sample_cost.py). Settings are chosen on the
calibration seeds and read on the held-out ones: an arm is on its backend's
front when no arm of that backend is as cheap or cheaper with a higher
calibration uplift (of the selection judge); at a budget (x an unguided
sample's cost) the backend's setting is the arm within it that is best by the
selection rule on calibration, and its uplift is read on the held-out seeds.
"""
from __future__ import annotations

import pandas as pd

from bench.uplift.analysis import RULES, split_seeds, uplift_table
from bench.uplift.config import REFERENCE

BUDGETS = (1.02, 1.05, 1.2, 2.0)  # x an unguided sample's cost
SLACK = 1e-9  # a cost of exactly a budget is within it


def arm_points(df: pd.DataFrame, judge: str) -> pd.DataFrame:
    """Per non-reference arm with a cost: its cost, calibration uplift and win rate, held-out uplift with CI, and
    whether it is on its backend's front. `df`: sample rows with `sd_cost_per_sample` (and `toy_cost` per arm
    where measured). Guided backends at a negative scale (pushed the wrong way on purpose) are left out."""
    calib, held = split_seeds(df)
    cost = df.groupby("arm").sd_cost_per_sample.median()
    cal, ev = uplift_table(df, calib), uplift_table(df, held)
    if cal.empty or ev.empty:
        return pd.DataFrame()
    cal = cal[cal.judge == judge].set_index("arm")[["uplift", "win_rate"]].rename(columns=lambda c: f"calibration_{c}")
    ev = ev[ev.judge == judge].set_index("arm")
    pts = ev[["backend", "scale", "uplift", "ci_low", "ci_high", "win_rate", "n"]].join(cal, how="inner").join(cost.rename("cost"))
    if "toy_cost" in df:
        pts = pts.join(df.groupby("arm").toy_cost.median())
    pts = pts[pts.cost.notna() & ((pts.backend == REFERENCE) | (pts.scale > 0))].reset_index()
    pts["setting"] = [setting(a) for a in pts.arm]
    pts["on_front"] = [not ((pts.backend == r.backend) & (pts.cost <= r.cost + SLACK) & (pts.calibration_uplift > r.calibration_uplift)).any()
                       for r in pts.itertuples()]
    return pts.sort_values(["backend", "cost", "arm"]).reset_index(drop=True)


def setting(arm: str) -> str:
    """An arm's label without its backend: `scale=+0.36 every_k=12`."""
    return arm.split(" ", 1)[1] if " " in arm else "(unguided)"


def best_within(points: pd.DataFrame, rule: str = "win", budgets=BUDGETS) -> pd.DataFrame:
    """Per backend and budget: the arm within the budget best by `rule` on calibration, read on held-out (none: no row)."""
    first, second = (f"calibration_{c}" for c in RULES[rule])
    out = []
    for b, g in points.groupby("backend"):
        for budget in budgets:
            within = g[g.cost <= budget + SLACK]
            if len(within):
                r = within.sort_values([first, second], ascending=False).iloc[0]
                out.append({"budget": budget, **r.to_dict()})
    return pd.DataFrame(out)


def varies(points: pd.DataFrame) -> bool:
    """Whether the plane says more than one point per backend: some backend holds several arms."""
    return len(points) > 0 and int(points.groupby("backend").size().max()) > 1
