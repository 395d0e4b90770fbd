"""The cheap alternative a user would try before guidance: more (or less) classifier-free guidance.

CFG-only arms are `none` with another `cfg_scale` (`--cfg-scales`). Their scale is
chosen by the same held-out rule as the guided backends' (calibration seeds
choose, the others measure), and each guided backend at its chosen scale is set
against that best CFG-only setting on the same held-out samples (paired: the
same prompt and seed), so the report can say whether guidance beats simply
turning CFG up.
"""
from __future__ import annotations

import pandas as pd

from bench.uplift.analysis import KEYS, RULES, split_seeds, uplift_table
from bench.uplift.config import REFERENCE
from bench.uplift.stats import paired_uplift


def cfg_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The CFG-only arms' rows of an uplift table (backend `none`, another cfg_scale)."""
    return table[(table.backend == REFERENCE) & table.arm.ne(REFERENCE)] if len(table) else table


def choose_cfg(df: pd.DataFrame, judge: str, rule: str = "win") -> pd.Series | None:
    """The CFG-only setting best by `rule` on the calibration seeds, measured on the held-out seeds; None without CFG arms."""
    calib, held = split_seeds(df)
    cal = cfg_rows(uplift_table(df, calib))
    cal = cal[cal.judge == judge] if len(cal) else cal
    if cal.empty:
        return None
    first, second = RULES[rule]
    best = cal.sort_values([first, second], ascending=False).iloc[0]
    ev = cfg_rows(uplift_table(df, held))
    return ev[(ev.arm == best.arm) & (ev.judge == judge)].iloc[0]


def against_cfg(df: pd.DataFrame, chosen: pd.DataFrame, best_cfg: pd.Series, judge: str) -> pd.DataFrame:
    """Per guided backend at its chosen scale: paired difference to the best CFG-only setting on the held-out seeds."""
    _, held = split_seeds(df)
    d = df[df.seed.isin(held)]
    ref = d[d.arm == best_cfg.arm].set_index(KEYS)[judge]
    out = []
    for _, r in chosen[chosen.judge == judge].iterrows():
        g = d[(d.arm == r.arm)].set_index(KEYS)[judge]
        common = g.index.intersection(ref.index)
        out.append({"backend": r.backend, "scale": r.scale, "cfg_arm": best_cfg.arm,
                    **paired_uplift(g.loc[common].to_numpy(float), ref.loc[common].to_numpy(float))})
    return pd.DataFrame(out)
