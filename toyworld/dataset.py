"""A captioned, rated toy dataset: make it from a seed, save it, load it back.

One flat dict of arrays, so it maps one-to-one onto an npz file:

    images      (N, 3, S, S) uint8   what a model trains on (see render.from_uint8)
    captions    list[str]           short captions (caption.py says why short)
    ratings     (N,) int64          one simulated rating per image, 1..10
    truth       (N,) float32        ground-truth score of the stored uint8 pixels
    part_<name> (N,) float32        each TRUTH_PARTS part
    scene_<f>   (N,)                each Scene field (strings as unicode arrays)
    meta        dict                seed, size, n, noise_sd, truth weights

Truth is computed from the quantised pixels that are stored, so anyone can
recompute it from the file. Scenes and ratings draw from separate child seeds,
so changing the rating noise leaves the images unchanged.

    ds = make_dataset(10_000, seed=0)
    save_dataset("data/toyworld-10k", ds); ds = load_dataset("data/toyworld-10k")
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toyworld.caption import caption
from toyworld.ratings import RATING_NOISE_SD, rate
from toyworld.render import from_uint8, render, to_uint8
from toyworld.scene import SCENE_FIELDS, sample_scenes, scenes_from_columns, scenes_to_columns
from toyworld.truth import PART_FLOOR, TRUTH_PARTS, TRUTH_WEIGHTS, combine, truth_parts

FORMAT_VERSION = 1
ARRAYS_FILE = "arrays.npz"
META_FILE = "meta.json"


def make_dataset(n: int, seed: int, size: int = 32, noise_sd: float = RATING_NOISE_SD) -> dict:
    """n scenes rendered at size px, captioned, judged and rated; deterministic in seed."""
    scene_rng, rating_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    scenes = sample_scenes(n, scene_rng)
    images = to_uint8(render(scenes, size=size))
    parts = truth_parts(from_uint8(images))
    truth = combine(parts)
    meta = {"format_version": FORMAT_VERSION, "seed": seed, "n": n, "size": size, "noise_sd": noise_sd,
            "truth_weights": TRUTH_WEIGHTS, "part_floor": PART_FLOOR}
    return {
        "images": images,
        "captions": [caption(s) for s in scenes],
        "ratings": rate(truth, rating_rng, noise_sd),
        "truth": truth,
        **{f"part_{k}": parts[k] for k in TRUTH_PARTS},
        **{f"scene_{k}": v for k, v in scenes_to_columns(scenes).items()},
        "meta": meta,
    }


def dataset_scenes(ds: dict) -> list:
    """The Scene objects behind a dataset's images."""
    return scenes_from_columns({k: ds[f"scene_{k}"] for k in SCENE_FIELDS})


def save_dataset(path: str | Path, ds: dict) -> Path:
    """Write ds into directory path as arrays.npz (compressed) and meta.json (captions + meta)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {k: v for k, v in ds.items() if k not in ("captions", "meta")}
    np.savez_compressed(path / ARRAYS_FILE, **arrays)
    (path / META_FILE).write_text(json.dumps({"meta": ds["meta"], "captions": ds["captions"]}, indent=1))
    return path


def load_dataset(path: str | Path) -> dict:
    """Read a directory written by save_dataset."""
    path = Path(path)
    for name in (ARRAYS_FILE, META_FILE):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} missing: expected a directory written by save_dataset")
    side = json.loads((path / META_FILE).read_text())
    version = side["meta"].get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version}, expected {FORMAT_VERSION}")
    with np.load(path / ARRAYS_FILE, allow_pickle=False) as z:
        ds = {k: z[k] for k in z.files}
    ds["captions"] = side["captions"]
    ds["meta"] = side["meta"]
    return ds
