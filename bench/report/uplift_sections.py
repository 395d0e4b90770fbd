"""Sections of the uplift report, each a list of markdown lines generated from the tables (bench/uplift/analysis.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.report.uplift_costs import cost_phrase
from bench.store.rows import read_rows
from guidance import scorer_kind

MIN_PAIRS = 8  # fewer guided/unguided pairs than this: a cell's interval says nothing
CAPTION_JUDGES = {"caption_colour": "colour match", "caption_shape": "shape match"}


def show_path(path: str | Path) -> str:
    """A path as a reader of the repository sees it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fmt(x: float) -> str:
    return f"{x:+.2f}"


def scale_text(scale: float, arm: str) -> str:
    """A cell's scale, with the knobs its arm sets beside it (`0.36 (every_k=12)`); the scale alone for a plain arm."""
    knobs = [p for p in arm.split(" ")[1:] if not p.startswith("scale=")]
    return f"{scale:g}" + (f" ({' '.join(knobs)})" if knobs else "")


def own_judge(backend: str) -> str:
    """The judge a backend is guided by: the sweep's scorer of its kind (guidance.BACKENDS)."""
    return f"judge_{scorer_kind(backend)}"


def skipped_lines(sweep: Path, dtype: str) -> list[str]:
    """Share of guided sample-steps whose guidance was skipped: non-finite gradient or score, or saturated."""
    rows = pd.DataFrame([r for r in read_rows(sweep / "rows.jsonl") if r["status"] == "ok" and r["backend"] != "none"])
    if rows.empty or "guided_steps" not in rows:
        return []
    counted = "saturated_steps" in rows  # sweeps made before the saturation check did not count it
    if not counted:
        rows["saturated_steps"] = 0
    g = rows.groupby("backend")[["nonfinite_steps", "saturated_steps", "guided_steps"]].sum()
    out = ["## Skipped guidance: non-finite and saturated", "",
           f"dtype {dtype}. A non-finite gradient or score skips that sample's guidance on that step; so does a saturated one, "
           "a gradient below what rounding of the score alone can produce (`guidance/grad_checks.py`), which RMS "
           "normalisation would otherwise turn into a full step.", "",
           "| backend | non-finite sample-steps | saturated sample-steps | guided sample-steps | skipped share |", "|---|---|---|---|---|"]
    for b, r in g.iterrows():
        skipped = r.nonfinite_steps + r.saturated_steps
        sat = str(int(r.saturated_steps)) if counted else "not counted"
        out.append(f"| {b} | {int(r.nonfinite_steps)} | {sat} | {int(r.guided_steps)} | {skipped / max(r.guided_steps, 1):.4f} |")
    if not counted:
        out += ["", "This sweep was made before the saturation check existed: any saturated steps in it were guided, and none are counted."]
    oom = [r for r in read_rows(sweep / "rows.jsonl") if r["status"] == "oom"]
    if oom:
        out += ["", f"{len(oom)} cells ran out of memory: " + ", ".join(f"{r['backend']} scale {r['scale']:+g} ({r.get('mem_at_failure_gib')} GiB)" for r in oom)]
    return out + [""]


def warning_lines(df: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """What a reader must know before trusting the figures: skipped guidance, judges that gave no number."""
    out = []
    guided = df[df.backend != "none"]
    bad = int((guided.get("nonfinite_steps", pd.Series(dtype=float)) > 0).sum())
    if bad:
        out.append(f"- **Warning:** {bad} of {len(guided)} guided samples had a non-finite gradient or score on at least one step "
                   "(that step's guidance was skipped for them; see the skipped-guidance table).")
    left = int(table.n_left_out.sum()) if "n_left_out" in table else 0
    if left:
        out.append(f"- **Warning:** {left} judge values were NaN or inf (stored as null); those pairs are left out of the figures.")
    return out + [""] if out else []


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
        out.append(f"| {r.backend} | {scale_text(r.scale, r.arm)} (chosen) | held-out | " + " | ".join(cells) + " |")
    for (b, s, arm), g in table[table.judge.isin(present)].groupby(["backend", "scale", "arm"], sort=False):
        by = g.set_index("judge")
        out.append(f"| {b} | {scale_text(s, arm)} | all | " + " | ".join(f"{by.guided_mean[j]:.1%} / {by.unguided_mean[j]:.1%}" for j in present) + " |")
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


def reading_lines(chosen: pd.DataFrame, table: pd.DataFrame, select: str, independent: bool = True) -> list[str]:
    """A plain reading of the figures, generated from them: gain, where it comes from, what the guide believed, the cost.

    Reward hacking is read only against a ground truth or an independent trained judge (`independent`)."""
    out = ["## Reading", "", "Generated from the tables below (held-out seeds at each backend's chosen scale):", ""]
    for _, r in chosen[chosen.judge == select].sort_values("uplift", ascending=False).iterrows():
        at = chosen[chosen.backend == r.backend].set_index("judge")
        own = own_judge(r.backend)
        text = (f"- **{r.backend}** (scale {scale_text(r.scale, r.arm)}): `{select}` {fmt(r.uplift)} [{fmt(r.ci_low)}, {fmt(r.ci_high)}], "
                f"win rate {r.win_rate:.0%}, {cost_phrase(r)}.")
        if r.n < MIN_PAIRS:
            text += f" **Too small to read: {int(r.n)} pairs (fewer than {MIN_PAIRS}).**"
        truth = "the truth" if select == "truth" else f"`{select}`"
        if own in at.index and own != select and independent:
            gap = at.uplift[own] - r.uplift
            text += (f" Its own scorer (`{own}`) rose {fmt(at.uplift[own])}: "
                     + (f"{gap:.2f} more than {truth}, the part of the gain that is the scorer's own belief (reward hacking)."
                        if gap > 0.25 else f"about as much as {truth} or less: little sign of reward hacking."))
        elif own in at.index and own != select:
            text += f" Its own scorer (`{own}`) rose {fmt(at.uplift[own])}; `{select}` has random weights, so no gain is read against it."
        parts = at[at.index.str.startswith("truth_")]
        if len(parts):
            top = parts.uplift.sort_values(ascending=False)
            text += " Largest part gains: " + ", ".join(f"{k.removeprefix('truth_')} {v:+.3f}" for k, v in top.head(2).items()) + "."
        if "caption_colour" in at.index:
            c = at.loc["caption_colour"]
            text += f" Colour match {c.guided_mean:.0%} vs {c.unguided_mean:.0%} unguided"
            if "caption_shape" in at.index:
                sh = at.loc["caption_shape"]
                text += f", shape match {sh.guided_mean:.0%} vs {sh.unguided_mean:.0%}"
            text += "."
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
                   f"{', clean' if name.endswith(('clean', 'x0')) else ', noised'} | {m['val_accuracy']:.3f} | {m['val_spearman']:.3f} | "
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
        out.append(f"| {r.backend} | {scale_text(r.scale, r.arm)} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {r.win_rate:.2f} |")
    return out + [""]


RULE_TEXT = {"win": "the highest win rate against unguided (ties to the larger mean uplift)", "mean": "the largest mean uplift"}


def other_rule_lines(other: pd.DataFrame, select: str) -> list[str]:
    """The other selection rule's choice, so a reader sees how much the headline depends on the rule."""
    rule = other.rule.iloc[0]
    out = [f"## The other selection rule: {rule}", "",
           f"Choosing each backend's scale by {RULE_TEXT[rule]} of `{select}` on the calibration seeds instead; held-out seeds:", "",
           "| backend | scale | uplift | 95% CI | win rate |", "|---|---|---|---|---|"]
    for _, r in other[other.judge == select].sort_values("backend").iterrows():
        out.append(f"| {r.backend} | {scale_text(r.scale, r.arm)} | {fmt(r.uplift)} | [{fmt(r.ci_low)}, {fmt(r.ci_high)}] | {r.win_rate:.2f} |")
    return out + [""]


def headline_figures(chosen: pd.DataFrame, table: pd.DataFrame, select: str) -> dict[str, dict]:
    """Per backend: the chosen positive scale's ground-truth uplift, win rate, caption match, and the negative scale's uplift."""
    per = {}
    for _, r in chosen[chosen.judge == select].iterrows():
        rec = {"gt_scale": float(r.scale), "gt_uplift": r.uplift, "gt_uplift_ci_low": r.ci_low,
               "gt_uplift_ci_high": r.ci_high, "win_rate": r.win_rate, "gt_n_heldout": int(r.n_heldout_seeds)}
        for j, key in (("caption_colour", "colour_match"), ("caption_shape", "shape_match")):
            c = chosen[(chosen.backend == r.backend) & (chosen.judge == j)]
            if len(c):
                rec[key], rec[f"{key}_unguided"] = c.guided_mean.iloc[0], c.unguided_mean.iloc[0]
        per[r.backend] = rec
    for _, r in negative_rows(table, select).iterrows():
        per.setdefault(r.backend, {}).update({"gt_negative_scale": float(r.scale), "gt_uplift_negative": r.uplift,
                                              "gt_uplift_negative_ci_high": r.ci_high})
    return per
