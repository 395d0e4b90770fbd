"""The uplift report's cost-of-a-finished-sample section: every arm against its SD 2.1-base cost, the front, the budgets."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from bench.report.colours import colour  # noqa: E402
from bench.report.uplift_sections import fmt  # noqa: E402
from bench.uplift.front import BUDGETS  # noqa: E402


def plot_front(points: pd.DataFrame, judge: str, path: Path) -> Path:
    """Held-out uplift (95% CI) against cost per finished sample, log x; each backend's front joined by a line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for b, g in points.groupby("backend"):
        off = g[~g.on_front]
        ax.errorbar(off.cost, off.uplift, yerr=[off.uplift - off.ci_low, off.ci_high - off.uplift], fmt="o", color=colour(b),
                    alpha=0.35, ms=4, lw=0.8)
        front = g[g.on_front].sort_values("cost")
        ax.errorbar(front.cost, front.uplift, yerr=[front.uplift - front.ci_low, front.ci_high - front.uplift], fmt="o-",
                    color=colour(b), ms=5, lw=1.2, label=f"{b} (front)")
    for budget in BUDGETS:
        ax.axvline(budget, color="grey", lw=0.6, ls=":")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    right = max(2.1, points.cost.max() * 1.1)
    ticks = [t for t in (1.0, 1.1, 1.2, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 50.0) if t <= right]  # labelled ticks up to the right edge
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks], fontsize=7)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(0.98, right)
    ax.set_xlabel("cost of one finished sample at SD 2.1-base, 512 px (x unguided, cost model)", fontsize=8)
    ax.set_ylabel(f"held-out uplift of {judge} (95% CI)", fontsize=8)
    ax.set_title("every arm (faint: off the front); the front per backend chosen on calibration seeds\ndotted: the budgets "
                 + ", ".join(f"{b:g}x" for b in BUDGETS), fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def front_lines(points: pd.DataFrame, best: pd.DataFrame, judge: str, figure: str) -> list[str]:
    """The section: the budget table, the figure, and every arm with its two costs."""
    toy = "toy_cost" in points
    out = ["## Cost of a finished sample: uplift against cost per sample", "",
           f"Every arm (backend x scale x knob setting) at the cost of one finished sample at SD 2.1-base, 512 px, in unguided "
           "samples: 1 + (guided steps / steps) x (the cost model's per-step FLOP ratio x recurrence x iterations - 1) "
           "(`bench/uplift/sample_cost.py`; a step that re-applies the last update, `reuse_grad`, costs an unguided step). "
           f"Settings are chosen on the calibration seeds and read on the held-out ones (`{judge}`): an arm is on its backend's "
           "front when no arm of that backend as cheap or cheaper has a higher calibration uplift, and at each budget the "
           "backend's setting is the arm within it that the selection rule prefers on calibration.", "",
           "| backend | " + " | ".join(f"best at <= {b:g}x" for b in BUDGETS) + " |", "|---|" + "---|" * len(BUDGETS)]
    for b in sorted(points.backend.unique()):
        cells = []
        for budget in BUDGETS:
            r = best[(best.backend == b) & (best.budget == budget)] if len(best) else best
            cells.append("-" if not len(r) else
                         f"{fmt(r.uplift.iloc[0])} [{fmt(r.ci_low.iloc[0])}, {fmt(r.ci_high.iloc[0])}] at {r.cost.iloc[0]:.3f}x: "
                         f"`{r.setting.iloc[0]}`")
        out.append(f"| {b} | " + " | ".join(cells) + " |")
    out += ["", "Each entry: held-out uplift [95% CI] at the cost of the chosen setting; `-`: no arm of that backend fits the budget.",
            "", f"![uplift against cost per sample]({figure})", "",
            "| backend | setting | SD 2.1-base cost per sample | " + ("toy time per sample vs unguided (this sweep) | " if toy else "")
            + "calibration uplift | held-out uplift | 95% CI | front |", "|---|---|---|" + ("---|" if toy else "") + "---|---|---|---|"]
    for r in points.itertuples():
        out.append(f"| {r.backend} | `{r.setting}` | {r.cost:.3f}x | " + (f"{r.toy_cost:.2f}x | " if toy else "")
                   + f"{fmt(r.calibration_uplift)} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {'yes' if r.on_front else ''} |")
    if toy:
        out += ["", "The toy time is this sweep's own median wall time per sample (decoding and judging included, the same "
                "for every arm) over the unguided arm's: at toy size it says nothing about Stable Diffusion's cost."]
    return out + [""]


def front_headline(best: pd.DataFrame) -> dict[str, dict]:
    """Per backend: `best_uplift_at_<budget>x` with its CI, cost and setting."""
    per: dict[str, dict] = {}
    for r in best.itertuples() if len(best) else ():
        key = f"best_uplift_at_{r.budget:g}x"
        per.setdefault(r.backend, {}).update({key: r.uplift, f"{key}_ci_low": r.ci_low, f"{key}_ci_high": r.ci_high,
                                              f"{key}_cost": r.cost, f"{key}_setting": r.setting})
    return per
