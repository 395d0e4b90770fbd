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
CAPTION_JUDGES = {"caption_colour": "colour match", "caption_shape": "shape match"}
OWN_JUDGE = {"midu": "judge_midblock", "midu-hook": "judge_midblock", "latent": "judge_latent"}


def own_judge(backend: str) -> str:
    return OWN_JUDGE.get(backend, "judge_image")


def plot_uplift_vs_scale(table: pd.DataFrame, judges: list[str], path: Path) -> Path:
    ncols = min(3, len(judges))
    nrows = -(-len(judges) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, j in zip(flat, judges):
        t = table[table.judge == j]
        for backend, g in t.groupby("backend"):
            zero = pd.DataFrame([{"scale": 0.0, "uplift": 0.0, "ci_low": 0.0, "ci_high": 0.0}])  # unguided, by definition
            g = pd.concat([g, zero]).sort_values("scale")
            ax.plot(g.scale, g.uplift, marker="o", label=backend)
            ax.fill_between(g.scale, g.ci_low, g.ci_high, alpha=0.15)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"judge: {j}", fontsize=9)
        ax.set_xlabel("guidance scale")
        ax.set_ylabel("paired uplift vs unguided (95% CI)", fontsize=8)
    for ax in flat[len(judges):]:
        ax.axis("off")
    flat[0].legend(fontsize=7)
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
    ax.set_xlabel("guided / unguided step time (median, this machine)")
    ax.set_ylabel(f"{judge} uplift, chosen scale (95% CI)")
    ax.set_title("uplift against cost (held-out seeds)", fontsize=9)
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


def show_path(path: str | Path) -> str:
    """A path as a reader of the repository sees it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fmt(x: float) -> str:
    return f"{x:+.2f}"


def caption_lines(chosen: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Caption following of guided vs unguided samples, at the chosen scale (held-out seeds) and at every scale."""
    present = [j for j in CAPTION_JUDGES if j in set(table.judge)]
    if not present:
        return []
    out = ["## Caption following", "",
           "Share of samples whose colour (and shape, by the world's silhouette classifier) matches the caption; "
           "guided beside unguided samples of the same seeds and prompts.", "",
           "| backend | scale | seeds | " + " | ".join(f"{CAPTION_JUDGES[j]} guided / unguided" for j in present) + " |",
           "|---|---|---|" + "---|" * len(present)]
    for _, r in chosen[chosen.judge == present[0]].sort_values("backend").iterrows():
        cells = []
        for j in present:
            c = chosen[(chosen.backend == r.backend) & (chosen.judge == j)].iloc[0]
            cells.append(f"{c.guided_mean:.1%} / {c.unguided_mean:.1%}")
        out.append(f"| {r.backend} | {r.scale:g} (chosen) | held-out | " + " | ".join(cells) + " |")
    for (b, s), g in table[table.judge.isin(present)].groupby(["backend", "scale"]):
        by = g.set_index("judge")
        out.append(f"| {b} | {s:g} | all | " + " | ".join(f"{by.guided_mean[j]:.1%} / {by.unguided_mean[j]:.1%}" for j in present) + " |")
    return out + [""]


def parts_lines(chosen: pd.DataFrame) -> list[str]:
    """Ground-truth uplift per part at each backend's chosen scale: where the gain comes from."""
    parts = sorted(j for j in set(chosen.judge) if j.startswith("truth_"))
    if not parts:
        return []
    out = ["## Ground truth by part (chosen scale, held-out seeds)", "",
           "Each part is in [0, 1] before weighting (see `toyworld/truth.py`); entries are mean paired uplift [95% CI].", "",
           "| backend | scale | " + " | ".join(p.removeprefix("truth_") for p in parts) + " |", "|---|---|" + "---|" * len(parts)]
    for b, g in chosen[chosen.judge.isin(parts)].groupby("backend"):
        by = g.set_index("judge")
        out.append(f"| {b} | {by.scale.iloc[0]:g} | " + " | ".join(
            f"{by.uplift[p]:+.3f} [{by.ci_low[p]:+.3f}, {by.ci_high[p]:+.3f}]" for p in parts) + " |")
    return out + [""]


def reading_lines(chosen: pd.DataFrame, table: pd.DataFrame, select: str) -> list[str]:
    """A plain reading of the figures, generated from them: gain, where it comes from, what the guide believed, the cost."""
    out = ["## Reading", "", "Generated from the tables below (held-out seeds at each backend's chosen scale):", ""]
    for _, r in chosen[chosen.judge == select].sort_values("uplift", ascending=False).iterrows():
        at = chosen[chosen.backend == r.backend].set_index("judge")
        own = own_judge(r.backend)
        text = (f"- **{r.backend}** (scale {r.scale:g}): `{select}` {fmt(r.uplift)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}], "
                f"win rate {r.win_rate:.0%}, at {r.step_ms_ratio:.2f}x the unguided step time.")
        if own in at.index and own != select:
            gap = at.uplift[own] - r.uplift
            text += (f" Its own scorer (`{own}`) rose {fmt(at.uplift[own])}: "
                     + (f"{gap:.2f} more than the truth, the part of the gain that is the scorer's own belief (reward hacking)."
                        if gap > 0.25 else "about as much as the truth or less: little sign of reward hacking."))
        parts = at[at.index.str.startswith("truth_")]
        if len(parts):
            top = parts.uplift.sort_values(ascending=False)
            text += " Largest part gains: " + ", ".join(f"{k.removeprefix('truth_')} {v:+.3f}" for k, v in top.head(2).items()) + "."
        if "caption_colour" in at.index:
            c = at.loc["caption_colour"]
            text += f" Colour match {c.guided_mean:.0%} vs {c.unguided_mean:.0%} unguided."
        twice = table[(table.backend == r.backend) & (table.judge == select) & (table.scale >= 1.9 * r.scale)]
        if len(twice):
            t2 = twice.sort_values("scale").iloc[0]
            o2 = table[(table.backend == r.backend) & (table.judge == own) & (table.scale == t2.scale)]
            text += f" At scale {t2.scale:g} ({t2.scale / r.scale:.1f}x) the uplift is {fmt(t2.uplift)} (all seeds)"
            text += f" while its own scorer rose {fmt(o2.uplift.iloc[0])}." if len(o2) and own != select else "."
        out.append(text)
    return out + [""]


def world_models_lines(model: str) -> list[str]:
    """What the toy world's guides and judges are worth, from the build record beside the model (toyworld.build_all)."""
    path = Path(model).parent / "BUILD.json"
    if not path.is_file():
        return []
    rec = json.loads(path.read_text())
    if not {"ldm", "pixel_scorer", "heads"} <= set(rec):
        return []
    cc, heads, pix = rec["ldm"]["caption_check"], rec["heads"], rec["pixel_scorer"]
    out = ["## The world's model and scorers", "",
           f"From `{show_path(path)}` (made by `{rec['command']}` in {rec['times']['total_s'] / 60:.1f} min on {rec['machine']['cores']} cores).", "",
           f"Unguided samples of the LDM follow their captions' colour in {cc['colour_match']:.1%} and shape in {cc['shape_match']:.1%} "
           f"of {cc['n']} prompts (the same checks on real renders: {cc['real_colour_match']:.1%} and {cc['real_shape_match']:.1%}; "
           f"shape chance level is 25%).", "",
           "| scorer | input | held-out accuracy (10 rating classes) | Spearman vs ratings | Spearman vs ground truth (fresh images) |",
           "|---|---|---|---|---|"]
    for name, m in heads["metrics"].items():
        out.append(f"| {name} head | {'mid-block features' if 'midblock' in name else 'latents'}"
                   f"{', clean' if name.endswith('clean') else ', noised'} | {m['val_accuracy']:.3f} | {m['val_spearman']:.3f} | "
                   f"{heads['spearman_truth_fresh'][name]:.3f} |")
    out.append(f"| pixel scorer | decoded images | - | {pix['val_spearman_rating']:.3f} | {pix['val_spearman_truth']:.3f} |")
    return out + ["", "Ratings are the truth plus noise (sd 0.75), rounded, so no scorer can reach a Spearman of 1 against them.", ""]


def negative_rows(table: pd.DataFrame, judge: str) -> pd.DataFrame:
    """Per backend, the most negative scale's uplift by `judge` (all seeds: no choice is made)."""
    neg = table[(table.judge == judge) & (table.scale < 0)]
    return neg.loc[neg.groupby("backend")["scale"].idxmin()] if len(neg) else neg


def negative_lines(table: pd.DataFrame, judge: str) -> list[str]:
    neg = negative_rows(table, judge)
    if neg.empty:
        return []
    out = ["## Negative scales", "", f"Guidance against the scorer should lower `{judge}`: the most negative scale per backend, all seeds.", "",
           "| backend | scale | uplift | 95% CI | win rate |", "|---|---|---|---|---|"]
    for _, r in neg.sort_values("backend").iterrows():
        out.append(f"| {r.backend} | {r.scale:g} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {r.win_rate:.2f} |")
    return out + [""]


def headline_figures(chosen: pd.DataFrame, table: pd.DataFrame, select: str) -> dict[str, dict]:
    """Per backend: the chosen positive scale's ground-truth uplift, win rate, caption match, and the negative scale's uplift."""
    per = {}
    for _, r in chosen[chosen.judge == select].iterrows():
        rec = {"gt_scale": float(r.scale), "gt_uplift": r.uplift, "gt_uplift_ci_low": r.ci_low,
               "gt_uplift_ci_high": r.ci_high, "win_rate": r.win_rate, "gt_n_heldout": int(r.n_heldout_seeds)}
        for j, key in (("caption_colour", "caption_match"), ("caption_shape", "shape_match")):
            c = chosen[(chosen.backend == r.backend) & (chosen.judge == j)]
            if len(c):
                rec[key], rec[f"{key}_unguided"] = c.guided_mean.iloc[0], c.unguided_mean.iloc[0]
        per[r.backend] = rec
    for _, r in negative_rows(table, select).iterrows():
        per.setdefault(r.backend, {}).update({"gt_negative_scale": float(r.scale), "gt_uplift_negative": r.uplift,
                                              "gt_uplift_negative_ci_high": r.ci_high})
    return per


RULE_TEXT = {"win": "the highest win rate against unguided (ties to the larger mean uplift)", "mean": "the largest mean uplift"}


def other_rule_lines(other: pd.DataFrame, select: str) -> list[str]:
    """The other selection rule's choice, so a reader sees how much the headline depends on the rule."""
    rule = other.rule.iloc[0]
    out = [f"## The other selection rule: {rule}", "",
           f"Choosing each backend's scale by {RULE_TEXT[rule]} of `{select}` on the calibration seeds instead; held-out seeds:", "",
           "| backend | scale | uplift | 95% CI | win rate |", "|---|---|---|---|---|"]
    for _, r in other[other.judge == select].sort_values("backend").iterrows():
        out.append(f"| {r.backend} | {r.scale:g} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {r.win_rate:.2f} |")
    return out + [""]


def write_report(sweep: str | Path, out: str | Path, headline: str | Path | None, command: str, sweep_command: str = "",
                 rule: str = "win") -> Path:
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
    chosen = choose_scales(df, select, rule)
    other = choose_scales(df, select, next(r for r in RULE_TEXT if r != rule))
    plot_uplift_vs_scale(table, judges + [j for j in CAPTION_JUDGES if j in judge_columns(df)], fig_dir / "uplift_vs_scale.png")
    plot_pareto(chosen, select, fig_dir / "pareto.png")

    lines = [f"# Uplift report: {show_path(cfg['config']['model'])} ({'random' if cfg['random_weights'] else 'trained'} weights)", ""]
    lines += [f"Made by `{command}` from the sweep in `{sweep}`" + (f", run by `{sweep_command}`." if sweep_command else "."), ""]
    if cfg["random_weights"]:
        lines += ["**Random weights: these uplifts say nothing about image quality; they only exercise the machinery.**", ""]
    n_seeds, n_prompts = df.seed.nunique(), df.prompt_idx.nunique()
    lines += [f"{n_prompts} prompts x {n_seeds} seeds per cell, {cfg['config']['steps']} {cfg['config']['scheduler']} steps, "
              f"CFG {cfg['config']['cfg_scale']}, gradient {cfg['config']['grad_norm']}-normalised onto the {cfg['config']['target']}.", ""]
    lines += reading_lines(chosen, table, select)
    if cfg["config"].get("world") == "toy":
        lines += world_models_lines(cfg["config"]["model"])
    lines += ["## Chosen scale per backend (held-out seeds)", "",
              f"For each backend the positive scale with {RULE_TEXT[rule]} of `{select}` on the first "
              f"{int(chosen.n_calibration_seeds.iloc[0])} seeds is measured on the other {int(chosen.n_heldout_seeds.iloc[0])}.", "",
              "| backend | scale | judge | uplift | 95% CI | win rate | guided / unguided step time |", "|---|---|---|---|---|---|---|"]
    for _, r in chosen[chosen.judge.isin(judges)].sort_values(["backend", "judge"]).iterrows():
        lines.append(f"| {r.backend} | {r.scale:g} | {r.judge} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | "
                     f"{r.win_rate:.2f} | {r.step_ms_ratio:.2f}x |")
    lines += ["", "Step times are medians of the guided steps of this sweep's own run (device and load as the sweep found them); "
              "the costs at Stable Diffusion scale are in `reports/cost.md`.", ""]
    lines += [f"![uplift vs scale]({fig_dir.name}/uplift_vs_scale.png)", "", f"![pareto]({fig_dir.name}/pareto.png)", ""]
    lines += ["## Every cell (all seeds)", "", "| backend | scale | " + " | ".join(judges) + " |", "|---|---|" + "---|" * len(judges)]
    for (b, s), g in table.groupby(["backend", "scale"]):
        by = g.set_index("judge")
        lines.append(f"| {b} | {s:g} | " + " | ".join(f"{fmt(by.uplift[j])} ({by.win_rate[j]:.2f})" if j in by.index else "-" for j in judges) + " |")
    lines += ["", "Each entry: mean paired uplift against the unguided sample of the same seed and prompt (win rate).", ""]
    lines += other_rule_lines(other, select)
    lines += parts_lines(chosen)
    lines += caption_lines(chosen, table)
    lines += negative_lines(table, select)
    lines += nonfinite_lines(sweep, cfg["config"]["dtype"])
    lines += ["## Reward hacking", "", "Where a backend's own scorer rises more than the independent judges, it is fitting its scorer's blind spots:", ""]
    lines += ["| backend | scale | own judge uplift | ground-truth / independent uplift |", "|---|---|---|---|"]  # chosen scale, held-out seeds
    for _, r in chosen[chosen.judge == select].iterrows():
        own = chosen[(chosen.backend == r.backend) & (chosen.judge == own_judge(r.backend))]  # held-out seeds, as r
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
        per = headline_figures(chosen, table, select)
        for _, r in other[other.judge == select].iterrows():
            per[r.backend].update({f"gt_scale_by_{r.rule}": float(r.scale), f"gt_uplift_by_{r.rule}": r.uplift,
                                   f"gt_uplift_ci_low_by_{r.rule}": r.ci_low, f"win_rate_by_{r.rule}": r.win_rate})
        merge_headline(headline, "toyworld", per,
                       {"report": str(out), "judge": select, "selection_rule": rule, "command": command, "sweep_command": sweep_command,
                        "random_weights": cfg["random_weights"]})
    return out
