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

from .rowstore import read_rows
from .stats import paired_uplift

KEYS = ["prompt_idx", "seed"]


def samples(path) -> pd.DataFrame:
    """One row per sample: backend, scale, prompt_idx, seed, guided_step_ms and every judge's score."""
    recs = []
    for r in read_rows(path):
        if r["status"] != "ok":
            continue
        judges = [k for k, v in r.items() if isinstance(v, list) and len(v) == len(r["seed_list"]) and k not in ("seeds", "seed_list")]
        for i, seed in enumerate(r["seed_list"]):
            rec = {"backend": r["backend"], "scale": r["scale"], "prompt_idx": r["prompt_idx"], "seed": seed,
                   "step_ms": r.get("step_ms"), "guided_step_ms": r.get("guided_step_ms")}
            rec.update({k: r[k][i] for k in judges})
            recs.append(rec)
    if not recs:
        raise ValueError(f"{path} holds no finished rows")
    return pd.DataFrame(recs)


def judge_columns(df: pd.DataFrame) -> list[str]:
    fixed = {"backend", "scale", "prompt_idx", "seed", "step_ms", "guided_step_ms"}
    return [c for c in df.columns if c not in fixed]


def uplift_table(df: pd.DataFrame, seeds: set[int] | None = None) -> pd.DataFrame:
    """Paired uplift vs `none` for every (backend, scale, judge); restricted to `seeds` when given."""
    if seeds is not None:
        df = df[df.seed.isin(seeds)]
    base = df[df.backend == "none"].set_index(KEYS)
    out = []
    for (backend, scale), g in df[df.backend != "none"].groupby(["backend", "scale"]):
        g = g.set_index(KEYS)
        common = g.index.intersection(base.index)
        for j in judge_columns(df):
            if g[j].isna().all():
                continue
            u = paired_uplift(g.loc[common, j].to_numpy(), base.loc[common, j].to_numpy())
            out.append({"backend": backend, "scale": scale, "judge": j, **u,
                        "guided_mean": float(g.loc[common, j].mean()), "unguided_mean": float(base.loc[common, j].mean()),
                        "guided_step_ms": float(g.guided_step_ms.median()),
                        "step_ms_ratio": float(g.guided_step_ms.median() / base.step_ms.median())})
    return pd.DataFrame(out)


def split_seeds(df: pd.DataFrame) -> tuple[set[int], set[int]]:
    seeds = sorted(df.seed.unique())
    half = len(seeds) // 2
    if half == 0:
        raise ValueError("need at least two seeds to choose a scale on some and measure it on others")
    return set(seeds[:half]), set(seeds[half:])


RULES = {  # selection rule -> (calibration column, tie-break column), both maximised
    "win": ("win_rate", "uplift"),  # guidance that helps most often (a preference study's question)
    "mean": ("uplift", "win_rate"),  # the largest average gain
}


def choose_scales(df: pd.DataFrame, judge: str, rule: str = "win") -> pd.DataFrame:
    """Per backend: the positive scale that is best by `rule` on the calibration seeds, measured on the held-out seeds."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; valid: {', '.join(RULES)}")
    calib, held = split_seeds(df)
    cal = uplift_table(df, calib)
    cal = cal[(cal.judge == judge) & (cal.scale > 0)]
    if cal.empty:
        raise ValueError(f"no positive-scale cells judged by {judge!r}")
    first, second = RULES[rule]
    best = cal.sort_values([first, second], ascending=False).groupby("backend").head(1)[["backend", "scale", "uplift", "win_rate"]]
    best = best.rename(columns={"uplift": "calibration_uplift", "win_rate": "calibration_win_rate"})
    ev = uplift_table(df, held)
    chosen = best.merge(ev, on=["backend", "scale"])
    chosen["n_calibration_seeds"], chosen["n_heldout_seeds"], chosen["rule"] = len(calib), len(held), rule
    return chosen
