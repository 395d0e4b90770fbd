"""From sweep rows to uplift tables: paired differences against unguided, per backend, scale and judge.

Scales are chosen per backend on calibration seeds and reported on held-out
seeds: the first half of the seeds picks, for each backend, the positive
scale that is best for the selection judge (the ground truth where the world
has one) by a rule: `win` (the highest win rate against unguided, ties to the
larger mean uplift) or `mean` (the largest mean uplift); the second half
measures it. Choosing and measuring on the same samples would flatter every
backend.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.store.rows import read_rows
from bench.uplift.config import GUIDANCE_FIELDS, REFERENCE, SAMPLER_FIELDS
from bench.uplift.run import arm_of
from bench.uplift.seeds import halves
from bench.uplift.stats import paired_uplift

KEYS = ["prompt_idx", "seed"]
# what a sample row holds besides its judges' values (bench/uplift/run.py, bench/store/sweep.py)
NOT_JUDGES = {"arm", "backend", "prompt_idx", "seed", "step_ms", "guided_step_ms", "nonfinite_steps", "saturated_steps", "guided_steps", "ran_as",
              "backend_calls", "guided_recurrence", "guided_iterations", "sd_cost_per_sample", "toy_cost",  # costs the report adds
              "config_hash", "cell_rows", "status", "row_wall_s", "git_commit", "run_id", "nonfinite_values", "error", "mem_at_failure_gib",
              "seed_start", "seed_stop", "prompt_truncated", "draw", "noise_seed", *SAMPLER_FIELDS, *GUIDANCE_FIELDS,
              "worker_host", "worker_pid", "worker_gpu_ids", "worker_device"}  # where a Ray task ran it (bench/store/ray_tasks.py)


def samples(path, draws: bool = False) -> pd.DataFrame:
    """One row per finished sample, as the sweep wrote it: backend, scale, prompt_idx, seed, step times and every judge's score.

    Best-of-N draws (rows with a `draw`) are left out, so no other table sees them; `draws=True` gives them
    alone (bench/uplift/best_of.py), an empty frame where the sweep has none."""
    rows = [r for r in read_rows(path) if r["status"] == "ok" and bool(r.get("draw")) == draws]
    if not rows:
        if draws:
            return pd.DataFrame()
        raise ValueError(f"{path} holds no finished rows")
    df = pd.DataFrame(rows)
    df["arm"] = [arm_of(r).label for r in rows]
    return df


def judge_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in NOT_JUDGES]


def uplift_table(df: pd.DataFrame, seeds: set[int] | None = None) -> pd.DataFrame:
    """Paired uplift vs `none` for every (backend, scale, judge); restricted to `seeds` when given."""
    if seeds is not None:
        df = df[df.seed.isin(seeds)]
    is_ref = df.arm == REFERENCE
    base = df[is_ref].set_index(KEYS)
    out = []
    for arm, g in df[~is_ref].groupby("arm", sort=False):
        backend, scale = g.backend.iloc[0], g.scale.iloc[0]
        g = g.set_index(KEYS)
        common = g.index.intersection(base.index)
        for j in judge_columns(df):
            if g[j].isna().all():
                continue
            a, b = g.loc[common, j].to_numpy(dtype=float), base.loc[common, j].to_numpy(dtype=float)
            ok = np.isfinite(a) & np.isfinite(b)  # a judge that gave NaN or inf (stored as null) leaves its pair out
            if not ok.any():
                continue
            u = paired_uplift(a[ok], b[ok])
            out.append({"backend": backend, "scale": scale, "arm": arm, "judge": j, **u,
                        "guided_mean": float(a[ok].mean()), "unguided_mean": float(b[ok].mean()), "n_left_out": int((~ok).sum()),
                        "guided_step_ms": float(g.guided_step_ms.median()),
                        "step_ms_ratio": float(g.guided_step_ms.median() / base.step_ms.median())})
    return pd.DataFrame(out).sort_values(["backend", "scale"], kind="stable").reset_index(drop=True) if out else pd.DataFrame(out)


def split_seeds(df: pd.DataFrame) -> tuple[set[int], set[int]]:
    calib, held = halves(int(s) for s in df.seed.unique())
    return set(calib), set(held)


RULES = {  # selection rule -> (calibration column, tie-break column), both maximised
    "win": ("win_rate", "uplift"),  # guidance that helps most often (a preference study's question)
    "mean": ("uplift", "win_rate"),  # the largest average gain
}


def choose_scales(df: pd.DataFrame, judge: str, rule: str = "win") -> pd.DataFrame:
    """Per backend: the positive-scale arm (scale and knobs) that is best by `rule` on the calibration seeds, measured on the held-out seeds."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; valid: {', '.join(RULES)}")
    calib, held = split_seeds(df)
    cal = uplift_table(df, calib)
    cal = cal[(cal.judge == judge) & (cal.scale > 0)]
    if cal.empty:
        raise ValueError(f"no positive-scale cells judged by {judge!r}")
    first, second = RULES[rule]
    best = cal.sort_values([first, second], ascending=False).groupby("backend").head(1)[["backend", "arm", "scale", "uplift", "win_rate"]]
    best = best.rename(columns={"uplift": "calibration_uplift", "win_rate": "calibration_win_rate"})
    ev = uplift_table(df, held)
    chosen = best.merge(ev, on=["backend", "arm", "scale"])  # the arm: one backend may run one scale at several knob settings
    chosen["n_calibration_seeds"], chosen["n_heldout_seeds"], chosen["rule"] = len(calib), len(held), rule
    return chosen
