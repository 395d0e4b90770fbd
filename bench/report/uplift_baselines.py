"""The uplift report's baseline section: CFG only, chosen like a backend, and each guided backend set against it."""
from __future__ import annotations

import pandas as pd


def _f(x: float) -> str:
    return f"{x:+.2f}"


def _cfg(arm: str) -> float:
    """The CFG scale of a CFG-only arm's label ("none cfg_scale=+7.5")."""
    return float(arm.split("=")[-1])


def cfg_lines(cfg_table: pd.DataFrame, best: pd.Series | None, versus: pd.DataFrame | None, judge: str) -> list[str]:
    if best is None:
        return []
    out = ["## CFG only: the cheap alternative", "",
           f"The unguided sampler at other CFG scales, against the sweep's own CFG (all seeds; judge `{judge}`):", "",
           "| CFG scale | uplift | 95% CI | win rate |", "|---|---|---|---|"]
    rows = cfg_table[cfg_table.judge == judge]
    for _, r in rows.assign(_c=rows.arm.map(_cfg)).sort_values("_c").iterrows():
        out.append(f"| {_cfg(r.arm):g} | {_f(r.uplift)} | [{_f(r.ci_low)}, {_f(r.ci_high)}] | {r.win_rate:.2f} |")
    out += ["", f"Chosen on the calibration seeds by the same rule as the backends: CFG {_cfg(best.arm):g}, held-out {_f(best.uplift)} "
            f"[{_f(best.ci_low)}, {_f(best.ci_high)}] (n = {int(best.n)}).", "",
            "Each guided backend at its chosen scale against that setting, same held-out prompts and seeds (paired):", "",
            "| backend | scale | guided minus best CFG-only | 95% CI | win rate | verdict |", "|---|---|---|---|---|---|"]
    for _, r in versus.sort_values("backend").iterrows():
        verdict = "ahead" if r.ci_low > 0 else "behind" if r.ci_high < 0 else "not told apart"
        out.append(f"| {r.backend} | {r.scale:g} | {_f(r.uplift)} | [{_f(r.ci_low)}, {_f(r.ci_high)}] | {r.win_rate:.2f} | {verdict} |")
    return out + [""]
