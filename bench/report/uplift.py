"""Uplift report: a sweep folder -> markdown with tables, plots, image grids and headline figures.

    python -m bench uplift-report --sweep results/uplift/toy --out reports/toyworld.md
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.report.headline import merge_headline
from bench.report.uplift_best_of import best_of_headline, best_of_lines, best_of_reading, no_draws_lines
from bench.report.uplift_plots import backend_grid, plot_best_of, plot_pareto, plot_uplift_vs_scale
from bench.report.uplift_sections import (
    CAPTION_JUDGES, RULE_TEXT, caption_lines, fmt, headline_figures, negative_lines, other_rule_lines, own_judge, parts_lines,
    reading_lines, scale_text, show_path, skipped_lines, warning_lines, world_models_lines,
)
from bench.report.uplift_costs import SD_LABEL, add_costs, cost_cells, cost_headers, sd_costs
from bench.report.uplift_front import front_headline, front_lines, plot_front
from bench.store.provenance import REPO_ROOT
from bench.report.uplift_baselines import cfg_lines
from bench.report.uplift_human import human_section
from bench.report.uplift_realism import realism_lines
from bench.uplift.analysis import choose_scales, judge_columns, samples, split_seeds, uplift_table
from bench.uplift.baselines import against_cfg, cfg_rows, choose_cfg
from bench.uplift.best_of import against_best_of, curves
from bench.uplift.config import REFERENCE
from bench.uplift.front import arm_points, best_within, varies
from bench.uplift.sample_cost import toy_cost_per_sample, with_sample_cost
from bench.uplift.stats import CI_METHOD, LEVEL, N_RESAMPLES
from sdmodels.files import write_atomic

CI_TEXT = (f"Intervals are {LEVEL:.0%} {CI_METHOD} bootstrap intervals (scipy.stats.bootstrap, {N_RESAMPLES} resamples) "
           "of the mean paired difference; n is the number of guided/unguided pairs.")
MAIN_JUDGES = ("truth", "judge_midblock", "judge_latent", "judge_latent_x0", "judge_image")  # those a sweep has (the last chooses without truth)


def write_report(sweep: str | Path, out: str | Path, headline: str | Path | None, command: str, sweep_command: str = "",
                 rule: str = "win", votes: str | Path | None = None) -> Path:
    sweep, out = Path(sweep), Path(out)
    if not (sweep / "config.json").is_file():
        raise FileNotFoundError(f"no uplift sweep in {sweep} (config.json missing): run `python -m bench uplift --out {sweep}` first")
    cfg = json.loads((sweep / "config.json").read_text())
    df = samples(sweep / "rows.jsonl")
    df = with_sample_cost(df, sd_costs(REPO_ROOT / "results")[0], cfg["config"]["sampler"]["steps"])  # every row's cost at SD scale
    df["toy_cost"] = df.arm.map(toy_cost_per_sample(df))
    fig_dir = out.parent / (out.stem + "_figures")
    fig_dir.mkdir(parents=True, exist_ok=True)
    judges = [j for j in MAIN_JUDGES if j in judge_columns(df)]
    select = "truth" if "truth" in judges else judges[-1]
    full = uplift_table(df)
    cfg_table, table = cfg_rows(full), full[~full.index.isin(cfg_rows(full).index)]  # CFG-only arms report apart
    best_cfg = choose_cfg(df, select, rule)
    chosen, gpu_name = add_costs(choose_scales(df, select, rule), REPO_ROOT / "results")
    other = choose_scales(df, select, next(r for r in RULE_TEXT if r != rule))
    versus = against_cfg(df, chosen, best_cfg, select) if best_cfg is not None else None
    draws = samples(sweep / "rows.jsonl", draws=True)  # best-of-N's extra unguided samples (--best-of), apart from every other table
    bo_curve = curves(df, draws, select) if len(draws) else pd.DataFrame()
    bo_versus = against_best_of(df, draws, chosen, cfg["config"]["sampler"]["steps"], select) if len(bo_curve) else pd.DataFrame()
    plot_uplift_vs_scale(table, judges + [j for j in CAPTION_JUDGES if j in judge_columns(df)], fig_dir / "uplift_vs_scale.png")
    plot_pareto(chosen, select, fig_dir / "pareto.png")
    points = arm_points(df, select)
    best_at = best_within(points, rule) if varies(points) else pd.DataFrame()
    if len(best_at):
        plot_front(points, select, fig_dir / "cost_front.png")

    trained = {"model": not cfg["random_weights"],
               **{f"{k} scorer": not d.get("random_weights", True) for k, d in cfg.get("scorers", {}).items() if d.get("kind")}}
    title = "trained weights" if all(trained.values()) else "random weights: " + ", ".join(k for k, v in trained.items() if not v)
    lines = [f"# Uplift report: {show_path(cfg['config']['model']['source'])} ({title})", ""]
    lines += [f"Made by `{command}` from the sweep in `{sweep}`" + (f", run by `{sweep_command}`." if sweep_command else "."), ""]
    commits = df.groupby(df.git_commit.fillna("unknown")).size() if "git_commit" in df else pd.Series(dtype=int)
    if len(commits):
        lines += ["Rows from code " + ", ".join(f"`{c}` ({n} samples)" for c, n in commits.items()) + ".", ""]
    lines += ["Weights: " + ", ".join(f"{k} {'trained' if v else '**random**'}" for k, v in trained.items()) + ".", ""]
    if cfg["random_weights"]:
        lines += ["**Random weights: these uplifts say nothing about image quality; they only exercise the machinery.**", ""]
    elif not all(trained.values()):
        lines += ["**Some scorers have random weights: their rows say nothing about quality, and no gain is read against them.**", ""]
    n_seeds, n_prompts = df.seed.nunique(), df.prompt_idx.nunique()
    lines += [f"{n_prompts} prompts x {n_seeds} seeds per cell, {cfg['config']['sampler']['steps']} {cfg['config']['sampler']['scheduler']} steps, "
              f"CFG {cfg['config']['sampler']['cfg_scale']}, gradient {cfg['config']['guidance']['grad_norm']}-normalised onto the {cfg['config']['guidance']['target']}.", ""]
    independent = select == "truth" or trained.get(f"{select.removeprefix('judge_')} scorer", False)
    lines += reading_lines(chosen, table, select, independent)
    lines += best_of_reading(bo_versus, versus, best_cfg)
    lines += warning_lines(df, table)
    if cfg["config"].get("world") == "toy":
        lines += world_models_lines(cfg["config"]["model"]["source"])
    heads = cost_headers(gpu_name)
    lines += ["## Chosen scale per backend (held-out seeds)", "",
              f"For each backend the positive scale with {RULE_TEXT[rule]} of `{select}` on the first "
              f"{int(chosen.n_calibration_seeds.iloc[0])} seeds is measured on the other {int(chosen.n_heldout_seeds.iloc[0])} "
              f"(n = {int(chosen.n.iloc[0])} pairs per backend). {CI_TEXT}", "",
              "| backend | scale | judge | uplift | 95% CI | win rate | " + " | ".join(heads) + " |", "|---|---|---|---|---|---|" + "---|" * len(heads)]
    for _, r in chosen[chosen.judge.isin(judges)].sort_values(["backend", "judge"]).iterrows():
        lines.append(f"| {r.backend} | {scale_text(r.scale, r.arm)} | {r.judge} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | "
                     f"{r.win_rate:.2f} | {cost_cells(r)} |")
    lines += ["", "Two cost axes, not to be mixed up: the toy step time is the median guided step of this sweep's own run "
              "(device and load as the sweep found them; at toy size the decoder is nearly free and per-op overhead dominates); "
              f"the FLOP ratio is the cost model's for the same step at {SD_LABEL} (`results/costmodel`, `make costmodel`); "
              "measured costs at Stable Diffusion scale are in `reports/cost.md`.", ""]
    lines += [f"![uplift vs scale]({fig_dir.name}/uplift_vs_scale.png)", "", f"![pareto]({fig_dir.name}/pareto.png)", ""]
    lines += ["## Every cell (all seeds)", "", "| backend | scale | " + " | ".join(judges) + " |", "|---|---|" + "---|" * len(judges)]
    for (b, s, arm), g in table.groupby(["backend", "scale", "arm"], sort=False):
        by = g.set_index("judge")
        lines.append(f"| {b} | {scale_text(s, arm)} | " + " | ".join(f"{fmt(by.uplift[j])} ({by.win_rate[j]:.2f})" if j in by.index else "-" for j in judges) + " |")
    lines += ["", f"Each entry: mean paired uplift against the unguided sample of the same seed and prompt (win rate), "
              f"n = {int(table.n.max())} pairs.", ""]
    if len(best_at):
        lines += front_lines(points, best_at, select, f"{fig_dir.name}/cost_front.png")
    lines += other_rule_lines(other, select)
    lines += parts_lines(chosen)
    lines += caption_lines(chosen, table)
    lines += realism_lines(sweep, cfg, df, table, chosen)
    lines += negative_lines(table, select)
    lines += cfg_lines(cfg_table, best_cfg, versus, select)
    held = split_seeds(df)[1]
    if len(bo_curve):
        cfg_held = cfg_rows(uplift_table(df[df.backend == REFERENCE], held))
        cfg_held = cfg_held[cfg_held.judge == select] if len(cfg_held) else cfg_held
        points = pd.DataFrame([{"cfg": float(r.arm.split("=")[-1]), "uplift": r.uplift, "ci_low": r.ci_low, "ci_high": r.ci_high,
                                "best": best_cfg is not None and r.arm == best_cfg.arm} for _, r in cfg_held.iterrows()], columns=["cfg", "uplift", "ci_low", "ci_high", "best"])
        plot_best_of(bo_curve, bo_versus, points, select, fig_dir / "best_of_n.png")
        no_cost = sorted(set(chosen.backend[chosen.sd_flop_ratio.isna()])) if "sd_flop_ratio" in chosen else []
        lines += best_of_lines(bo_curve, bo_versus, versus, select, f"{fig_dir.name}/best_of_n.png", len(draws), no_cost)
    else:
        lines += no_draws_lines(int((df.arm.eq(REFERENCE) & df.seed.isin(held)).sum()))
    lines += skipped_lines(sweep, cfg["config"]["model"]["dtype"])
    lines += ["## Reward hacking", "", "Where a backend's own scorer rises more than the independent judges, it is fitting its scorer's blind spots:", ""]
    lines += ["| backend | scale | own judge uplift | ground-truth / independent uplift |", "|---|---|---|---|"]  # chosen scale, held-out seeds
    for _, r in chosen[chosen.judge == select].iterrows():
        own = chosen[(chosen.backend == r.backend) & (chosen.judge == own_judge(r.backend))]  # held-out seeds, as r
        if len(own):
            lines.append(f"| {r.backend} | {scale_text(r.scale, r.arm)} | {fmt(own.uplift.iloc[0])} | {fmt(r.uplift)} |")
    human, human_per = human_section(sweep, df, chosen, Path(votes) if votes else None)  # [] without votes (bench/rate)
    lines += human
    lines += ["", "## Image grids", ""]
    scales = sorted({0.0, *table.scale.unique()})
    seeds = sorted(df.seed.unique())[: cfg["config"]["grid_seeds"]]
    for backend in sorted(table.backend.unique()):
        g = backend_grid(sweep, backend, scales, seeds, fig_dir / f"grid_{backend}.png")
        if g is not None:
            lines += [f"![{backend}]({fig_dir.name}/{g.name})", ""]
    write_atomic(out, "\n".join(lines) + "\n")

    if headline is not None:
        per = headline_figures(chosen, table, select)
        for backend, values in human_per.items():
            per.setdefault(backend, {}).update(values)
        for _, r in (versus.iterrows() if versus is not None else ()):
            per[r.backend].update({"best_cfg_only": float(best_cfg.arm.split("=")[-1]), "vs_best_cfg_uplift": r.uplift,
                                   "vs_best_cfg_ci_low": r.ci_low, "vs_best_cfg_ci_high": r.ci_high})
        for b, values in [*best_of_headline(bo_versus, versus).items(), *front_headline(best_at).items()]:
            per.setdefault(b, {}).update(values)
        for _, r in other[other.judge == select].iterrows():
            per[r.backend].update({f"gt_scale_by_{r.rule}": float(r.scale), f"gt_uplift_by_{r.rule}": r.uplift,
                                   f"gt_uplift_ci_low_by_{r.rule}": r.ci_low, f"win_rate_by_{r.rule}": r.win_rate})
        merge_headline(headline, "toyworld", per,
                       {"report": str(out), "judge": select, "selection_rule": rule, "command": command, "sweep_command": sweep_command,
                        "random_weights": cfg["random_weights"]})
    return out
