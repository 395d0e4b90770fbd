"""The stages of `toyworld.build`: each `fn(..., folder)` writes its files into `folder` and returns a
JSON-able result (see stages.py for how they are published and resumed).

Main process: data -> vae -> encode -> unet -> ldm (then build_all's heads); second process:
shape_classifier (-> build_all's pixel_scorer) -> tiny_decoder -> check. Every stage seeds what
it draws from; the ldm stage builds the tiny decoder last, as the build always did, so the heads
that follow it in the same process start from the same random state.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from toyworld.arch import (IMAGE_SIZE, SCHEDULER_CONFIG, build_text_encoder, build_tiny_decoder, build_tokenizer, build_unet, build_vae,
                           count_params)
from toyworld.caption_check import CheckConfig, check_model
from toyworld.dataset import dataset_scenes, make_dataset
from toyworld.render import render, to_uint8
from toyworld.shape_classifier import ShapeTrainConfig, load_shape_classifier, save_shape_classifier, train_shape_classifier
from toyworld.train_tiny_decoder import TinyDecoderTrainConfig, train_tiny_decoder
from toyworld.train_unet import tokenize, train_unet
from toyworld.train_vae import encode_latents, reconstruction_error, train_vae
from toyworld.training import THREADS, set_determinism

STORAGE_DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def clean_targets(ds: dict) -> np.ndarray:
    """The dataset's scenes rendered without grain (the VAE decoder's targets, see train_vae.py)."""
    return to_uint8(render([dataclasses.replace(s, grain=0.0) for s in dataset_scenes(ds)], size=IMAGE_SIZE))


# ---- stages: each fn(..., folder) writes its files into folder and returns a JSON-able result ----

def _data_stage(cfg: "BuildConfig", folder: Path) -> dict:
    ds = make_dataset(cfg.n_images, cfg.data_seed)
    np.save(folder / "images.npy", ds["images"])
    np.save(folder / "targets.npy", clean_targets(ds))
    return {"captions": list(ds["captions"])}


def _load_vae(stage: Path, cfg: "BuildConfig", scaling_factor: float):
    vae = build_vae(cfg.vae.seed, cfg.vae_arch)
    vae.load_state_dict(torch.load(stage / "vae.pt"))
    vae.register_to_config(scaling_factor=scaling_factor)
    return vae.eval().requires_grad_(False)


def _vae_stage(cfg: "BuildConfig", data: Path, folder: Path) -> dict:
    images, targets = np.load(data / "images.npy"), np.load(data / "targets.npy")
    n_train = cfg.n_images - cfg.n_heldout
    vae, vae_log = train_vae(images[:n_train], cfg.vae, targets[:n_train], arch=cfg.vae_arch)
    recon = reconstruction_error(vae, images[n_train:])
    torch.save(vae.state_dict(), folder / "vae.pt")
    return {"scaling_factor": vae.config.scaling_factor, "recon": recon, "log": vae_log.rows}


def _encode_stage(cfg: "BuildConfig", data: Path, vae_stage: Path, scaling_factor: float, folder: Path) -> dict:
    vae = _load_vae(vae_stage, cfg, scaling_factor)
    images = np.load(data / "images.npy")
    mean, std = encode_latents(vae, images[:cfg.n_images - cfg.n_heldout])
    vae.save_pretrained(folder / "vae")  # what the tiny decoder's job reads
    torch.save({"mean": mean, "std": std}, folder / "latents.pt")
    return {}


def _unet_stage(cfg: "BuildConfig", captions: list[str], encode: Path, scaling_factor: float, folder: Path) -> dict:
    lat = torch.load(encode / "latents.pt")
    unet, text_encoder, unet_log = train_unet(lat["mean"], lat["std"], captions[:cfg.n_images - cfg.n_heldout], build_tokenizer(),
                                              scaling_factor, cfg.unet, unet_arch=cfg.unet_arch, text_arch=cfg.text_arch)
    torch.save(unet.state_dict(), folder / "unet.pt")
    torch.save(text_encoder.state_dict(), folder / "text_encoder.pt")
    return {"log": unet_log.rows}


def _shape_job(cfg: ShapeTrainConfig, folder: Path) -> dict:
    set_determinism(cfg.seed)
    net, acc = train_shape_classifier(cfg)
    save_shape_classifier(net, folder / "shape_classifier", {**acc, "config": asdict(cfg)})
    return {"accuracy": acc, "params": count_params(net)}


def _tiny_job(cfg: TinyDecoderTrainConfig, arch: dict, vae_dir: str, latents_file: str, folder: Path) -> dict:
    from diffusers import AutoencoderKL

    set_determinism(cfg.seed)
    vae = AutoencoderKL.from_pretrained(vae_dir).eval().requires_grad_(False)
    lat = torch.load(latents_file)
    tiny, log = train_tiny_decoder(vae, lat["mean"], lat["std"], cfg, arch=arch)
    torch.save(tiny.state_dict(), folder / "tiny_decoder.pt")
    return {"log": log.rows}


def _ldm_stage(cfg: "BuildConfig", st: dict, folder: Path) -> dict:
    """The saved model (storage dtype, diffusers layout, with the shape classifier) in folder/ldm."""
    import shutil

    from sdmodels import Models, save_models

    unet, text_encoder = build_unet(cfg.unet.seed, cfg.unet_arch), build_text_encoder(cfg.unet.seed + 1, cfg.text_arch)
    unet.load_state_dict(torch.load(st["unet"] / "unet.pt"))
    text_encoder.load_state_dict(torch.load(st["unet"] / "text_encoder.pt"))
    vae = _load_vae(st["vae"], cfg, st["scaling_factor"])
    tiny = build_tiny_decoder(cfg.tiny_decoder.seed, cfg.tiny_arch)  # last, as ever: its seed is the state the heads start from
    tiny.load_state_dict(torch.load(st["tiny_decoder"] / "tiny_decoder.pt"))
    modules = [m.eval().requires_grad_(False) for m in (unet, vae, text_encoder, tiny)]
    params = {"unet": count_params(unet), "vae": count_params(vae), "text_encoder": count_params(text_encoder),
              "tiny_decoder": count_params(tiny)}
    dtype = STORAGE_DTYPES[cfg.storage]
    parts = [m.to(dtype) for m in modules]
    out = folder / "ldm"
    tokenizer = build_tokenizer()
    tokenize(tokenizer, [""])  # a fast tokenizer saves the padding/truncation state of its last call: the UNet training's
    shutil.copytree(st["shape_classifier"] / "shape_classifier", out / "shape_classifier")
    save_models(Models("toyworld", "pretrained", parts[0], parts[1], parts[2], tokenizer, dict(SCHEDULER_CONFIG), IMAGE_SIZE,
                       _tiny_decoder=parts[3]), out)
    return {"params": params}


def _check_job(ldm: str, reports: str, cfg: CheckConfig, folder: Path) -> dict:
    """Caption check and samples grid of the saved model (fp16 on disk, upcast), in the second process."""
    from sdmodels import load_models
    from toyworld.samples_grid import sample_grid

    set_determinism(cfg.seed)
    times, t = {}, time.perf_counter()
    models = load_models(ldm, "pretrained")  # judge what was saved, not what was trained
    shape_net = load_shape_classifier(Path(ldm) / "shape_classifier")
    check = check_model(models, shape_net, cfg)["summary"]
    times["caption_check_s"], t = round(time.perf_counter() - t, 1), time.perf_counter()
    Path(reports).mkdir(parents=True, exist_ok=True)
    sample_grid(models, shape_net, Path(reports) / "toyworld_samples.png", cfg=cfg)
    times["samples_grid_s"] = round(time.perf_counter() - t, 1)
    return {"caption_check": check, "times": times}


def _worker_init() -> None:
    """One thread, deterministic kernels (what every job of the second process ran under), no seeding;
    on Linux the worker dies with the build's main process, so a killed build leaves no stage half-run behind it."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
