"""Train the toy world's guidance scorers on the trained toy LDM, through the real-checkpoint workflow.

The toy images are written as PNGs with a CSV (the plain data layout of
`scorers.data_table`), features are extracted with `scorers.features` and
heads trained with `scorers.train` by the seed's recipe: exactly the commands
a user runs on SAC with SD 2.1. Then each head is checked against the ground
truth on fresh images it never saw.

    python -m toyworld.build_heads --ldm toyworld/weights/ldm --out toyworld/weights/heads
    python -m toyworld.build_heads --ldm toyworld/weights/ldm --out /tmp/heads --n-images 2000
    python -m toyworld.build_heads --ldm toyworld/weights/ldm --out toyworld/weights/heads --only discriminator

Heads: `midblock` (mid-block features of noised latents, the seed's head),
`midblock_clean` (the same on un-noised latents, the seed's "clean" variant),
`latent` (noised latents), `latent_x0` (clean latents: the `latent-x0` backend
reads it at the x0 estimate), and `discriminator` (real renders against the model's own
samples, `toyworld.build_discriminator`; built last, apart, so it leaves the others
unchanged). The pixel scorer is `toyworld.pixel_scorer`.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from scipy.stats import spearmanr

from scorers import save_head
from scorers.features import FeatureConfig, extract_features
from scorers.train import TrainConfig, train_head
from sdmodels import load_models

from .build_discriminator import DiscriminatorConfig, build_discriminator
from .dataset import make_dataset

HEADS = {  # name -> (kind, noised?)
    "midblock": ("midblock", True),
    "midblock_clean": ("midblock", False),
    "latent": ("latent", True),
    "latent_x0": ("latent_x0", False),  # trained after the others, on the clean features: they stay as they were
}


@dataclass(frozen=True)
class HeadBuildConfig:
    n_images: int = 8000
    data_seed: int = 21
    n_check: int = 1000  # fresh images for the ground-truth check
    check_seed: int = 22
    repeats: int = 2  # noised copies per image
    epochs: int = 1  # the seed's recipe: one epoch
    batch: int = 128
    lr: float = 1e-3
    seed: int = 0


def write_images(ds: dict, folder: Path) -> pd.DataFrame:
    """PNGs + the records table `scorers.features` reads (one rating per image, as in SAC)."""
    folder.mkdir(parents=True, exist_ok=True)
    recs = []
    for i, (img, cap, rating) in enumerate(zip(ds["images"], ds["captions"], ds["ratings"])):
        path = folder / f"{i:06d}.png"
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(path)
        recs.append({"image_path": str(path), "prompt": cap, "rating_mean": float(rating), "rating_count": 1, "image_id": str(i)})
    return pd.DataFrame(recs)


def check_against_truth(models, head_meta_pairs: dict, check_dir: Path, truth: np.ndarray) -> dict:
    """Spearman of each head's expected rating with the ground truth, on its own kind of features of fresh images."""
    from scorers.feature_shards import read_manifest
    from scorers.objectives import make_objective_scorer
    from scorers.train import read_columns, shard_paths

    out = {}
    for name, (head, meta) in head_meta_pairs.items():
        feats = check_dir / ("noisy" if HEADS[name][1] else "clean")
        manifest = read_manifest(feats)
        col = "features" if HEADS[name][0] == "midblock" else "latents"
        cols = [read_columns(p, [col, "image_key"]) for p in shard_paths(feats, manifest)]
        x = torch.cat([c[col] for c in cols]).float()
        scorer = make_objective_scorer(head, meta)
        with torch.no_grad():
            pred = torch.cat([scorer(x[i:i + 256]) for i in range(0, len(x), 256)]).numpy()
        # rows are image-major (row r is image r // repeats)
        reps = len(pred) // len(truth)
        out[name] = float(spearmanr(pred, np.repeat(truth, reps)).statistic)
    return out


def build_heads(ldm: str | Path, out: str | Path, cfg: HeadBuildConfig = HeadBuildConfig(), log=print,
                disc: DiscriminatorConfig = DiscriminatorConfig()) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    models = load_models(str(ldm), "pretrained")
    with tempfile.TemporaryDirectory(prefix="toy-heads-") as tmp:
        tmp = Path(tmp)
        train_recs = write_images(make_dataset(cfg.n_images, seed=cfg.data_seed), tmp / "images")
        check_ds = make_dataset(cfg.n_check, seed=cfg.check_seed)
        check_recs = write_images(check_ds, tmp / "check_images")
        for noised in (True, False):
            sub = "noisy" if noised else "clean"
            fc = FeatureConfig(clean=not noised, repeats=cfg.repeats if noised else 1, noise_seed=cfg.seed, batch=64, feature_dtype="fp32")
            extract_features(models, train_recs, tmp / sub, fc, progress=False)
            extract_features(models, check_recs, tmp / "check" / sub, fc, progress=False)
        log(f"features written ({time.perf_counter() - t0:.0f} s)")
        trained, metrics = {}, {}
        for name, (kind, noised) in HEADS.items():
            tc = TrainConfig(epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr, seed=cfg.seed)
            head, meta, m = train_head(tmp / ("noisy" if noised else "clean"), kind, tc)
            trained[name], metrics[name] = (head, meta), m
            log(f"{name}: held-out accuracy {m['val_accuracy']:.3f}, Spearman vs ratings {m['val_spearman']}")
        truth_rho = check_against_truth(models, trained, tmp / "check", check_ds["truth"])
        for name, (head, meta) in trained.items():
            extra = {**meta.extra, "features": f"toy images seed {cfg.data_seed}", "spearman_truth_fresh": truth_rho[name]}
            # base_model is the LDM's UNet by content (sdmodels/identity.py): the same in any build folder
            save_head(out / name, head, replace(meta, extra=extra))
        built = build_discriminator(models, out / "discriminator", disc, tmp, cfg.seed, log)
    record = {"config": asdict(cfg), "metrics": metrics, "spearman_truth_fresh": truth_rho,
              "discriminator": {"config": asdict(disc), "metrics": built["metrics"]}}
    (out / "heads.json").write_text(json.dumps(record, indent=2) + "\n")  # no times or paths: rebuilt files compare byte for byte
    record["seconds"] = round(time.perf_counter() - t0, 1)
    record["discriminator_sample_seconds"] = round(built["sample_seconds"], 1)
    log(f"heads in {out}: Spearman with ground truth on fresh images {truth_rho}")
    return record


def build_discriminator_only(ldm: str | Path, out: str | Path, disc: DiscriminatorConfig = DiscriminatorConfig(),
                             seed: int = HeadBuildConfig.seed, log=print) -> dict:
    """The discriminator head alone (as the full build makes it), its record merged into an existing heads.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="toy-disc-") as tmp:
        built = build_discriminator(load_models(str(ldm), "pretrained"), out / "discriminator", disc, Path(tmp), seed, log)
    path = out / "heads.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record["discriminator"] = {"config": asdict(disc), "metrics": built["metrics"]}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return built


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m toyworld.build_heads", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ldm", required=True, help="the toy LDM folder (diffusers layout)")
    p.add_argument("--out", required=True, help="folder for the head checkpoints")
    p.add_argument("--n-images", type=int, default=HeadBuildConfig.n_images, help="training images")
    p.add_argument("--only", choices=["discriminator"], default=None,
                   help="build only this head (the others' files are left as they are; heads.json gets its record)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.only == "discriminator":
        build_discriminator_only(a.ldm, a.out)
    else:
        build_heads(a.ldm, a.out, HeadBuildConfig(n_images=a.n_images))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
