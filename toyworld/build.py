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

Stages (build_stages.py) are saved into `<out>.stages/`, so a rerun of a killed
build resumes after its last finished one (stages.py). The command is
`toyworld.build_all`: it picks a recipe (recipes.py; the defaults here are
recipe v1's parts, v2 is the committed world) and adds the pixel scorer and heads.

    python -m toyworld.build_all --out toyworld/weights --overwrite
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from toyworld.arch import IMAGE_SIZE, TEXT_CONFIG, TINY_DECODER_CONFIG, UNET_CONFIG, VAE_CONFIG
from toyworld.build_stages import (STORAGE_DTYPES, _check_job, _data_stage, _encode_stage, _ldm_stage, _shape_job, _tiny_job,
                                   _unet_stage, _vae_stage, _worker_init, clean_targets)
from toyworld.caption_check import CheckConfig
from toyworld.shape_classifier import ShapeTrainConfig
from toyworld.train_tiny_decoder import TinyDecoderTrainConfig
from toyworld.train_unet import UnetTrainConfig
from toyworld.train_vae import VaeTrainConfig
from toyworld.training import set_determinism

__all__ = ["BuildConfig", "OUTPUTS", "STORAGE_DTYPES", "build", "check_out", "clean_targets", "prepare_out"]

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
    # the parts' architectures (diffusers / transformers configs); defaults: recipe v1's (arch.py)
    vae_arch: dict = field(default_factory=lambda: dict(VAE_CONFIG))
    unet_arch: dict = field(default_factory=lambda: dict(UNET_CONFIG))
    text_arch: dict = field(default_factory=lambda: dict(TEXT_CONFIG))
    tiny_arch: dict = field(default_factory=lambda: dict(TINY_DECODER_CONFIG))

    def __post_init__(self):
        if self.storage not in STORAGE_DTYPES:
            raise ValueError(f"storage={self.storage!r}: expected one of {tuple(STORAGE_DTYPES)}")
        if not 0 < self.n_heldout < self.n_images:
            raise ValueError(f"n_heldout={self.n_heldout}: expected 0 < n_heldout < n_images={self.n_images}")
        factor = 2 ** (len(self.vae_arch["block_out_channels"]) - 1)
        if self.unet_arch["sample_size"] * factor != IMAGE_SIZE:
            raise ValueError(f"unet_arch sample_size {self.unet_arch['sample_size']} x VAE factor {factor} != image size {IMAGE_SIZE}")
        tiny_factor = 2 ** (len(self.tiny_arch["decoder_block_out_channels"]) - 1)
        if tiny_factor != factor:
            raise ValueError(f"tiny decoder upsamples x{tiny_factor}: expected the VAE's factor {factor}")


def check_out(out: Path, overwrite: bool, outputs: tuple[str, ...] = OUTPUTS) -> None:
    """Refuse (FileExistsError) a non-empty `out` without overwrite, or one holding files a build did not write."""
    present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if present and not overwrite:
        raise FileExistsError(f"{out} is not empty ({', '.join(present)}): pass --overwrite to replace a previous build")
    strangers = [n for n in present if n not in outputs]
    if strangers:
        raise FileExistsError(f"{out} holds files a build did not write ({', '.join(strangers)}): expected only {', '.join(outputs)}")


def prepare_out(out: Path, overwrite: bool, outputs: tuple[str, ...] = OUTPUTS) -> None:
    """An empty (or new) folder; with overwrite, a previous build's `outputs` are removed first, nothing else."""
    import shutil

    check_out(out, overwrite, outputs)
    for name in (sorted(p.name for p in out.iterdir()) if out.is_dir() else []):
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def build(out: str | Path, reports: str | Path, cfg: BuildConfig = BuildConfig(), command: str = "", overwrite: bool = False,
          side_jobs: dict[str, tuple[Callable, tuple]] | None = None, after_save: tuple[str, Callable, tuple] | None = None,
          stages: str | Path | None = None, recipe: str = "custom", stage_config: dict | None = None,
          stop_after: str | None = None) -> dict | None:
    """Train every part in resumable stages, save them under `out`, check them, write BUILD.json; returns the record.

    Stages go to `stages` (default `<out>.stages`, see stages.py); a rerun resumes after the
    last finished one. `side_jobs` ({name: (module-level fn(*args, folder), args)}) are stages
    of the second process, run while the VAE and UNet train (their results go into the record
    under `side_jobs`); `after_save` = (name, fn, args): fn(ldm_dir, *args, folder) is a stage of
    this process, run while the second checks the saved model (its result goes under `after_save`). `toyworld.build_all`
    trains the pixel scorer and the heads this way. `stage_config` (default: `cfg`) is what
    the stage folder must have been made for. `stop_after` (tests) returns None once that stage of
    this process has finished, cancelling the second process's queued stages, as a killed build would.
    """
    from toyworld import stages as S

    out, reports = Path(out), Path(reports)
    check_out(out, overwrite)
    root = S.open_stages(stages or S.default_stage_dir(out), recipe, stage_config or {"ldm": asdict(cfg)})
    set_determinism(cfg.seed)
    times, start, cpu0, load0 = {}, time.perf_counter(), time.process_time(), os.getloadavg()
    main, second = S.Chain(root), S.Chain(root)
    st = {name: root / name for name in ("data", "vae", "encode", "unet", "shape_classifier", "tiny_decoder", "ldm")}
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init) as pool:
        shape_wait = second.submit(pool, "shape_classifier", _shape_job, (cfg.shape,))
        side_waits = {name: second.submit(pool, name, fn, args) for name, (fn, args) in (side_jobs or {}).items()}
        data = main.run("data", _data_stage, (cfg,))
        if stop_after == "data":
            pool.shutdown(cancel_futures=True)
            return None
        vae = main.run("vae", _vae_stage, (cfg, st["data"]))
        if stop_after == "vae":
            pool.shutdown(cancel_futures=True)
            return None
        scaling = vae["result"]["scaling_factor"]
        main.run("encode", _encode_stage, (cfg, st["data"], st["vae"], scaling))
        if stop_after == "encode":
            pool.shutdown(cancel_futures=True)
            return None
        tiny_wait = second.submit(pool, "tiny_decoder", _tiny_job, (cfg.tiny_decoder, cfg.tiny_arch, str(st["encode"] / "vae"),
                                                                     str(st["encode"] / "latents.pt")))
        unet = main.run("unet", _unet_stage, (cfg, data["result"]["captions"], st["encode"], scaling))
        if stop_after == "unet":
            pool.shutdown(cancel_futures=True)
            return None
        t = time.perf_counter()
        shape, tiny = shape_wait(), tiny_wait()
        side = {name: wait()["result"] for name, wait in side_waits.items()}
        times["wait_second_process_s"] = round(time.perf_counter() - t, 1)
        ldm = main.run("ldm", _ldm_stage, (cfg, {**st, "scaling_factor": scaling}))
        if stop_after == "ldm":
            pool.shutdown(cancel_futures=True)
            return None
        ldm_dir = st["ldm"] / "ldm"
        check_wait = second.submit(pool, "check", _check_job, (str(ldm_dir), str(reports), cfg.check))
        extra = main.run(after_save[0], after_save[1], (ldm_dir, *after_save[2])) if after_save is not None else None
        if after_save is not None and stop_after == after_save[0]:
            pool.shutdown(cancel_futures=True)
            return None
        t = time.perf_counter()
        check = check_wait()
        times["wait_check_s"] = round(time.perf_counter() - t, 1)

    import shutil

    from toyworld.build_record import machine, versions, write_record
    from toyworld.training import Log

    for name in ("data", "vae", "encode", "unet", "shape_classifier", "tiny_decoder", "ldm"):
        times[f"{name}_s"] = S.load_stage(root, name)["seconds"]
    for name in side_jobs or {}:
        times[f"{name}_s"] = S.load_stage(root, name)["seconds"]
    if extra is not None:
        times[f"{after_save[0]}_s"] = extra["seconds"]
    times.update(check["result"]["times"])
    logs = {"vae": vae["result"]["log"], "unet": unet["result"]["log"], "tiny_decoder": tiny["result"]["log"]}
    for name, rows in logs.items():
        Log(rows).write(reports / f"toyworld_train_{name}.csv")
    prepare_out(out, True)
    shutil.copytree(ldm_dir, out, dirs_exist_ok=True)
    times["total_s"] = round(time.perf_counter() - start, 1)
    times["main_process_cpu_s"] = round(time.process_time() - cpu0, 1)
    record = {
        "command": command,
        "recipe": recipe,
        "config": asdict(cfg),
        "times": times,
        "resumed_stages": main.resumed + second.resumed,
        "load_average_1min": {"start": round(load0[0], 2), "end": round(os.getloadavg()[0], 2)},
        "params": {**ldm["result"]["params"], "shape_classifier": shape["result"]["params"]},
        "vae_recon_l1_heldout": round(vae["result"]["recon"], 4),
        "final_loss": {name: rows[-1]["loss"] for name, rows in logs.items()},
        "shape_classifier": shape["result"]["accuracy"],
        "caption_check": check["result"]["caption_check"],
        "side_jobs": side,
        "after_save": None if extra is None else extra["result"],
        "versions": versions(),
        "machine": machine(),
        "threads_per_process": torch.get_num_threads(),
        "stage_dir": str(root),
    }
    write_record(out, record)
    return json.loads((out / "BUILD.json").read_text())  # with the file table and total_bytes
