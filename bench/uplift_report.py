"""Uplift report: a sweep folder -> markdown with tables, plots, image grids and headline figures.

    python -m bench uplift-report --sweep results/uplift/toy --out reports/toyworld.md
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .grid import save_grid  # noqa: E402
from .headline import merge_headline  # noqa: E402
from .uplift_analysis import choose_scales, judge_columns, samples, uplift_table  # noqa: E402

MAIN_JUDGES = ("truth", "judge_midblock", "judge_latent", "judge_image")
OWN_JUDGE = {"midu": "judge_midblock", "midu-hook": "judge_midblock", "latent": "judge_latent"}


def own_judge(backend: str) -> str:
    return OWN_JUDGE.get(backend, "judge_image")


def plot_uplift_vs_scale(table: pd.DataFrame, judges: list[str], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(judges), figsize=(3.6 * len(judges), 3.2), squeeze=False)
    for ax, j in zip(axes[0], judges):
        t = table[table.judge == j]
        for backend, g in t.groupby("backend"):
            zero = pd.DataFrame([{"scale": 0.0, "uplift": 0.0, "ci_low": 0.0, "ci_high": 0.0}])  # unguided, by definition
            g = pd.concat([g, zero]).sort_values("scale")
            ax.plot(g.scale, g.uplift, marker="o", label=backend)
            ax.fill_between(g.scale, g.ci_low, g.ci_high, alpha=0.15)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"judge: {j}", fontsize=9)
        ax.set_xlabel("guidance scale")
    axes[0][0].set_ylabel("paired uplift vs unguided (95% CI)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(chosen: pd.DataFrame, judge: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    c = chosen[chosen.judge == judge]
    for _, r in c.iterrows():
        ax.errorbar(r.step_ms_ratio, r.uplift, yerr=[[r.uplift - r.ci_low], [r.ci_high - r.uplift]], fmt="o", capsize=3)
        ax.annotate(f"{r.backend} (s={r.scale:g})", (r.step_ms_ratio, r.uplift), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("guided step time / unguided step time (this machine)")
    ax.set_ylabel(f"{judge} uplift at the chosen scale (held-out seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
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


def nonfinite_lines(sweep: Path, dtype: str) -> list[str]:
    """Share of guided sample-steps whose gradient or score was NaN/inf (their guidance was skipped)."""
    from .rowstore import read_rows

    rows = pd.DataFrame([r for r in read_rows(sweep / "rows.jsonl") if r["status"] == "ok" and r["backend"] != "none"])
    if rows.empty or "guided_sample_steps" not in rows:
        return []
    g = rows.groupby("backend")[["nonfinite_steps", "guided_sample_steps"]].sum()
    out = ["## Non-finite guidance", "", f"dtype {dtype}; a non-finite gradient or score skips that sample's guidance on that step.", "",
           "| backend | non-finite sample-steps | guided sample-steps | rate |", "|---|---|---|---|"]
    for b, r in g.iterrows():
        out.append(f"| {b} | {int(r.nonfinite_steps)} | {int(r.guided_sample_steps)} | {r.nonfinite_steps / max(r.guided_sample_steps, 1):.4f} |")
    oom = [r for r in read_rows(sweep / "rows.jsonl") if r["status"] == "oom"]
    if oom:
        out += ["", f"{len(oom)} cells ran out of memory: " + ", ".join(f"{r['backend']} scale {r['scale']:+g} ({r.get('mem_at_failure_gib')} GiB)" for r in oom)]
    return out + [""]


def fmt(x: float) -> str:
    return f"{x:+.2f}"


def write_report(sweep: str | Path, out: str | Path, headline: str | Path | None, command: str, sweep_command: str = "") -> Path:
    sweep, out = Path(sweep), Path(out)
    fig_dir = out.parent / (out.stem + "_figures")
    fig_dir.mkdir(parents=True, exist_ok=True)
    if not (sweep / "config.json").is_file():
        raise FileNotFoundError(f"no uplift sweep in {sweep} (config.json missing): run `python -m bench uplift --out {sweep}` first")
    cfg = json.loads((sweep / "config.json").read_text())
    df = samples(sweep / "rows.jsonl")
    judges = [j for j in MAIN_JUDGES if j in judge_columns(df)]
    select = "truth" if "truth" in judges else judges[-1]
    table = uplift_table(df)
    chosen = choose_scales(df, select)
    plot_uplift_vs_scale(table, judges, fig_dir / "uplift_vs_scale.png")
    plot_pareto(chosen, select, fig_dir / "pareto.png")

    lines = [f"# Uplift report: {cfg['config']['model']} ({'random' if cfg['random_weights'] else 'trained'} weights)", ""]
    lines += [f"Made by `{command}` from the sweep in `{sweep}`" + (f", run by `{sweep_command}`." if sweep_command else "."), ""]
    if cfg["random_weights"]:
        lines += ["**Random weights: these uplifts say nothing about image quality; they only exercise the machinery.**", ""]
    n_seeds, n_prompts = df.seed.nunique(), df.prompt_idx.nunique()
    lines += [f"{n_prompts} prompts x {n_seeds} seeds per cell, {cfg['config']['steps']} {cfg['config']['scheduler']} steps, "
              f"CFG {cfg['config']['cfg_scale']}, gradient {cfg['config']['grad_norm']}-normalised onto the {cfg['config']['target']}.", ""]
    lines += ["## Chosen scale per backend (held-out seeds)", "",
              f"For each backend the positive scale with the largest mean `{select}` uplift on the first "
              f"{int(chosen.n_calibration_seeds.iloc[0])} seeds is measured on the other {int(chosen.n_heldout_seeds.iloc[0])}.", "",
              "| backend | scale | judge | uplift | 95% CI | win rate | guided / unguided step time |", "|---|---|---|---|---|---|---|"]
    for _, r in chosen[chosen.judge.isin(judges)].sort_values(["backend", "judge"]).iterrows():
        lines.append(f"| {r.backend} | {r.scale:g} | {r.judge} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | "
                     f"{r.win_rate:.2f} | {r.step_ms_ratio:.2f}x |")
    lines += ["", f"![uplift vs scale]({fig_dir.name}/uplift_vs_scale.png)", "", f"![pareto]({fig_dir.name}/pareto.png)", ""]
    lines += ["## Every cell (all seeds)", "", "| backend | scale | " + " | ".join(judges) + " |", "|---|---|" + "---|" * len(judges)]
    for (b, s), g in table.groupby(["backend", "scale"]):
        by = g.set_index("judge")
        lines.append(f"| {b} | {s:g} | " + " | ".join(f"{fmt(by.uplift[j])} ({by.win_rate[j]:.2f})" if j in by.index else "-" for j in judges) + " |")
    lines += ["", "Each entry: mean paired uplift against the unguided sample of the same seed and prompt (win rate).", ""]
    lines += nonfinite_lines(sweep, cfg["config"]["dtype"])
    lines += ["## Reward hacking", "", "Where a backend's own scorer rises more than the independent judges, it is fitting its scorer's blind spots:", ""]
    lines += ["| backend | scale | own judge uplift | ground-truth / independent uplift |", "|---|---|---|---|"]
    for _, r in chosen[chosen.judge == select].iterrows():
        own = table[(table.backend == r.backend) & (table.scale == r.scale) & (table.judge == own_judge(r.backend))]
        if len(own):
            lines.append(f"| {r.backend} | {r.scale:g} | {fmt(own.uplift.iloc[0])} | {fmt(r.uplift)} |")
    lines += ["", "## Image grids", ""]
    scales = sorted({0.0, *table.scale.unique()})
    seeds = sorted(df.seed.unique())[: cfg["config"]["grid_seeds"]]
    for backend in sorted(table.backend.unique()):
        g = backend_grid(sweep, backend, scales, seeds, fig_dir / f"grid_{backend}.png")
        if g is not None:
            lines += [f"![{backend}]({fig_dir.name}/{g.name})", ""]
    out.write_text("\n".join(lines) + "\n")

    if headline is not None:
        per = {}
        for _, r in chosen[chosen.judge == select].iterrows():
            per[r.backend] = {"gt_scale": float(r.scale), "gt_uplift": r.uplift, "gt_uplift_ci_low": r.ci_low,
                              "gt_uplift_ci_high": r.ci_high, "win_rate": r.win_rate}
        merge_headline(headline, "toyworld", per, {"report": str(out), "judge": select, "command": command,
                                                   "random_weights": cfg["random_weights"]})
    return out
