"""Which pairs a sweep offers a rater: the same seed and prompt under two arms, both images kept by the sweep.

Arms: the guided arms at the scale each backend's `chosen` (the report's rule on the calibration seeds), at
every `positive` scale, or at `all` scales; CFG-only arms are not offered. Comparisons: each arm against the
unguided one, and guided against guided so that every arm meets the others, not only `none`: arms of
different backends at the same rank of their scales (with `chosen`, every pair of backends), and the same
backend's neighbouring scales. Each comparison gets the same number of (prompt, seed) items, drawn by a
fixed seed from every seed whose two images exist (calibration and held-out seeds alike), so the plan is
an even spread over backends and scales and the same plan comes back each time the page starts.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pandas as pd

from bench.uplift.analysis import choose_scales, judge_columns, samples
from bench.uplift.config import REFERENCE
from bench.uplift.run import arm_of, image_path

ARM_CHOICES = ("chosen", "positive", "all")
PLAN_SEED = 0


@dataclass(frozen=True)
class Pair:
    prompt_idx: int
    seed: int
    a: str  # arm labels, `a` the reference where one of the two is
    b: str

    @property
    def key(self) -> str:
        return f"p{self.prompt_idx}_seed{self.seed}|{self.a}|{self.b}"


@dataclass(frozen=True)
class Plan:
    sweep: Path
    sweep_id: str
    prompts: tuple[str, ...]
    pairs: tuple[Pair, ...]
    images: dict  # arm label -> arm, to find a pair's files
    statement: str  # what the plan offers, in words

    def image(self, pair: Pair, label: str) -> Path:
        return image_path(self.sweep / "images", self.images[label], pair.prompt_idx, pair.seed)


def sweep_identity(sweep: Path) -> str:
    """SHA-256 of the sweep's identity (its config.json's configuration and input files): votes name the sweep they rate."""
    data = json.loads((sweep / "config.json").read_text())
    return hashlib.sha256(json.dumps({k: data.get(k) for k in ("config", "inputs")}, sort_keys=True).encode()).hexdigest()


def selection_judge(df: pd.DataFrame) -> str:
    """The judge scales are chosen by: the ground truth where the world has one, else the image scorer."""
    cols = judge_columns(df)
    return "truth" if "truth" in cols else "judge_image"


def offered_arms(df: pd.DataFrame, which: str) -> pd.DataFrame:
    """backend, scale, arm of the guided arms to offer."""
    if which not in ARM_CHOICES:
        raise ValueError(f"--arms {which!r}: expected one of {', '.join(ARM_CHOICES)}")
    guided = df[df.backend != REFERENCE][["backend", "scale", "arm"]].drop_duplicates()
    if which == "chosen":
        judge = selection_judge(df)
        only = df.drop(columns=[c for c in judge_columns(df) if c != judge])  # the report's choice, without every other judge's bootstraps
        chosen = choose_scales(only, judge)[["arm"]].drop_duplicates()  # the arm: one backend may run a scale at several knob settings
        guided = guided.merge(chosen, on="arm")
    elif which == "positive":
        guided = guided[guided.scale > 0]
    if guided.empty:
        raise ValueError(f"--arms {which}: the sweep has no such guided arms")
    return guided.sort_values(["backend", "scale"]).reset_index(drop=True)


def comparisons(arms: pd.DataFrame) -> list[tuple[str, str]]:
    """(arm, arm) pairs to compare: each against the reference, then guided against guided."""
    rank = arms.groupby("backend").scale.rank(method="first").astype(int)
    out = [(REFERENCE, a) for a in arms.arm]
    for (i, x), (j, y) in combinations(arms.iterrows(), 2):
        same_backend_neighbours = x.backend == y.backend and abs(rank[i] - rank[j]) == 1
        if same_backend_neighbours or (x.backend != y.backend and rank[i] == rank[j]):
            out.append((x.arm, y.arm))
    return out


def make_plan(sweep: str | Path, which: str = "chosen", per_comparison: int | None = None) -> Plan:
    sweep = Path(sweep)
    if not (sweep / "config.json").is_file():
        raise FileNotFoundError(f"--sweep {sweep}: no uplift sweep there (config.json missing)")
    cfg = json.loads((sweep / "config.json").read_text())
    df = samples(sweep / "rows.jsonl")
    arms = offered_arms(df, which)
    labels = {r["arm"]: arm_of(r) for r in df.drop_duplicates("arm").to_dict("records")}
    items = sorted(set(zip(df.prompt_idx, df.seed)))
    comps = comparisons(arms)
    have = {c: [(p, s) for p, s in items if all(image_path(sweep / "images", labels[x], p, s).is_file() for x in c)] for c in comps}
    most = min(len(v) for v in have.values())
    if most == 0:
        raise ValueError(f"--sweep {sweep}: no seed has the images of both arms of {next(c for c, v in have.items() if not v)}; "
                         "run the sweep with --keep-images all")
    k = most if per_comparison is None else per_comparison
    if not 1 <= k <= most:
        raise ValueError(f"--per-comparison {k}: expected 1 to {most} (the seeds whose images every comparison has)")
    rng = random.Random(PLAN_SEED)
    pairs = tuple(Pair(p, s, a, b) for (a, b), v in have.items() for p, s in sorted(rng.sample(v, k)))
    seeds = sorted(df.seed.unique())
    kept = sorted({s for v in have.values() for _, s in v})
    statement = (f"{len(pairs)} pairs: {len(comps)} comparisons x {k} (prompt, seed) items each, drawn from the {len(kept)} of "
                 f"{len(seeds)} seeds whose images the sweep kept; arms: {which} ({', '.join(arms.arm)}); comparisons: "
                 + "; ".join(f"{a} vs {b}" for a, b in comps))
    return Plan(sweep, sweep_identity(sweep), tuple(cfg["config"]["prompts"]), pairs, labels, statement)


def rater_order(plan: Plan, rater: str, salt: str) -> list[int]:
    """The order a rater sees the plan's pairs in: fixed per rater (a reload resumes), unpredictable without the salt."""
    order = list(range(len(plan.pairs)))
    random.Random(f"{salt}:{rater}:order").shuffle(order)
    return order


def left_is_a(salt: str, rater: str, pair: Pair) -> bool:
    """Which side arm `a` is shown on, drawn at random per rater and pair (fixed, so a reload shows the same page)."""
    return random.Random(f"{salt}:{rater}:{pair.key}").random() < 0.5
