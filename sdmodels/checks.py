"""Every check on model setup that needs no model: names, devices, dtypes, schedulers, image sizes.

One home for them, so `sample`, `uplift`, `cost-run` and `costmodel` refuse the
same bad input with the same line, before anything is built.
"""
from __future__ import annotations

from pathlib import Path

from sdmodels.presets import PRESETS

WEIGHTS = ("pretrained", "random")
TORCH_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}  # name -> torch attribute (torch loads on use)
# single-file checkpoints (sdmodels/single_file.py): safetensors, or pickles read with weights_only=True
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
# scheduler name -> diffusers class name (resolved on use, so naming one imports nothing)
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "dpmpp": "DPMSolverMultistepScheduler",  # algorithm_type defaults to dpmsolver++
}


def check_choice(what: str, value: str, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


def check_source(source: str, weights: str) -> None:
    """A preset, a local folder, a single-file checkpoint or a hub id, with weights that can exist for it."""
    check_choice("weights", weights, WEIGHTS)
    if source in PRESETS or Path(source).is_dir():
        return
    if Path(source).suffix in CHECKPOINT_SUFFIXES:
        if not Path(source).is_file():
            raise FileNotFoundError(f"checkpoint {source} not found")
        if weights == "random":
            raise ValueError(f"{source} is a single-file checkpoint: pass --weights pretrained to load it (--weights random needs a preset or a diffusers folder)")
        return
    if weights == "random":
        raise ValueError(f"unknown model {source!r}: --weights random needs a preset ({', '.join(PRESETS)}) or a local diffusers folder")
    if "/" not in source:
        raise ValueError(f"unknown model {source!r}; valid presets: {', '.join(PRESETS)}, or a local folder, or a hub id 'owner/name'")


def torch_dtype(name: str):
    check_choice("dtype", name, TORCH_DTYPES)
    import torch

    return getattr(torch, TORCH_DTYPES[name])


def check_runtime(device: str, dtype: str) -> None:
    check_choice("dtype", dtype, TORCH_DTYPES)
    if device not in ("cpu", "meta") and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; expected cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but no CUDA device is visible; use --device cpu")


# schedulers whose state holds earlier steps' model outputs, which a redone step would corrupt (pinned to
# diffusers' `model_outputs` attribute, which the sampler checks, in tests/test_recurrence_cli.py)
MULTISTEP = ("dpmpp",)


def check_scheduler(name: str, recurrence: int = 1) -> None:
    check_choice("scheduler", name, SCHEDULERS)
    if recurrence > 1 and name in MULTISTEP:
        single = ", ".join(s for s in SCHEDULERS if s not in MULTISTEP)
        raise ValueError(f"--recurrence {recurrence} redoes steps, which corrupts multistep scheduler {name!r}'s state: "
                         f"use a single-step one ({single})")


def check_image_size(h: int, w: int, f: int) -> None:
    if h % f or w % f:
        raise ValueError(f"image size {h}x{w} must be a multiple of the VAE factor {f}")


def preset_vae_factor(source: str) -> int | None:
    """A preset's VAE factor, known before anything loads; None for folders and hub ids."""
    p = PRESETS.get(source)
    return None if p is None else 2 ** (len(p.vae["block_out_channels"]) - 1)
