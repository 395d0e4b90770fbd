"""The uplift report's realism section: does guidance move samples towards the real distribution?

Judged by measures no head was trained on, in a world that gives them
(`World.features`, `World.reference`: the toy world's shape-classifier
features and renders of the prompts' captions): the kernel distance (KID,
bench/uplift/kid.py) of each arm's samples to real renders of the same
prompts, guided beside unguided on the same (prompt, seed) pairs, and per-row
measures (the truth's clean and sharpness parts, the shape classifier's
confidence in the caption's shape). KID reads the images the sweep kept, so it
needs `--keep-images all`; a sweep without them, or in a world without the
feature space, gets a line saying why instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bench.report.uplift_sections import scale_text
from bench.uplift import WORLDS
from bench.uplift.config import REFERENCE
from bench.uplift.kid import kid_difference, kid_subsets
from bench.uplift.run import arm_of, image_path

ROW_MEASURES = {"truth_clean": "clean", "truth_sharpness": "sharpness", "caption_shape_conf": "shape confidence"}
MIN_PAIRS = 16  # fewer kept images than this per arm: no KID
KID_UNIT = 1e3  # KID is reported x 1000


def _load(paths: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1 for p in paths])


def _kept(sweep: Path, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """arm label -> its rows (prompt_idx, seed, path) whose images the sweep kept."""
    out = {}
    for label, g in df.groupby("arm", sort=False):
        arm = arm_of(g.iloc[0].to_dict())
        paths = [image_path(sweep / "images", arm, int(p), int(s)) for p, s in zip(g.prompt_idx, g.seed)]
        have = [p.is_file() for p in paths]
        out[label] = pd.DataFrame({"prompt_idx": g.prompt_idx.to_numpy()[have], "seed": g.seed.to_numpy()[have],
                                   "path": [p for p, h in zip(paths, have) if h], "backend": g.backend.iloc[0],
                                   "scale": g.scale.iloc[0]})
    return out


def _kid_rows(sweep: Path, cfg: dict, df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One row per guided arm: KID of guided and unguided to the reference and their paired difference; or why none."""
    world = WORLDS.get(cfg["config"].get("world") or "", lambda: None)()
    if world is None or world.features is None or world.reference is None:
        return pd.DataFrame(), "This sweep's world gives no fixed feature space and real reference set, so no kernel distance is computed."
    features = world.features(cfg["config"]["model"]["source"])
    if features is None:
        return pd.DataFrame(), f"No kernel distance: the model `{cfg['config']['model']['source']}` has none of the world's feature space beside it."
    kept = _kept(sweep, df)
    base = kept.get(REFERENCE)
    if base is None or len(base) < MIN_PAIRS:
        return pd.DataFrame(), (f"No kernel distance: the sweep kept {0 if base is None else len(base)} unguided images "
                                f"(it needs {MIN_PAIRS} or more per arm: run the sweep with `--keep-images all`).")
    prompts = list(cfg["config"]["prompts"])
    per_prompt = int(df.groupby("prompt_idx").seed.nunique().max())
    raw = features(world.reference(prompts, per_prompt))
    rms = float(np.sqrt((raw ** 2).mean())) or 1.0  # one scale for all dimensions: x . y / d of order 1 for the cubic kernel
    features = (lambda f: lambda images: f(images) / rms)(features)
    ref = raw / rms
    base = base.set_index(["prompt_idx", "seed"])
    rows = []
    for label, g in kept.items():
        if label == REFERENCE:
            continue
        g = g.set_index(["prompt_idx", "seed"])
        common = g.index.intersection(base.index)
        if len(common) < MIN_PAIRS:
            continue
        x1, x0 = features(_load(list(g.loc[common, "path"]))), features(_load(list(base.loc[common, "path"])))
        k1, k0, d = kid_subsets(x1, ref), kid_subsets(x0, ref), kid_difference(x1, x0, ref)
        rows.append({"arm": label, "backend": g.backend.iloc[0], "scale": g.scale.iloc[0], "n": len(common), "n_ref": len(ref),
                     "kid": k1["kid"], "kid_lo": k1["ci_low"], "kid_hi": k1["ci_high"], "kid0": k0["kid"], "kid0_lo": k0["ci_low"],
                     "kid0_hi": k0["ci_high"], "diff": d["diff"], "diff_lo": d["ci_low"], "diff_hi": d["ci_high"]})
    return pd.DataFrame(rows), ""


def _k(v: float) -> str:
    return f"{v * KID_UNIT:.2f}"


def realism_lines(sweep: str | Path, cfg: dict, df: pd.DataFrame, table: pd.DataFrame, chosen: pd.DataFrame) -> list[str]:
    """The report's "Realism" section (markdown lines); a sweep without the needed rows or images gets a line saying why."""
    kids, why = _kid_rows(Path(sweep), cfg, df)
    measures = [j for j in ROW_MEASURES if len(table) and j in set(table.judge)]
    out = ["## Realism: distance to real renders", ""]
    if why:
        out += [why, ""]
    if not len(kids) and not measures:
        return out + ["No per-row realism measures either (rows lack " + ", ".join(f"`{j}`" for j in ROW_MEASURES) + ").", ""]
    out += ["KID (x 1000) of each arm's samples to renders of the same prompts' captions (`World.reference`, a fixed seed), in the "
            "shape classifier's penultimate features (trained on renders; no guidance head reads them; divided by the reference set's "
            "root mean square, one number for all dimensions), guided and unguided on the "
            "same (prompt, seed) pairs, all seeds; lower is closer to real. Intervals: 2.5-97.5 percentiles over random half "
            "subsets (the KID paper's subset scheme, conservative); the difference uses the same subsets for both arms. "
            "Per-row measures: guided mean (paired uplift against unguided), all seeds.", ""]
    heads = [ROW_MEASURES[j] for j in measures]
    out += ["| backend | scale | n | KID guided [CI] | KID unguided [CI] | difference [CI] | " + " | ".join(heads) + " |",
            "|---|---|---|---|---|---|" + "---|" * len(heads)]
    arms = list(dict.fromkeys(list(kids.arm) if len(kids) else []) | dict.fromkeys(table.arm if len(measures) else []))
    for arm in arms:
        k = kids[kids.arm == arm].iloc[0] if len(kids) and (kids.arm == arm).any() else None
        t = table[table.arm == arm].set_index("judge")
        if k is None and not len(t):
            continue
        backend, scale = (k.backend, k.scale) if k is not None else (t.backend.iloc[0], t.scale.iloc[0])
        cells = ([str(k.n), f"{_k(k.kid)} [{_k(k.kid_lo)}, {_k(k.kid_hi)}]", f"{_k(k.kid0)} [{_k(k.kid0_lo)}, {_k(k.kid0_hi)}]",
                  f"{k['diff'] * KID_UNIT:+.2f} [{k.diff_lo * KID_UNIT:+.2f}, {k.diff_hi * KID_UNIT:+.2f}]"] if k is not None else ["-"] * 4)
        cells += [f"{t.guided_mean[j]:.3f} ({t.uplift[j]:+.3f})" if j in t.index else "-" for j in measures]
        out.append(f"| {backend} | {scale_text(scale, arm)} | " + " | ".join(cells) + " |")
    out += [""] + _sentences(kids, table, chosen)
    return out


def _sentences(kids: pd.DataFrame, table: pd.DataFrame, chosen: pd.DataFrame) -> list[str]:
    """Per backend at its chosen scale: towards or away from real renders (KID), and the aesthetic truth there."""
    out = []
    for _, c in chosen[chosen.judge == "truth"].sort_values("backend").iterrows() if "truth" in set(chosen.judge) else ():
        k = kids[kids.arm == c.arm] if len(kids) else kids
        if not len(k):
            continue
        k = k.iloc[0]
        where = ("closer to" if k.diff_hi < 0 else "further from" if k.diff_lo > 0 else "neither measurably closer to nor further from")
        out.append(f"- {c.backend} at its chosen scale {scale_text(c.scale, c.arm)}: samples are {where} real renders "
                   f"(KID difference x 1000 {k['diff'] * KID_UNIT:+.2f} [{k.diff_lo * KID_UNIT:+.2f}, {k.diff_hi * KID_UNIT:+.2f}], all seeds), "
                   f"and the aesthetic truth moves {c.uplift:+.2f} [{c.ci_low:+.2f}, {c.ci_high:+.2f}] (held-out seeds).")
    return out + ([""] if out else [])
