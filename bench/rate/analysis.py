"""Human votes as figures: win rates against unguided, a Bradley-Terry fit over every arm, agreement.

A vote is scored from the left side: 1 (left better), 0 (right better), 0.5 (tie); skips are left out.
- Win rate of a guided arm against `none` (ties count half) with a bootstrap CI (bench/uplift/stats.py) and n.
- Bradley-Terry: P(i beats j) = sigmoid(b_i - b_j), fitted by logistic regression on every guided-vs-unguided
  and guided-vs-guided vote (a tie is half a win each way), `none` fixed at 0, with a weak ridge (RIDGE) so a
  rater who always agrees with one arm still gives finite strengths; percentile CIs from refits on votes
  resampled with replacement (as Chatbot Arena does). Arms the votes do not connect to `none` get no strength.
- Agreement, on the same pairs: between two raters, and between the votes and each automatic judge (the
  judge prefers the side it scores higher): 1 when both pick the same side or both call a tie, 0.5 when one
  of them calls a tie, 0 when they disagree.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit

from bench.report.uplift_sections import MIN_PAIRS as MIN_VOTES  # a cell with fewer votes is too small to read
from bench.uplift.config import REFERENCE
from bench.uplift.stats import LEVEL, bootstrap_mean_ci

RIDGE = 1e-2  # L2 penalty on the strengths (a N(0, 10^2) prior): finite under perfect separation, negligible otherwise
BT_RESAMPLES = 300
SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5}


def decided(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes that are not skips, with `s_left` (1, 0.5 or 0)."""
    v = votes[votes.choice != "skip"].copy()
    v["s_left"] = v.choice.map(SCORE).astype(float)
    return v


def win_rates(votes: pd.DataFrame, arms: dict[str, tuple[str, float]]) -> pd.DataFrame:
    """Per guided arm (backend, scale): human win rate against `none` (ties half), its CI, n and whether n is readable."""
    v = decided(votes)
    v = v[(v.left_arm == REFERENCE) != (v.right_arm == REFERENCE)]
    guided = np.where(v.right_arm == REFERENCE, v.left_arm, v.right_arm)
    score = np.where(v.right_arm == REFERENCE, v.s_left, 1 - v.s_left)
    out = []
    for arm in sorted(set(guided), key=lambda a: arms[a]):
        s = score[guided == arm]
        lo, hi = bootstrap_mean_ci(s)
        out.append({"arm": arm, "backend": arms[arm][0], "scale": arms[arm][1], "win_rate": float(s.mean()), "ci_low": lo,
                    "ci_high": hi, "n": int(s.size), "too_small": bool(s.size < MIN_VOTES)})
    return pd.DataFrame(out, columns=["arm", "backend", "scale", "win_rate", "ci_low", "ci_high", "n", "too_small"])


def connected(votes: pd.DataFrame, anchor: str = REFERENCE) -> set[str]:
    """Arms linked to `anchor` through the compared pairs."""
    edges = set(zip(votes.left_arm, votes.right_arm))
    seen, grow = {anchor}, True
    while grow:
        new = {b for a, b in edges if a in seen} | {a for a, b in edges if b in seen}
        grow = bool(new - seen)
        seen |= new
    return seen


def _loss(b: np.ndarray, i: np.ndarray, j: np.ndarray, s: np.ndarray) -> float:
    d = b[i] - b[j]
    return float(-(s * log_expit(d) + (1 - s) * log_expit(-d)).sum() + 0.5 * RIDGE * (b[1:] @ b[1:]))


def _fit(i: np.ndarray, j: np.ndarray, s: np.ndarray, k: int) -> np.ndarray:
    """Strengths of arms 0..k-1, arm 0 (the anchor) at 0, minimising the ridge-penalised Bradley-Terry negative log-likelihood
    (strictly convex): Newton steps, each halved until the loss falls."""
    b = np.zeros(k)
    for _ in range(100):
        p = expit(b[i] - b[j])
        r, w = p - s, p * (1 - p)
        g = np.bincount(i, r, minlength=k) - np.bincount(j, r, minlength=k) + RIDGE * b
        h = np.zeros((k, k))
        np.add.at(h, (i, i), w), np.add.at(h, (j, j), w), np.add.at(h, (i, j), -w), np.add.at(h, (j, i), -w)
        step = np.concatenate([[0.0], np.linalg.solve(h[1:, 1:] + RIDGE * np.eye(k - 1), g[1:])])
        t, before = 1.0, _loss(b, i, j, s)
        while _loss(b - t * step, i, j, s) > before and t > 1e-8:
            t /= 2
        b = b - t * step
        if np.abs(t * step).max() < 1e-10:
            break
    return b


def bradley_terry(votes: pd.DataFrame, arms: dict[str, tuple[str, float]], n_boot: int = BT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per arm: strength (log-odds of beating `none`), its percentile CI, P(beats none), votes involving it."""
    v = decided(votes)
    v = v[v.left_arm.isin(connected(v)) & v.right_arm.isin(connected(v))]
    names = [REFERENCE] + sorted({*v.left_arm, *v.right_arm} - {REFERENCE}, key=lambda a: arms[a])
    if len(names) < 2:
        return pd.DataFrame(columns=["arm", "backend", "scale", "strength", "ci_low", "ci_high", "p_beats_none", "n"])
    idx = {a: n for n, a in enumerate(names)}
    i, j, s = v.left_arm.map(idx).to_numpy(), v.right_arm.map(idx).to_numpy(), v.s_left.to_numpy()
    b = _fit(i, j, s, len(names))
    rng = np.random.default_rng(seed)
    boots = np.array([_fit(i[r], j[r], s[r], len(names)) for r in (rng.integers(0, len(s), len(s)) for _ in range(n_boot))])
    lo, hi = np.percentile(boots, [50 * (1 - LEVEL), 50 * (1 + LEVEL)], axis=0)
    counts = pd.concat([v.left_arm, v.right_arm]).value_counts()
    return pd.DataFrame([{"arm": a, "backend": arms[a][0], "scale": arms[a][1], "strength": b[n], "ci_low": lo[n], "ci_high": hi[n],
                          "p_beats_none": float(expit(b[n])), "n": int(counts.get(a, 0))} for n, a in enumerate(names) if a != REFERENCE])


def _outcome(left: str, right: str, s_left: float) -> str:
    return left if s_left == 1 else right if s_left == 0 else "tie"


def _agree(x: str, y: str) -> float:
    return 1.0 if x == y else 0.5 if "tie" in (x, y) else 0.0


def rater_agreement(votes: pd.DataFrame) -> dict | None:
    """Mean agreement over every two raters' votes on the same pair; None with fewer than two raters on any pair."""
    v = decided(votes)
    scores = [_agree(_outcome(x.left_arm, x.right_arm, x.s_left), _outcome(y.left_arm, y.right_arm, y.s_left))
              for _, g in v.groupby("pair") for (_, x), (_, y) in combinations(g.iterrows(), 2)]
    if not scores:
        return None
    return {"agreement": float(np.mean(scores)), "n_comparisons": len(scores), "n_raters": int(v.rater.nunique()),
            "n_pairs": int((v.groupby("pair").rater.nunique() > 1).sum())}


def judge_agreement(votes: pd.DataFrame, df: pd.DataFrame, judges: list[str]) -> pd.DataFrame:
    """Per judge: agreement between the votes and the judge's preference on the same pairs, and n."""
    v = decided(votes)
    by = df.set_index(["arm", "prompt_idx", "seed"])
    out = []
    for j in judges:
        left = by[j].reindex(list(zip(v.left_arm, v.prompt_idx, v.seed))).to_numpy(dtype=float)
        right = by[j].reindex(list(zip(v.right_arm, v.prompt_idx, v.seed))).to_numpy(dtype=float)
        ok = np.isfinite(left) & np.isfinite(right)
        if not ok.any():
            continue
        judged = np.where(left > right, 1.0, np.where(left < right, 0.0, 0.5))
        scores = [_agree(_outcome(a, b, h), _outcome(a, b, m)) for a, b, h, m in zip(v.left_arm[ok], v.right_arm[ok], v.s_left[ok], judged[ok])]
        out.append({"judge": j, "agreement": float(np.mean(scores)), "n": int(ok.sum())})
    return pd.DataFrame(out, columns=["judge", "agreement", "n"])
