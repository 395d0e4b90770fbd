"""Uplift report figures: uplift against scale, uplift against cost, guidance against best-of-N, image grids of seeds x scales."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from bench.report.colours import colour  # noqa: E402
from bench.report.grid import save_grid  # noqa: E402
from guidance import BACKENDS, scorer_kind  # noqa: E402


def plot_uplift_vs_scale(table: pd.DataFrame, judges: list[str], path: Path) -> Path:
    ncols = min(3, len(judges))
    nrows = -(-len(judges) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, j in zip(flat, judges):
        t = table[table.judge == j]
        knobs = t.arm.map(lambda a: " ".join(p for p in a.split(" ")[1:] if not p.startswith("scale=")))  # one line per knob setting
        for (backend, k), g in t.groupby([t.backend, knobs]):
            zero = pd.DataFrame([{"scale": 0.0, "uplift": 0.0, "ci_low": 0.0, "ci_high": 0.0}])  # unguided, by definition
            g = pd.concat([g, zero]).sort_values("scale")
            ax.plot(g.scale, g.uplift, marker="o", label=f"{backend} {k}".strip(), color=colour(backend), ls="-" if not k else "--")
            ax.fill_between(g.scale, g.ci_low, g.ci_high, alpha=0.15, color=colour(backend))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"judge: {j}", fontsize=9)
        ax.set_xlabel("guidance scale")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # close scales (0.02, 0.03) would overprint their labels
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylabel("paired uplift vs unguided (95% CI)", fontsize=8)
    for ax in flat[len(judges):]:
        ax.axis("off")
    flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(chosen: pd.DataFrame, judge: str, path: Path) -> Path:
    """Uplift at the chosen scale against cost: at SD 2.1-base scale (cost model) and, apart, this sweep's toy step time."""
    c = chosen[chosen.judge == judge]
    axes_spec = [("step_ms_ratio", "toy step time vs unguided (this sweep, this machine)")]
    if "sd_flop_ratio" in c and c.sd_flop_ratio.notna().any():
        axes_spec.insert(0, ("sd_flop_ratio", "FLOPs vs unguided at SD 2.1-base, 512 px (cost model)"))
    fig, axes = plt.subplots(1, len(axes_spec), figsize=(4.8 * len(axes_spec), 3.6), squeeze=False)
    for ax, (col, label) in zip(axes[0], axes_spec):
        for _, r in c.iterrows():
            ax.errorbar(r[col], r.uplift, yerr=[[r.uplift - r.ci_low], [r.ci_high - r.uplift]], fmt="o", capsize=3,
                        color=colour(r.backend))
            ax.annotate(f"{r.backend} (s={r.scale:g})", (r[col], r.uplift), fontsize=7, xytext=(6, -10), textcoords="offset points")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(label, fontsize=8)
        ax.set_ylabel(f"{judge} uplift, chosen scale (95% CI)", fontsize=8)
    axes[0][0].set_title("uplift against cost (held-out seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_best_of(curve: pd.DataFrame, versus: pd.DataFrame, cfg_points: pd.DataFrame, judge: str, path: Path) -> Path:
    """Uplift against cost per finished sample at SD 2.1-base scale: best-of-N per scorer, CFG only, each guided backend."""
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for scorer, g in curve.groupby("scorer"):
        kind = scorer.removeprefix("judge_")
        c = colour(next(b for b in BACKENDS if scorer_kind(b) == kind))
        users = sorted(versus.backend[versus.scorer == scorer]) if len(versus) else []
        ax.plot(g.best_of, g.uplift, ls="--", marker="s", ms=4, color=c,
                label=f"best-of-N ranked by the {kind} scorer" + (f" ({', '.join(users)}'s own)" if users else ""))
        ax.fill_between(g.best_of, g.ci_low, g.ci_high, color=c, alpha=0.08)
    for _, r in cfg_points.iterrows():
        ax.errorbar(1.0, r.uplift, yerr=[[r.uplift - r.ci_low], [r.ci_high - r.uplift]], fmt="D", ms=5, capsize=3,
                    color="black" if r.best else "grey", label="CFG only (cost 1); black: the chosen CFG scale" if r.best else None)
        ax.annotate(f"CFG {r.cfg:g}", (1.0, r.uplift), fontsize=7, xytext=(-6, 0), textcoords="offset points", ha="right", va="center")
    for _, r in versus.iterrows():
        ax.errorbar(r.cost, r.gt_uplift, yerr=[[r.gt_uplift - r.gt_ci_low], [r.gt_ci_high - r.gt_uplift]], fmt="o", ms=7, capsize=3,
                    color=colour(r.backend), label=f"{r.backend} guided, scale {r.scale:g}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlim(0.7, max(curve.best_of.max(), versus.cost.max() if len(versus) else 1) * 1.3)
    ax.set_xticks(sorted(set(curve.best_of)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("cost per finished sample at SD 2.1-base, 512 px (unguided samples; cost model; log scale)", fontsize=8)
    ax.set_ylabel(f"{judge} uplift vs the pair's unguided sample\n(held-out pairs, 95% CI)", fontsize=8)
    ax.set_title("guidance against best-of-N" + (" and CFG only" if len(cfg_points) else "") + " at the same cost", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def backend_grid(sweep: Path, backend: str, scales: list[float], seeds: list[int], out: Path) -> Path | None:
    cells, cols = [], []
    for s in scales:
        folder = sweep / "images" / ("none" if s == 0 else backend) / f"s{s:+g}"
        if not folder.is_dir():
            continue
        cols.append(f"scale {s:+g}")
        cells.append([folder / f"p0_seed{seed}.png" for seed in seeds])
    if not cells:
        return None
    rows = [[col[i] for col in cells] for i in range(len(seeds))]
    return save_grid(rows, out, [f"seed {s}" for s in seeds], cols, title=f"{backend}: rows = seeds, columns = scales (prompt 0)")
