"""The two cost axes of an uplift report, never mixed up: a guided step's cost at Stable Diffusion scale, and this sweep's own.

At toy size the decoder is nearly free and per-op overhead dominates, so the toy
world's own step-time ratios say nothing about Stable Diffusion (there mid-U's
exact gradient costs about 1.2x an unguided step by FLOPs and pixel guidance
about 5x). The report shows both, each labelled: the cost model's FLOP ratio
for SD 2.1-base at 512 px (results/costmodel), the GPU-measured ratio where
results/timing holds a GPU run of that configuration, and the sweep's own
median step time beside them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.cost_runs import flop_ratios, load_costmodel, load_runs, reference_latency, reference_rows

SD = {"model": "sd21-base", "height": 512, "width": 512, "batch": 1}
SD_LABEL = "SD 2.1-base, 512 px"


def sd_costs(results: Path) -> tuple[dict[str, float], dict[str, float], str | None]:
    """({backend: FLOP ratio}, {backend: GPU step ratio}, GPU name) at SD scale; empty where results hold none."""
    cm = load_costmodel(results)[0] if (results / "costmodel").is_dir() else None
    flops = flop_ratios(cm, SD["model"], SD["height"], SD["width"], SD["batch"])
    ref, run = reference_rows(load_runs(results)) if (results / "timing").is_dir() else (None, None)
    gpu = {} if ref is None else {b: reference_latency(ref, b)[0] for b in ref.backend.unique()}
    return flops, gpu, None if run is None else run["gpu"]


def add_costs(chosen: pd.DataFrame, results: Path) -> tuple[pd.DataFrame, str | None]:
    """`chosen` with sd_flop_ratio (and sd_gpu_ratio where measured) per backend; the GPU's name or None."""
    flops, gpu, gpu_name = sd_costs(results)
    out = chosen.assign(sd_flop_ratio=chosen.backend.map(flops))
    if gpu:
        out = out.assign(sd_gpu_ratio=chosen.backend.map(gpu))
    return out, gpu_name


def cost_cells(r: pd.Series) -> str:
    """The cost columns of one table row: toy step time, SD FLOPs, SD GPU time."""
    cells = [f"{r.step_ms_ratio:.2f}x", "-" if pd.isna(r.get("sd_flop_ratio")) else f"{r.sd_flop_ratio:.2f}x"]
    if "sd_gpu_ratio" in r:
        cells.append("-" if pd.isna(r.sd_gpu_ratio) else f"{r.sd_gpu_ratio:.2f}x")
    return " | ".join(cells)


def cost_headers(gpu_name: str | None) -> list[str]:
    heads = ["toy step time vs unguided (this sweep, this machine)", f"FLOPs vs unguided at {SD_LABEL} (cost model)"]
    return heads + ([f"step time vs unguided at {SD_LABEL} ({gpu_name})"] if gpu_name else [])


def cost_phrase(r: pd.Series) -> str:
    sd = "" if pd.isna(r.get("sd_flop_ratio")) else f"; at {SD_LABEL} a guided step costs {r.sd_flop_ratio:.2f}x an unguided one by FLOPs"
    return f"at {r.step_ms_ratio:.2f}x the toy step time here{sd}"
