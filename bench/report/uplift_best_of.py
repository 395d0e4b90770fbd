"""The uplift report's best-of-N section, its reading and its headline keys (bench/uplift/best_of.py computes them).

Each guided backend, at its chosen scale, is placed on one plane with best-of-N
and CFG only: uplift against cost per finished sample at SD 2.1-base scale.
A verdict is read from a paired 95% CI: above (or ahead) where it lies above 0,
below (or behind) where it lies below, not told apart otherwise; the headline
writes it as true, false or null.
"""
from __future__ import annotations

import pandas as pd

from bench.report.uplift_costs import SD_LABEL
from bench.report.uplift_sections import MIN_PAIRS, scale_text

FLAG = "--best-of 8"


def _f(x: float) -> str:
    return f"{x:+.2f}"


def told(ci_low: float, ci_high: float) -> bool | None:
    """True where the paired CI lies above 0, False where it lies below, None where it holds 0."""
    return True if ci_low > 0 else False if ci_high < 0 else None


def _cfg_word(vs_cfg: pd.DataFrame | None, backend: str) -> str:
    if vs_cfg is None or backend not in set(vs_cfg.backend):
        return "-"
    r = vs_cfg.set_index("backend").loc[backend]
    word = {True: "ahead", False: "behind", None: "not told apart"}[told(r.ci_low, r.ci_high)]
    return f"{word}, {_f(r.uplift)} [{_f(r.ci_low)}, {_f(r.ci_high)}]"


def no_draws_lines(n_pairs: int) -> list[str]:
    return ["## Best-of-N: more unguided samples instead of guidance", "",
            f"This sweep has no best-of-N draws, so no backend is set against best-of-N. `python -m bench uplift ... {FLAG}` makes "
            f"them: 7 more unguided samples per held-out pair from reserved seeds (`bench/uplift/seeds.py`), {7 * n_pairs} samples "
            "at this sweep's size. The draws are part of a sweep's identity: run it into a new `--out`.", ""]


def best_of_lines(curve: pd.DataFrame, versus: pd.DataFrame, vs_cfg: pd.DataFrame | None, judge: str, figure: str,
                  n_draws: int, no_cost: list[str]) -> list[str]:
    """The section: the curve per scorer, each backend against it and against CFG only, the figure, the draws' cost."""
    n_max = int(curve.best_of.max())
    out = ["## Best-of-N: more unguided samples instead of guidance", "",
           f"Best-of-N takes, for each held-out pair, the pair's own unguided sample and N - 1 more from reserved seeds "
           "(`bench/uplift/seeds.py`), and keeps the one a scorer ranks highest, at a cost of N unguided samples; its uplift "
           f"(`{judge}`) is paired against the pair's unguided sample, as a guided backend's is. A guided sample costs "
           f"1 + (guided steps / steps) x (FLOP ratio - 1) unguided samples at {SD_LABEL} (the cost model's per-step ratio; the "
           "final decode, the same for both, left out, which overstates guidance's cost by a few percent).", "",
           "| scorer | N = cost (unguided samples) | uplift | 95% CI | win rate | pairs |", "|---|---|---|---|---|---|"]
    for _, r in curve.iterrows():
        out.append(f"| {r.scorer} | {int(r.best_of)} | {_f(r.uplift)} | [{_f(r.ci_low)}, {_f(r.ci_high)}] | {r.win_rate:.2f} | {int(r.n)} |")
    out += ["", "Each guided backend at its chosen scale against best-of-N ranked by its own scorer: against the curve at its own "
            "cost (interpolated linearly in log N, pair by pair, so the difference is paired) and against the nearest N drawn at "
            "or above its cost; and against the best CFG-only setting (same held-out pairs):", "",
            "| backend | scale | own scorer | cost per sample | guided uplift | curve at its cost | guided minus curve | verdict | "
            "guided minus best-of-N at N | vs best CFG only |", "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in versus.iterrows():
        beyond = f" (beyond N = {n_max})" if r.beyond else ""
        out.append(f"| {r.backend} | {scale_text(r.scale, r.arm)} | {r.scorer} | {r.cost:.2f}{beyond} | {_f(r.gt_uplift)} [{_f(r.gt_ci_low)}, "
                   f"{_f(r.gt_ci_high)}] | {_f(r.curve_uplift)} | {_f(r.margin)} [{_f(r.ci_low)}, {_f(r.ci_high)}] | {r.verdict} | "
                   f"N = {int(r.at_n)}: {_f(r.vs_at_n)} [{_f(r.vs_at_n_ci_low)}, {_f(r.vs_at_n_ci_high)}] | {_cfg_word(vs_cfg, r.backend)} |")
    if no_cost:
        out += ["", f"Not placed (no cost-model row at {SD_LABEL}): {', '.join(no_cost)}."]
    if vs_cfg is None:
        out += ["", "No CFG-only arms in this sweep (`--cfg-scales`): no backend is set against CFG only."]
    out += ["", f"![best-of-N]({figure})", "",
            "In the figure each interval is the uplift's against the pair's unguided sample; the paired differences are in the table.", "",
            f"The draws cost {n_draws} unguided samples (N - 1 = {n_max - 1} per held-out pair); the calibration seeds get none, "
            "as best-of-N has no setting for them to choose.", ""]
    return out


def best_of_reading(versus: pd.DataFrame | None, vs_cfg: pd.DataFrame | None, best_cfg: pd.Series | None) -> list[str]:
    """One bullet per backend for the report's reading: above or below best-of-N at its own cost, ahead of CFG only or not."""
    if versus is None or versus.empty:
        return [f"- No best-of-N draws in this sweep: `{FLAG}` makes them (see the best-of-N section).", ""]
    out = [f"Against the cheap alternatives at the same cost ({SD_LABEL}; held-out pairs, paired 95% CIs):", ""]
    for _, r in versus.iterrows():
        where = {"above": "lies **above** the best-of-N curve", "below": "lies **below** the best-of-N curve",
                 "not told apart": "is **not told apart** from the best-of-N curve"}[r.verdict]
        text = (f"- **{r.backend}** costs {r.cost:.2f} unguided samples per finished sample at {SD_LABEL} and {where} of its own "
                f"scorer (`{r.scorer}`) at that cost: {_f(r.gt_uplift)} against the curve's {_f(r.curve_uplift)}, a margin of "
                f"{_f(r.margin)} [{_f(r.ci_low)}, {_f(r.ci_high)}]")
        text += (f"; its cost is beyond the largest N drawn ({int(r.best_of_max)}), so the curve is read there." if r.beyond else
                 f"; against best-of-{int(r.at_n)}, which costs at least as much, {_f(r.vs_at_n)} "
                 f"[{_f(r.vs_at_n_ci_low)}, {_f(r.vs_at_n_ci_high)}].")
        if r.verdict == "below":
            text += " More unguided samples ranked by its own scorer buy more than its guidance does at this cost."
        if best_cfg is not None and vs_cfg is not None and r.backend in set(vs_cfg.backend):
            text += f" Against the best CFG-only setting (CFG {float(best_cfg.arm.split('=')[-1]):g}): {_cfg_word(vs_cfg, r.backend)}."
        if r.n < MIN_PAIRS:
            text += f" **Too small to read: {int(r.n)} pairs (fewer than {MIN_PAIRS}).**"
        out.append(text)
    if vs_cfg is None:
        out.append("- No CFG-only arms in this sweep (`--cfg-scales`): no backend is set against CFG only.")
    return out + [""]


def best_of_headline(versus: pd.DataFrame | None, vs_cfg: pd.DataFrame | None) -> dict[str, dict]:
    """Per backend: `above_best_of_n` with its margin and CI, the cost it is read at, and `beats_cfg_only`."""
    per = {}
    for _, r in (versus.iterrows() if versus is not None else ()):
        per[r.backend] = {"above_best_of_n": told(r.ci_low, r.ci_high), "vs_best_of_n_margin": r.margin,
                          "vs_best_of_n_ci_low": r.ci_low, "vs_best_of_n_ci_high": r.ci_high, "sd_cost_per_sample": r.cost,
                          "best_of_n_max": int(r.best_of_max)}
    for _, r in (vs_cfg.iterrows() if vs_cfg is not None else ()):
        per.setdefault(r.backend, {})["beats_cfg_only"] = told(r.ci_low, r.ci_high)
    return per
