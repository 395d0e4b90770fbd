"""Best-of-N: spend what guidance costs on more unguided samples instead, and keep the one the scorer likes best.

For each held-out (prompt, seed) pair the candidates are the pair's own
unguided sample (draw 0) and draws 1..N-1 from reserved seeds
(bench/uplift/seeds.py); best-of-N keeps the candidate that the guided
backend's own scorer ranks highest, at a cost of N unguided samples. Its
ground-truth uplift is paired against the pair's unguided sample, as a guided
backend's is (N = 1 is that sample itself: uplift 0).

A guided backend's cost per finished sample, in unguided samples at SD 2.1-base
scale, is bench/uplift/sample_cost.py's: 1 + (guided steps / steps) x (FLOP
ratio x recurrence x iterations - 1), from the cost model's per-step FLOP ratio. The
backend is set against the best-of-N curve of its own scorer at that cost,
interpolated linearly in log N between the drawn N on either side, pair by
pair, so the margin has a paired CI; and against best-of-N at the nearest drawn
N at or above its cost (at least as much compute as the backend spends). A cost
below 1 reads the curve at N = 1; one beyond the largest N drawn is read at
that N and marked `beyond`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.uplift.analysis import KEYS, split_seeds
from bench.uplift.config import REFERENCE
from bench.uplift.sample_cost import sample_cost
from bench.uplift.seeds import curve_ns
from bench.uplift.stats import paired_uplift
from guidance import scorer_kind


def drawn_n(draws: pd.DataFrame) -> int:
    """The largest power of two N whose draws 1..N-1 the sweep holds (1 when it holds none)."""
    have = set(draws.draw.astype(int)) if len(draws) else set()
    n = 1
    while set(range(n, 2 * n)) <= have:
        n *= 2
    return n


def pick(scores: np.ndarray, n: int) -> np.ndarray:
    """Per row, the index of the highest-scored of its first `n` candidates (ties to the earliest)."""
    return np.argmax(scores[:, :n], axis=1)


def best_of(scores: np.ndarray, truth: np.ndarray, n: int) -> np.ndarray:
    """Per row, the truth of the candidate the scorer ranks highest among the first `n`."""
    return truth[np.arange(len(truth)), pick(scores, n)]


def log_weights(ns: list[int], cost: float) -> tuple[int, int, float]:
    """(index of the N at or below `cost`, index of the N at or above, weight of the latter), linear in log N;
    `cost` is clamped to [ns[0], ns[-1]]."""
    c = min(max(float(cost), ns[0]), ns[-1])
    hi = next(i for i, n in enumerate(ns) if n >= c)
    lo = hi if ns[hi] == c else hi - 1
    w = 0.0 if lo == hi else (np.log(c) - np.log(ns[lo])) / (np.log(ns[hi]) - np.log(ns[lo]))
    return lo, hi, float(w)


def interp_log(ns: list[int], values: list, cost: float):
    """The curve `values` (one per N of `ns`: numbers or per-pair arrays) at `cost`, linear in log N."""
    lo, hi, w = log_weights(ns, cost)
    return (1.0 - w) * values[lo] + w * values[hi]


def candidates(df: pd.DataFrame, draws: pd.DataFrame, cols: list[str], n: int) -> tuple[pd.Index, dict[str, np.ndarray]]:
    """The held-out pairs holding all `n` candidates with finite `cols`, and {col: (pairs, n) values}; column 0 is
    the pair's unguided sample, column k its draw k."""
    _, held = split_seeds(df)
    ref = df[(df.arm == REFERENCE) & df.seed.isin(held)].assign(draw=0)
    both = pd.concat([ref, draws[draws.draw.astype(int) < n].assign(draw=lambda d: d.draw.astype(int))])
    wide = {c: both.set_index(KEYS + ["draw"])[c].astype(float).unstack("draw").reindex(columns=range(n)) for c in cols}
    first = wide[cols[0]]
    ok = np.logical_and.reduce([np.isfinite(w.reindex(first.index).to_numpy()).all(axis=1) for w in wide.values()])
    return first.index[ok], {c: w.reindex(first.index).to_numpy()[ok] for c, w in wide.items()}


def curves(df: pd.DataFrame, draws: pd.DataFrame, truth: str = "truth") -> pd.DataFrame:
    """Per scorer (`judge_<kind>` column) and N: best-of-N's `truth` uplift on the held-out pairs, with its CI."""
    n_max = drawn_n(draws)
    if n_max < 2:
        return pd.DataFrame()
    out = []
    for col in sorted(c for c in df.columns if c.startswith("judge_") and c in draws.columns):
        _, v = candidates(df, draws, [col, truth], n_max)
        if not len(v[truth]):
            continue
        for n in curve_ns(n_max):
            out.append({"scorer": col, "best_of": n, **paired_uplift(best_of(v[col], v[truth], n), v[truth][:, 0])})
    return pd.DataFrame(out)


def verdict(r) -> str:
    return "above" if r["ci_low"] > 0 else "below" if r["ci_high"] < 0 else "not told apart"


def against_best_of(df: pd.DataFrame, draws: pd.DataFrame, chosen: pd.DataFrame, steps: int, truth: str = "truth") -> pd.DataFrame:
    """Per guided backend at its chosen scale (`chosen`, with the cost model's `sd_flop_ratio`): its cost per
    finished sample, its `truth` uplift, the best-of-N curve of its own scorer at that cost, and the paired
    differences to that curve (interpolated) and to best-of-N at the nearest drawn N at or above the cost."""
    n_max = drawn_n(draws)
    if n_max < 2:
        return pd.DataFrame()
    ns = curve_ns(n_max)
    _, held = split_seeds(df)
    out = []
    for _, r in chosen[chosen.judge == truth].sort_values("backend").iterrows():
        own = f"judge_{scorer_kind(r.backend)}"
        if own not in draws.columns or pd.isna(r.get("sd_flop_ratio")):
            continue
        g = df[(df.arm == r.arm) & df.seed.isin(held)].set_index(KEYS)
        index, v = candidates(df, draws, [own, truth], n_max)
        keep = index.isin(g.index[np.isfinite(g[truth].astype(float))])
        guided = g[truth].astype(float).reindex(index[keep]).to_numpy()
        scores, t = v[own][keep], v[truth][keep]
        if not len(guided):
            continue
        calls = float((g.guided_recurrence * g.guided_iterations).fillna(1).median()) if "guided_recurrence" in g else 1.0
        cost = sample_cost(float(r.sd_flop_ratio), float(g.guided_steps.median()), steps, calls)
        bo = [best_of(scores, t, n) for n in ns]
        at = next((n for n in ns if n >= cost), ns[-1])
        curve = interp_log(ns, bo, cost)
        gain, margin, versus = paired_uplift(guided, t[:, 0]), paired_uplift(guided, curve), paired_uplift(guided, bo[ns.index(at)])
        out.append({"backend": r.backend, "scale": r.scale, "arm": r.arm, "scorer": own, "cost": cost, "beyond": cost > ns[-1],
                    "gt_uplift": gain["uplift"], "gt_ci_low": gain["ci_low"], "gt_ci_high": gain["ci_high"],
                    "curve_uplift": float((curve - t[:, 0]).mean()),
                    "margin": margin["uplift"], "ci_low": margin["ci_low"], "ci_high": margin["ci_high"],
                    "win_rate": margin["win_rate"], "n": margin["n"], "verdict": verdict(margin), "at_n": at,
                    "vs_at_n": versus["uplift"], "vs_at_n_ci_low": versus["ci_low"], "vs_at_n_ci_high": versus["ci_high"],
                    "best_of_max": ns[-1]})
    return pd.DataFrame(out)
