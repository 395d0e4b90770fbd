"""The PNG figures of reports/cost.md: latency and memory per backend, stacked breakdown, scaling.

Each function returns the path it wrote, or None when its data is not there.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench.cost.breakdown import COMPONENTS  # noqa: E402
from bench.report.colours import BACKEND_COLOURS  # noqa: E402
from bench.report.cost_runs import best_run, reference_latency  # noqa: E402
from guidance import BACKENDS  # noqa: E402

ORDER = list(BACKENDS)
MODE_COLOURS = {"eager": "tab:blue", "graph": "tab:orange", "compile": "tab:green"}
COMPONENT_COLOURS = dict(zip(COMPONENTS, ("tab:blue", "tab:cyan", "tab:green", "tab:red", "tab:purple", "tab:orange", "tab:gray")))


def _plain_log_y(ax) -> None:
    """Log y axis with plain-number ticks: ratios from 1.0x to 10x+ stay readable side by side."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0)))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=()))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _backends(df: pd.DataFrame) -> list[str]:
    present = set(df["backend"])
    return [b for b in ORDER if b in present] + sorted(present - set(ORDER))  # users' own backends after the built-in ones


def _configs(df: pd.DataFrame) -> list[tuple]:
    return sorted(set(zip(df["batch"], df["height"], df["width"])))


def _where(run: dict) -> str:
    return run["gpu"] or "CPU"


def plot_latency_memory(steps: pd.DataFrame, path: Path, run: dict) -> Path | None:
    """Top: step-time ratio to none per backend and mode (bars: median of rounds; whiskers: min-max).
    Bottom: peak memory above the weights (eager)."""
    configs = _configs(steps)
    if not configs:
        return None
    backends = _backends(steps)
    modes = [m for m in MODE_COLOURS if m in set(steps.loc[steps.step_ms.notna(), "mode"])]
    panel = max(4.5, 1.5 + 0.55 * len(backends))
    fig, axes = plt.subplots(2, len(configs), figsize=(min(24, panel * len(configs)), 6.4), squeeze=False)
    width = 0.8 / max(1, len(modes))
    for col, (batch, h, w) in enumerate(configs):
        g = steps[(steps.batch == batch) & (steps.height == h) & (steps.width == w)]
        ax = axes[0][col]
        for i, mode in enumerate(modes):
            m = g[g["mode"] == mode].set_index("backend").reindex(backends)
            xs = [j + (i - (len(modes) - 1) / 2) * width for j in range(len(backends))]
            err = [(m.step_ms_ratio - m.step_ms_ratio_lo).fillna(0).clip(lower=0),
                   (m.step_ms_ratio_hi - m.step_ms_ratio).fillna(0).clip(lower=0)]
            ax.bar(xs, m.step_ms_ratio, width, yerr=err, capsize=2, color=MODE_COLOURS[mode], label=mode)
            for x, v, top in zip(xs, m.step_ms_ratio, m.step_ms_ratio + err[1]):
                if pd.notna(v):  # above the whisker, not on it
                    ax.annotate(f"{v:.2f}", (x, top), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=6)
            if mode == "eager" and "gpu_busy_ratio" in m and m.gpu_busy_ratio.notna().any():
                ax.scatter(xs, m.gpu_busy_ratio, marker="_", s=120, color="black", zorder=3, label="GPU busy ratio (eager)")
        ax.axhline(1.0, color="grey", lw=0.8)
        _plain_log_y(ax)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * 1.15)  # room for the value labels above the tallest whisker
        ax.set_title(f"batch {batch}, {h}x{w} px", fontsize=9)
        ax.set_xticks(range(len(backends)), backends, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("step time / unguided step" if col == 0 else "")
        ax.legend(fontsize=7)
        e = g[g["mode"] == "eager"].set_index("backend").reindex(backends)
        ax = axes[1][col]
        ax.bar(range(len(backends)), e.peak_alloc_gib * (1 if e.peak_alloc_gib.max() >= 0.5 else 1024), color="tab:gray")
        ax.set_xticks(range(len(backends)), backends, rotation=40, ha="right", fontsize=8)
        unit = "GiB" if e.peak_alloc_gib.max() >= 0.5 else "MiB"
        ax.set_ylabel(f"peak allocated above weights ({unit})" if col == 0 else "")
    fig.suptitle(f"{run['name']}: {steps.model.iloc[0]} {steps.dtype.iloc[0]} on {_where(run)}"
                 + (" (random weights)" if steps.random_weights.iloc[0] else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_breakdown(b: pd.DataFrame, path: Path, run: dict) -> Path | None:
    """Stacked bars of time per step by component; backward hatched."""
    if b.empty:
        return None
    col = "device_ms" if b["device_ms"].notna().any() else "cpu_ms"
    unit, scale = ("s", 1e-3) if b[col].max() * len(COMPONENTS) > 10_000 else ("ms", 1.0)  # 140000 ms reads as 140 s
    configs = _configs(b)
    backends = _backends(b)
    panel = max(4.5, 1.5 + 0.55 * len(backends))
    width = min(24, panel * len(configs) + 2)  # 2 inches on the right for the legend
    fig, axes = plt.subplots(1, len(configs), figsize=(width, 4.4), squeeze=False)
    for ax, (batch, h, w) in zip(axes[0], configs):
        g = b[(b.batch == batch) & (b.height == h) & (b.width == w)]
        bottom = [0.0] * len(backends)
        for comp in COMPONENTS:
            for phase, hatch in (("fwd", None), ("bwd", "///")):
                vals = [g[(g.backend == n) & (g.component == comp) & (g.phase == phase)][col].sum() * scale for n in backends]
                if not any(vals):
                    continue
                ax.bar(range(len(backends)), vals, 0.7, bottom=bottom, color=COMPONENT_COLOURS[comp], hatch=hatch,
                       edgecolor="white", linewidth=0.4, label=f"{comp} {phase}")
                bottom = [a + v for a, v in zip(bottom, vals)]
        ax.set_xticks(range(len(backends)), backends, rotation=40, ha="right", fontsize=8)
        ax.set_title(f"batch {batch}, {h}x{w} px", fontsize=9)
        ax.set_ylabel(f"{'kernel' if col == 'device_ms' else 'host op'} {unit} per step")
    seen = {}  # label -> handle, over every panel: a component may appear in one configuration only
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen.keys()), fontsize=7, loc="center right", frameon=False)
    fig.suptitle(f"{run['name']}: where a guided step's time goes ({_where(run)}; hatched = backward)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 2.0 / width, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scaling(runs: list[dict], path: Path, reference: dict) -> Path | None:
    """Ratio and peak memory against batch, per backend, one line style per image size (GPU runs of the
    reference model and dtype; graph-replay ratios where captured, else GPU busy-time ratios)."""

    frames = [r["steps"] for r in runs if r["gpu"] and not r["steps"].empty]
    if not frames:
        return None
    s = pd.concat(frames)
    s = s[(s.model == reference["model"]) & (s.dtype == reference["dtype"])]
    if s.empty or s.batch.nunique() < 2:
        return None
    points = []
    for (batch, h), g in s.groupby(["batch", "height"]):
        g = best_run(g)
        for name in _backends(g):
            ratio = reference_latency(g, name)[0]
            e = g[(g.backend == name) & (g["mode"] == "eager")]
            points.append({"batch": batch, "height": h, "backend": name, "ratio": ratio,
                           "peak": e.peak_alloc_gib.iloc[-1] if not e.empty else None})
    p = pd.DataFrame(points)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = ["-", "--", ":", "-."]
    colours = BACKEND_COLOURS
    for k, h in enumerate(sorted(p.height.unique())):
        for name in _backends(p):
            q = p[(p.height == h) & (p.backend == name)].sort_values("batch")
            label = f"{name} {h}px"
            axes[0].plot(q.batch, q.ratio, styles[k % 4], marker="o", color=colours[name], label=label)
            axes[1].plot(q.batch, q.peak, styles[k % 4], marker="o", color=colours[name], label=label)
    axes[0].set_ylabel("step time / unguided step")
    axes[1].set_ylabel("peak allocated above weights (GiB)")
    for ax in axes:
        ax.set_xlabel("batch (per CFG half)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(p.batch.unique()), [str(b) for b in sorted(p.batch.unique())])
        _plain_log_y(ax)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(f"{reference['model']} {reference['dtype']} on {frames[0].gpu_name.dropna().iloc[0]} (random weights)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
