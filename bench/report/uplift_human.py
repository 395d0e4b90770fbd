"""The uplift report's human section: blinded pairwise votes (bench/rate) as win rates, Bradley-Terry strengths, agreement.

No votes for this sweep, no section. The votes are those recorded for the sweep's identity; votes in the same
database for another sweep (the same folder re-made with other settings) are counted and left out.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.rate.analysis import BT_RESAMPLES, RIDGE, bradley_terry, judge_agreement, rater_agreement, win_rates
from bench.rate.pairs import sweep_identity
from bench.rate.votes import VOTES_FILE, get_plan, load_votes
from bench.report.uplift_sections import MIN_PAIRS, fmt
from bench.uplift.analysis import judge_columns
from bench.uplift.stats import CI_METHOD, LEVEL


def human_votes(sweep: Path, votes: Path | None = None) -> tuple[pd.DataFrame, int]:
    """This sweep's votes and the number of votes in the database for other sweeps."""
    every = load_votes(_path(sweep, votes))
    mine = every[every.sweep_id == sweep_identity(sweep)] if len(every) else every
    return mine.reset_index(drop=True), len(every) - len(mine)


def _path(sweep: Path, votes: Path | None) -> Path:
    return votes if votes is not None else sweep / VOTES_FILE


def _too_small(n: int) -> str:
    return f" **too small to read ({n} votes, fewer than {MIN_PAIRS})**" if n < MIN_PAIRS else ""


def human_section(sweep: Path, df: pd.DataFrame, chosen: pd.DataFrame, votes: Path | None = None) -> tuple[list[str], dict[str, dict]]:
    """(markdown lines, headline figures per backend at its chosen scale); both empty without votes."""
    v, other = human_votes(sweep, votes)
    if v.empty:
        return [], {}
    arms = {r.arm: (r.backend, float(r.scale)) for r in df.drop_duplicates("arm").itertuples()}
    skips = int((v.choice == "skip").sum())
    lines = ["## Human preference (blinded pairwise votes)", "",
             f"{len(v)} votes by {v.rater.nunique()} rater(s) on {v.pair.nunique()} pairs ({skips} skipped), recorded by "
             f"`python -m bench rate` for this sweep's identity" + (f"; {other} votes for other sweeps left out" if other else "") + ". "
             "Each pair is the same seed and prompt under two arms, sides drawn at random and hidden from the rater.", "",
             f"Offered (the plan `rate` last served): {get_plan(_path(sweep, votes), v.sweep_id[0])}.", "",
             f"### Win rate against unguided (ties count half; {LEVEL:.0%} {CI_METHOD} bootstrap CI)", "",
             "| backend | scale | human win rate | 95% CI | n |", "|---|---|---|---|---|"]
    wins = win_rates(v, arms)
    for r in wins.itertuples():
        lines.append(f"| {r.backend} | {r.scale:g} | {r.win_rate:.2f} | [{r.ci_low:.2f}, {r.ci_high:.2f}] | {r.n}{_too_small(r.n)} |")
    bt = bradley_terry(v, arms)
    lines += ["", "### Bradley-Terry strengths (every arm, unguided fixed at 0)", "",
              f"Logistic regression over every decided vote, guided against unguided and guided against guided (a tie is half a win each way), "
              f"ridge {RIDGE:g}; {LEVEL:.0%} percentile intervals from {BT_RESAMPLES} refits on resampled votes. "
              "Strength is the log-odds of beating the unguided sample.", "",
              "| backend | scale | strength | 95% CI | P(beats unguided) | votes |", "|---|---|---|---|---|---|"]
    for r in bt.itertuples():
        lines.append(f"| {r.backend} | {r.scale:g} | {fmt(r.strength)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {r.p_beats_none:.2f} | {r.n}{_too_small(r.n)} |")
    missing = sorted(set(wins.arm) - set(bt.arm))
    if missing:
        lines += ["", "Not connected to unguided by the votes (no strength): " + ", ".join(missing) + "."]
    agree = rater_agreement(v)
    lines += ["", "### Agreement", ""]
    lines += [f"Between raters: {agree['agreement']:.2f} over {agree['n_comparisons']} pairs of votes on the same pair "
              f"({agree['n_pairs']} pairs rated by several of {agree['n_raters']} raters; 1 same side, 0.5 one tie, 0 opposite)."
              if agree else "Between raters: no pair has votes from two raters yet.", ""]
    ja = judge_agreement(v, df, judge_columns(df))
    lines += ["With each automatic judge on the same pairs (the judge prefers the side it scores higher; scored as between raters):", "",
              "| judge | agreement with the votes | n |", "|---|---|---|"]
    lines += [f"| {r.judge} | {r.agreement:.2f} | {r.n}{_too_small(r.n)} |" for r in ja.itertuples()]
    lines.append("")
    per = {}
    picked = chosen.drop_duplicates("backend")[["backend", "scale"]].merge(wins, on=["backend", "scale"])
    for r in picked.itertuples():
        per[r.backend] = {"human_scale": float(r.scale), "human_win_rate": r.win_rate, "human_win_ci_low": r.ci_low,
                          "human_win_ci_high": r.ci_high, "human_n": int(r.n)}
    return lines, per
