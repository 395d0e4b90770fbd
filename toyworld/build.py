"""Build the toy latent diffusion model from nothing: data, VAE, text encoder + UNet, tiny decoder, checks.

One command, deterministic (fixed seeds, one CPU thread per process,
`torch.use_deterministic_algorithms`), about 10 minutes on a 2-core CPU. It
writes the diffusers folder layout that `sdmodels.load_models(out,
"pretrained")` reads (unet/, vae/, text_encoder/, tokenizer/, scheduler/,
tiny_decoder/), the caption check's shape classifier (shape_classifier/),
weights stored in fp16 (loading upcasts), and BUILD.json: command, configs,
seeds, stage times, file sizes and hashes, caption-following rates measured
on the saved (fp16) weights, package versions. Training curves go to
`<reports>/toyworld_train_<part>.csv`, a samples grid to
`<reports>/toyworld_samples.png`.

The shape classifier and, later, the tiny decoder train in a second process
while the VAE and the UNet train in the first, so a free second core shortens
the build; each process is single-threaded, so the result does not depend on
how the two are scheduled.

    python -m toyworld.build --out toyworld/weights/ldm --overwrite
    python -m toyworld.build --out /tmp/toy --reports /tmp/toy-reports      # check a rebuild against the committed files:
    python -m toyworld.build_record toyworld/weights/ldm /tmp/toy
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from toyworld.arch import IMAGE_SIZE, SCHEDULER_CONFIG, build_tiny_decoder, build_tokenizer, count_params
from toyworld.caption_check import CheckConfig, check_model
from toyworld.dataset import dataset_scenes, make_dataset
from toyworld.render import render, to_uint8
from toyworld.shape_classifier import ShapeTrainConfig, load_shape_classifier, save_shape_classifier, train_shape_classifier
from toyworld.train_tiny_decoder import TinyDecoderTrainConfig, train_tiny_decoder
from toyworld.train_unet import UnetTrainConfig, train_unet
from toyworld.train_vae import VaeTrainConfig, encode_latents, reconstruction_error, train_vae
from toyworld.training import set_determinism

STORAGE_DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
OUTPUTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler", "tiny_decoder", "shape_classifier", "BUILD.json")


@dataclass(frozen=True)
class BuildConfig:
    n_images: int = 20_000
    n_heldout: int = 1_000  # last images of the dataset: VAE reconstruction error only, never trained on
    data_seed: int = 1000  # the LDM's training scenes; scorers and evaluation use other seeds
    seed: int = 0
    storage: str = "fp16"
    vae: VaeTrainConfig = field(default_factory=VaeTrainConfig)
    unet: UnetTrainConfig = field(default_factory=UnetTrainConfig)
    tiny_decoder: TinyDecoderTrainConfig = field(default_factory=TinyDecoderTrainConfig)
    shape: ShapeTrainConfig = field(default_factory=ShapeTrainConfig)
    check: CheckConfig = field(default_factory=CheckConfig)

    def __post_init__(self):
        if self.storage not in STORAGE_DTYPES:
            raise ValueError(f"storage={self.storage!r}: expected one of {tuple(STORAGE_DTYPES)}")
        if not 0 < self.n_heldout < self.n_images:
            raise ValueError(f"n_heldout={self.n_heldout}: expected 0 < n_heldout < n_images={self.n_images}")


def clean_targets(ds: dict) -> np.ndarray:
    """The dataset's scenes rendered without grain (the VAE decoder's targets, see train_vae.py)."""
    return to_uint8(render([dataclasses.replace(s, grain=0.0) for s in dataset_scenes(ds)], size=IMAGE_SIZE))


def _shape_job(cfg: ShapeTrainConfig, folder: str) -> tuple[dict, float]:
    set_determinism(cfg.seed)
    t0 = time.perf_counter()
    net, acc = train_shape_classifier(cfg)
    save_shape_classifier(net, folder, {**acc, "config": asdict(cfg)})
    return acc, round(time.perf_counter() - t0, 1)


def _tiny_job(cfg: TinyDecoderTrainConfig, vae_dir: str, latents_file: str) -> tuple[dict, list[dict], float]:
    from diffusers import AutoencoderKL

    set_determinism(cfg.seed)
    t0 = time.perf_counter()
    vae = AutoencoderKL.from_pretrained(vae_dir).eval().requires_grad_(False)
    lat = torch.load(latents_file)
    tiny, log = train_tiny_decoder(vae, lat["mean"], lat["std"], cfg)
    return tiny.state_dict(), log.rows, round(time.perf_counter() - t0, 1)


def _check_job(out: str, reports: str, cfg: CheckConfig) -> tuple[dict, int, dict]:
    """Caption check and samples grid of the saved model (fp16 on disk, upcast), in the second process."""
    from sdmodels import load_models
    from toyworld.samples_grid import sample_grid

    set_determinism(cfg.seed)
    times, t = {}, time.perf_counter()
    models = load_models(out, "pretrained")  # judge what was saved, not what was trained
    shape_net = load_shape_classifier(Path(out) / "shape_classifier")
    check = check_model(models, shape_net, cfg)["summary"]
    times["caption_check_s"], t = round(time.perf_counter() - t, 1), time.perf_counter()
    sample_grid(models, shape_net, Path(reports) / "toyworld_samples.png", cfg=cfg)
    times["samples_grid_s"] = round(time.perf_counter() - t, 1)
    return check, count_params(shape_net), times


def _timed(times: dict, name: str, t0: float) -> float:
    times[f"{name}_s"] = round(time.perf_counter() - t0, 1)
    print(f"[build] {name}: {times[f'{name}_s']} s", flush=True)
    return time.perf_counter()


def prepare_out(out: Path, overwrite: bool, outputs: tuple[str, ...] = OUTPUTS) -> None:
    """An empty (or new) folder; with overwrite, a previous build's `outputs` are removed first, nothing else."""
    import shutil

    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if present and not overwrite:
        raise FileExistsError(f"{out} is not empty ({', '.join(present)}): pass --overwrite to replace a previous build")
    strangers = [n for n in present if n not in outputs]
    if strangers:
        raise FileExistsError(f"{out} holds files a build did not write ({', '.join(strangers)}): expected only {', '.join(outputs)}")
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def build(out: str | Path, reports: str | Path, cfg: BuildConfig = BuildConfig(), command: str = "", overwrite: bool = False,
          side_jobs: dict[str, tuple[Callable, tuple]] | None = None, after_save: Callable[[Path], dict] | None = None) -> dict:
    """Train every part, save them under `out`, check them, write BUILD.json; returns the record.

    `side_jobs` ({name: (module-level function, args)}) run in the second process while
    the VAE and UNet train (their results go into the record under `side_jobs`);
    `after_save(out)` runs in this process while the second checks the saved model
    (its result goes under `after_save`). `toyworld.build_all` trains the pixel scorer
    and the heads this way.
    """
    out, reports = Path(out), Path(reports)
    prepare_out(out, overwrite)
    set_determinism(cfg.seed)
    times, start, cpu0, load0 = {}, time.perf_counter(), time.process_time(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="toyworld-build-") as scratch, \
            ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = _train(Path(scratch), pool, out, cfg, times, side_jobs or {})
        return _save_and_check(parts, out, reports, cfg, times, start, cpu0, load0, command, pool, after_save)


def _train(scratch: Path, pool: ProcessPoolExecutor, out: Path, cfg: BuildConfig, times: dict, side_jobs: dict) -> dict:
    shape_future = pool.submit(_shape_job, cfg.shape, str(out / "shape_classifier"))
    side_futures = {name: pool.submit(fn, *args) for name, (fn, args) in side_jobs.items()}  # queued behind the shape job

    t = time.perf_counter()
    ds = make_dataset(cfg.n_images, cfg.data_seed)
    images, targets = ds["images"], clean_targets(ds)
    n_train = cfg.n_images - cfg.n_heldout
    t = _timed(times, "data", t)

    vae, vae_log = train_vae(images[:n_train], cfg.vae, targets[:n_train])
    recon = reconstruction_error(vae, images[n_train:])
    t = _timed(times, "vae", t)

    mean, std = encode_latents(vae, images[:n_train])
    vae.save_pretrained(scratch / "vae")
    torch.save({"mean": mean, "std": std}, scratch / "latents.pt")
    tiny_future = pool.submit(_tiny_job, cfg.tiny_decoder, str(scratch / "vae"), str(scratch / "latents.pt"))
    t = _timed(times, "encode", t)

    tokenizer = build_tokenizer()
    unet, text_encoder, unet_log = train_unet(mean, std, ds["captions"][:n_train], tokenizer, vae.config.scaling_factor, cfg.unet)
    t = _timed(times, "unet", t)

    shape_acc, times["shape_classifier_s"] = shape_future.result()
    tiny_state, tiny_rows, times["tiny_decoder_s"] = tiny_future.result()
    side = {name: f.result() for name, f in side_futures.items()}
    tiny = build_tiny_decoder(cfg.tiny_decoder.seed)
    tiny.load_state_dict(tiny_state)
    _timed(times, "wait_second_process", t)
    return {"vae": vae, "unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer, "tiny": tiny.eval().requires_grad_(False),
            "recon": recon, "shape_acc": shape_acc, "side": side,
            "logs": {"vae": vae_log.rows, "unet": unet_log.rows, "tiny_decoder": tiny_rows}}


def _save_and_check(p: dict, out: Path, reports: Path, cfg: BuildConfig, times: dict, start: float, cpu0: float, load0, command: str,
                    pool: ProcessPoolExecutor, after_save: Callable[[Path], dict] | None) -> dict:
    from sdmodels import Models, save_models
    from toyworld.build_record import machine, versions, write_record
    from toyworld.training import Log

    t = time.perf_counter()
    unet, vae, text_encoder, tiny = p["unet"], p["vae"], p["text_encoder"], p["tiny"]
    dtype = STORAGE_DTYPES[cfg.storage]
    parts = [m.to(dtype) for m in (unet, vae, text_encoder, tiny)]
    save_models(Models("toyworld", "pretrained", parts[0], parts[1], parts[2], p["tokenizer"], dict(SCHEDULER_CONFIG), IMAGE_SIZE,
                       _tiny_decoder=parts[3]), out)
    for name, rows in p["logs"].items():
        Log(rows).write(reports / f"toyworld_train_{name}.csv")
    t = _timed(times, "save", t)

    reports.mkdir(parents=True, exist_ok=True)
    check_future = pool.submit(_check_job, str(out), str(reports), cfg.check)
    extra = None
    if after_save is not None:
        extra = after_save(out)
        t = _timed(times, "after_save", t)
    check, shape_params, check_times = check_future.result()
    times.update(check_times)
    _timed(times, "wait_check", t)

    times["total_s"] = round(time.perf_counter() - start, 1)
    times["main_process_cpu_s"] = round(time.process_time() - cpu0, 1)
    record = {
        "command": command,
        "config": asdict(cfg),
        "times": times,
        "load_average_1min": {"start": round(load0[0], 2), "end": round(os.getloadavg()[0], 2)},
        "params": {"unet": count_params(unet), "vae": count_params(vae), "text_encoder": count_params(text_encoder),
                   "tiny_decoder": count_params(tiny), "shape_classifier": shape_params},
        "vae_recon_l1_heldout": round(p["recon"], 4),
        "final_loss": {name: rows[-1]["loss"] for name, rows in p["logs"].items()},
        "shape_classifier": p["shape_acc"],
        "caption_check": check,
        "side_jobs": p["side"],
        "after_save": extra,
        "versions": versions(),
        "machine": machine(),
        "threads_per_process": torch.get_num_threads(),
    }
    write_record(out, record)
    return json.loads((out / "BUILD.json").read_text())  # with the file table and total_bytes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("toyworld/weights/ldm"), help="folder for the model (diffusers layout) and BUILD.json")
    ap.add_argument("--reports", type=Path, default=Path("reports"), help="folder for training CSVs and the samples grid")
    ap.add_argument("--overwrite", action="store_true", help="replace a previous build's outputs in --out")
    args = ap.parse_args(argv)
    command = "python -m toyworld.build " + " ".join(sys.argv[1:] if argv is None else argv)
    rec = build(args.out, args.reports, BuildConfig(), command=command.strip(), overwrite=args.overwrite)
    print(f"[build] total {rec['times']['total_s']} s; colour match {rec['caption_check']['colour_match']:.3f}, "
          f"shape match {rec['caption_check']['shape_match']:.3f} (n={rec['caption_check']['n']}); "
          f"{rec['total_bytes'] / 1e6:.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
