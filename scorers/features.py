"""Precompute what the heads train on: mid-block features of noised latents, with their ratings.

For each rated image (scorers.records, read by scorers.data): encode it with the
model's VAE (x0 = posterior mean * scaling_factor: deterministic, and the
posterior's spread is tiny next to the forward-process noise added next), draw
t uniformly in [t_min, t_max] and eps ~ N(0, I) and form x_t with the
scheduler's own `add_noise` (or keep x0 at t = 0: the "clean" variant), run the
UNet's down and mid blocks with the prompt (conditional half only, no graph:
guidance/unet_split.down_mid, the up path never runs) and keep the mid-block
output. This is what the mid-U seed precomputed. Each row also keeps x_t itself
(the latent head trains on it), t, the rating mean and count, and optionally an
integer `label` (class heads), `real` (discriminator heads) and a CLIP image embedding (CLIP-embedding heads).

On disk: `shard-00000.safetensors`, ... of `shard_rows` rows each plus
`manifest.json` (model, shapes, timestep range, noise seed, data hash, shards
done). Every row's t and eps come from its own seed (noise_seed, row), and each
shard is written to a temp file and renamed, so a killed run continues at its
first missing shard and ends with the same files as an uninterrupted one.

    python -m scorers.features --model tiny --weights random --data toy/ratings.csv --out feats/tiny
    python -m scorers.features --model sd21-base --data sac/sac_public_2022_06_29.sqlite --out feats/sd21 \\
        --device cuda --dtype fp16 --batch 64 --skip-missing-images
    python -m scorers.features --model tiny --weights random --data toy/ratings.csv --out feats/clean --clean
"""

import argparse
import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from safetensors.torch import save_file
from tqdm import tqdm

from guidance import unet_split
from scorers.feature_shards import FORMAT, resume_state, shard_name, write_atomic, write_manifest
from sdmodels import encode_prompts
from sdmodels.identity import model_identity

STORE_DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


@dataclass(frozen=True)
class FeatureConfig:
    t_min: int = 0
    t_max: int | None = None  # None: the scheduler's last training timestep
    clean: bool = False  # no noise: x_t = x0 at t = 0 (what the midu backend's final score reads)
    noise_seed: int = 0
    repeats: int = 1  # noised copies per image (each its own t and eps)
    shard_rows: int = 1024
    batch: int = 16
    image_size: int | None = None  # pixels; None: the model's resolution
    feature_dtype: str = "fp16"  # storage: fp16 halves the disk (SD 2.1 at 512 px: 160 KiB per row)
    clip_arch: str | None = None  # open_clip tower that embeds each image, for CLIP-embedding heads
    clip_checkpoint: str | None = None  # its local weights; None with clip_arch: random weights (tests)
    workers: int = 4  # threads decoding images

    def __post_init__(self):
        if self.feature_dtype not in STORE_DTYPES:
            raise ValueError(f"feature_dtype={self.feature_dtype!r}: expected one of {sorted(STORE_DTYPES)}")
        for name in ("repeats", "shard_rows", "batch", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected an integer >= 1")
        if self.t_max is not None and not 0 <= self.t_min <= self.t_max:
            raise ValueError(f"timestep range [{self.t_min}, {self.t_max}]: expected 0 <= t_min <= t_max")


@dataclass(frozen=True)
class FeatureRun:
    manifest: dict
    rows_computed: int  # by this call (0 when everything was already on disk)
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.rows_computed / self.seconds if self.seconds > 0 else float("nan")


def data_sha256(records: pd.DataFrame) -> str:
    """Hash of what was rated (ids, prompts, ratings, labels), not of where the files lie."""
    cols = [c for c in ("image_id", "prompt", "rating_mean", "rating_count", "label", "real") if c in records.columns]
    return hashlib.sha256(records[cols].to_csv(index=False).encode()).hexdigest()


def image_key(image_id: str) -> int:
    """A stable non-negative int64 from an image id: the held-out split is drawn from it."""
    return int.from_bytes(hashlib.sha256(image_id.encode()).digest()[:8], "little") >> 1


def load_image(path: str, size: int) -> torch.Tensor:
    """(3, size, size) in [-1, 1]: shortest side to `size` (PIL antialiases), then a centre crop."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = size / min(w, h)
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BICUBIC)
        left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
        im = im.crop((left, top, left + size, top + size))
        x = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)
    return x.float() / 127.5 - 1


def row_noise(seed: int, row: int, shape, t_lo: int, t_hi: int) -> tuple[int, torch.Tensor]:
    """(t, eps) of one row from its own seed: independent of batching, sharding and resumption."""
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, row]).generate_state(1, np.uint64)[0] >> 1))
    t = int(torch.randint(t_lo, t_hi + 1, (), generator=g))
    return t, torch.randn(shape, generator=g)


@torch.no_grad()
def encode_latents(vae, pixels: torch.Tensor) -> torch.Tensor:
    """x0 = (posterior mean - shift) * scaling_factor, as the diffusers pipelines scale latents."""
    upcast = bool(vae.config.get("force_upcast")) and vae.dtype == torch.float16  # SDXL's VAE overflows in fp16
    dtype = vae.dtype
    if upcast:
        vae.to(torch.float32)
    try:
        z = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mean
    finally:
        if upcast:
            vae.to(dtype)
    shift = vae.config.get("shift_factor") or 0.0
    return (z - shift) * vae.config.scaling_factor


def settings(models, records, cfg: FeatureConfig, size: int, t_range, label_names) -> dict:
    """What the shards depend on; a resumed run must match it exactly."""
    scheduler = models.scheduler("ddim")
    n_rows = len(records) * cfg.repeats
    return {
        "format": FORMAT,
        "model": models.source, "base_model": model_identity(models.source), "weights": models.weights, "dtype": str(models.dtype).removeprefix("torch."),
        "feature_shape": list(models.mid_feature_shape(size, size)), "latent_shape": list(models.latent_shape(size, size)),
        "image_size": size, "latent_from": "posterior mean", "scaling_factor": models.vae.config.scaling_factor,
        "noise": "none" if cfg.clean else "uniform t, gaussian eps", "timesteps": list(t_range),
        "num_train_timesteps": scheduler.config.num_train_timesteps, "noise_seed": cfg.noise_seed,
        "repeats": cfg.repeats, "shard_rows": cfg.shard_rows, "batch": cfg.batch, "feature_dtype": cfg.feature_dtype,
        "data_sha256": data_sha256(records), "images": len(records), "rows": n_rows,
        "num_shards": -(-n_rows // cfg.shard_rows),
        "num_labels": int(records["label"].max()) + 1 if "label" in records.columns else None,
        "label_names": list(label_names) if label_names else None,
        "clip": {"arch": cfg.clip_arch, "checkpoint": cfg.clip_checkpoint,
                 "random_weights": cfg.clip_checkpoint is None} if cfg.clip_arch else None,
    }


def compute_rows(models, records, rows: range, cfg, size, t_range, pool, embedder) -> dict[str, torch.Tensor]:
    """The shard columns of `rows` (row r is image r // repeats), computed in batches."""

    store = STORE_DTYPES[cfg.feature_dtype]
    scheduler = models.scheduler("ddim")
    latent_shape = models.latent_shape(size, size)
    cols: dict[str, list] = {}
    for start in range(rows.start, rows.stop, cfg.batch):
        batch_rows = list(range(start, min(start + cfg.batch, rows.stop)))
        idx = [r // cfg.repeats for r in batch_rows]
        uniq = sorted(set(idx))
        pixels = torch.stack(list(pool.map(lambda i: load_image(records.image_path.iat[i], size), uniq)))
        x0_uniq = encode_latents(models.vae, pixels).float().cpu()
        x0 = x0_uniq[[uniq.index(i) for i in idx]]
        drawn = [row_noise(cfg.noise_seed, r, latent_shape, *t_range) for r in batch_rows]
        t = torch.tensor([d[0] for d in drawn], dtype=torch.long)
        x_t = x0 if cfg.clean else scheduler.add_noise(x0, torch.stack([d[1] for d in drawn]), t)
        cond = encode_prompts(models, [records.prompt.iat[i] for i in idx], height=size, width=size)
        with torch.no_grad():
            h = unet_split.down_mid(models.unet, x_t.to(models.device, models.dtype), t.to(models.device),
                                    cond.cond, cond.added_cond).h
        got = {"features": h.to(store).cpu(), "latents": x_t.to(store),
               "timestep": t, "row": torch.tensor(batch_rows, dtype=torch.long),
               "rating_mean": torch.tensor(records.rating_mean.to_numpy()[idx], dtype=torch.float32),
               "rating_count": torch.tensor(records.rating_count.to_numpy()[idx], dtype=torch.long),
               "image_key": torch.tensor([image_key(records.image_id.iat[i]) for i in idx], dtype=torch.long)}
        if "label" in records.columns:
            got["label"] = torch.tensor(records.label.to_numpy()[idx], dtype=torch.long)
        if "real" in records.columns:
            got["real"] = torch.tensor(records.real.to_numpy()[idx], dtype=torch.long)
        if embedder is not None:
            with torch.no_grad():
                emb = embedder(pixels.to(embedder.mean.device)).cpu()
            got["clip_embedding"] = emb[[uniq.index(i) for i in idx]]
        for k, v in got.items():
            cols.setdefault(k, []).append(v)
    return {k: torch.cat(v).contiguous() for k, v in cols.items()}


def extract_features(models, records: pd.DataFrame, out: str | Path, cfg: FeatureConfig = FeatureConfig(),
                     label_names=None, progress: bool = True) -> FeatureRun:
    """Write (or finish writing) the feature shards of `records` for `models` into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = cfg.image_size or models.resolution
    last_t = models.scheduler("ddim").config.num_train_timesteps - 1
    t_range = (0, 0) if cfg.clean else (cfg.t_min, last_t if cfg.t_max is None else cfg.t_max)
    if t_range[1] > last_t:
        raise ValueError(f"t_max={t_range[1]} is past the scheduler's last training timestep {last_t}")
    manifest = settings(models, records, cfg, size, t_range, label_names)
    if label_names and len(label_names) != manifest["num_labels"]:
        raise ValueError(f"{len(label_names)} label names for {manifest['num_labels'] or 'no'} labels: "
                         "names need the data's `label` column, one name per label 0..K-1")
    done = resume_state(out, manifest)
    for stray in out.glob("*.tmp"):  # a shard being written when the last run died
        stray.unlink()
    embedder = None
    if cfg.clip_arch:
        from scorers.objectives import clip_image_embedder, load_clip_model

        embedder = clip_image_embedder(load_clip_model(cfg.clip_arch, cfg.clip_checkpoint)).to(models.device)
    n_rows, s = manifest["rows"], cfg.shard_rows
    start = time.perf_counter()
    computed = 0
    bar = tqdm(total=n_rows, unit="img", desc=f"features -> {out}", disable=not progress)
    with ThreadPoolExecutor(cfg.workers) as pool:
        for k in range(manifest["num_shards"]):
            rows = range(k * s, min((k + 1) * s, n_rows))
            if shard_name(k) in done:
                bar.update(len(rows))
                continue
            cols = compute_rows(models, records, rows, cfg, size, t_range, pool, embedder)
            ids = json.dumps([records.image_id.iat[r // cfg.repeats] for r in rows])
            write_atomic(out / shard_name(k), lambda p: save_file(cols, str(p), metadata={"image_ids": ids}))
            done.append(shard_name(k))
            write_manifest(out, {**manifest, "shards_done": sorted(done), "complete": False})
            computed += len(rows)
            bar.update(len(rows))
            bar.set_postfix(img_per_s=f"{computed / (time.perf_counter() - start):.2f}")
    bar.close()
    manifest = {**manifest, "shards_done": sorted(done), "complete": True}
    write_manifest(out, manifest)
    return FeatureRun(manifest, computed, time.perf_counter() - start)


def main(argv=None) -> int:
    from scorers.data import read_records
    from sdmodels import DTYPES, load_models

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="bench model source: preset, local diffusers folder or hub id")
    p.add_argument("--weights", default="pretrained", help="pretrained or random")
    p.add_argument("--data", required=True, help="SAC .sqlite database, or a .csv/.parquet of image_path, prompt, rating")
    p.add_argument("--images-dir", default=None, help="where SAC's paths.path resolve (default: the database's folder)")
    p.add_argument("--skip-missing-images", action="store_true", help="leave out images whose file is absent")
    p.add_argument("--out", required=True, help="output folder (shards + manifest.json); an unfinished one is resumed")
    p.add_argument("--t-min", type=int, default=0, help="lowest timestep drawn")
    p.add_argument("--t-max", type=int, default=None, help="highest timestep drawn (default: the last training timestep)")
    p.add_argument("--clean", action="store_true", help="no noise: features of the clean latents at t = 0")
    p.add_argument("--noise-seed", type=int, default=0, help="seed of every row's t and eps")
    p.add_argument("--repeats", type=int, default=1, help="noised copies per image")
    p.add_argument("--shard-rows", type=int, default=1024, help="rows per shard")
    p.add_argument("--batch", type=int, default=16, help="images per UNet call")
    p.add_argument("--image-size", type=int, default=None, help="pixels (default: the model's resolution)")
    p.add_argument("--feature-dtype", default="fp16", help=f"storage dtype: {', '.join(STORE_DTYPES)}")
    p.add_argument("--clip-arch", default=None, help="open_clip architecture whose image embeddings go into the shards")
    p.add_argument("--clip-checkpoint", default=None, help="local open_clip checkpoint (omitted: random weights)")
    p.add_argument("--label-names", default=None, help="comma-separated names of the integer labels 0..K-1")
    p.add_argument("--workers", type=int, default=4, help="threads decoding images")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", help=f"model dtype: {', '.join(DTYPES)}")
    a = p.parse_args(argv)
    if a.dtype not in DTYPES:
        p.error(f"--dtype {a.dtype!r}: expected one of {', '.join(DTYPES)}")
    cfg = FeatureConfig(t_min=a.t_min, t_max=a.t_max, clean=a.clean, noise_seed=a.noise_seed, repeats=a.repeats,
                        shard_rows=a.shard_rows, batch=a.batch, image_size=a.image_size, feature_dtype=a.feature_dtype,
                        clip_arch=a.clip_arch, clip_checkpoint=a.clip_checkpoint, workers=a.workers)
    records = read_records(a.data, images_dir=a.images_dir, skip_missing=a.skip_missing_images)
    models = load_models(a.model, a.weights, dtype=DTYPES[a.dtype], device=a.device)
    if cfg.clip_arch and cfg.clip_checkpoint is None:
        print(f"note: CLIP embeddings from {cfg.clip_arch} with RANDOM weights (no --clip-checkpoint)", file=sys.stderr)
    run = extract_features(models, records, a.out, cfg, label_names=a.label_names.split(",") if a.label_names else None)
    m = run.manifest
    print(f"{m['rows']} rows in {m['num_shards']} shards at {a.out} (features {m['feature_shape']}, "
          f"t in {m['timesteps']}); this run: {run.rows_computed} images in {run.seconds:.1f} s, "
          f"{run.images_per_s:.2f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
