"""Cost of one finished sample at Stable Diffusion 2.1-base scale, in unguided samples: one place for the formula.

A sample of `steps` steps runs the unguided call on each step without a
gradient and, on each guided step, its backend's call `recurrence x
iterations` times (bench/costmodel/sample.py counts the same), so with the cost
model's per-call FLOP ratio r (results/costmodel) it costs

    1 + (guided steps / steps) x (r x recurrence x iterations - 1)

unguided samples; `none` (no guided step) costs 1. A step that re-applies the
last update (`reuse_grad`) makes no gradient call and costs an unguided step.
The final decode and the prompt encoding, the same for both, are left out
(that overstates guidance's cost by a few percent).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def sample_cost(step_ratio: float, guided_steps: float, steps: int, calls: float = 1) -> float:
    """Cost of one finished sample in unguided samples: unguided steps cost 1, guided ones `step_ratio` per call."""
    return 1.0 + guided_steps / steps * (step_ratio * calls - 1.0)


def with_sample_cost(df: pd.DataFrame, flop_ratios: dict[str, float], steps: int) -> pd.DataFrame:
    """`df` (sample rows) with `sd_cost_per_sample` per row: NaN for a guided backend the cost model has no ratio
    for; `steps` is the sweep's base (an arm may set its own)."""
    n = df["steps"].fillna(steps).astype(float) if "steps" in df else pd.Series(float(steps), index=df.index)
    calls = pd.Series(1.0, index=df.index)
    for col in ("guided_recurrence", "guided_iterations"):  # rows from before these knobs ran them at 1
        if col in df:
            calls = calls * df[col].fillna(1).astype(float)
    guided = df.guided_steps.fillna(0).astype(float) if "guided_steps" in df else pd.Series(0.0, index=df.index)
    ratio = df.backend.map(flop_ratios).astype(float)
    cost = 1.0 + guided / n * (ratio * calls - 1.0)
    return df.assign(sd_cost_per_sample=np.where(guided == 0, 1.0, cost))


def toy_cost_per_sample(df: pd.DataFrame, reference: str = "none") -> pd.Series:
    """Per arm: the median wall time of its cells' samples over the unguided arm's (this sweep, this machine; each
    cell's wall time includes decoding and judging, the same for both)."""
    per = (df.row_wall_s.astype(float) / df.cell_rows.astype(float)).groupby(df.arm).median()
    return per / per[reference]
