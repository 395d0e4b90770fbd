"""`python -m bench costmodel`: FLOPs and saved bytes per guided step, written to OUT/costmodel.{csv,json}.

    python -m bench costmodel --models sd15 sd21-base --batches 1 4 --sizes 512 --out results/costmodel
    python -m bench costmodel --models sd21-base --batches 1 2 4 8 --sizes 512 768 --attention fused math --out out/scaling
    python -m bench costmodel --models tiny --device cpu --dtypes fp32 --out out/tiny-real
    python -m bench costmodel --models sd21-base --batches 1 --sample-steps 50 --window 0.3 1 --recurrence 2 --out out/rec

The CSV holds one flat row per (model, backend, batch, size, dtype, attention);
the JSON beside it holds the command that made it, provenance (git commit,
package versions) and what the figures count and leave out. With --sample-steps,
costmodel_sample.csv beside them holds a whole sample's FLOPs under the guidance
knobs given (bench/costmodel/sample.py).
"""
from __future__ import annotations

import argparse
import csv
import json
import shlex
import time
from pathlib import Path

from bench.costmodel import ATTENTION_KINDS, PARTS
from guidance import BACKENDS
from sdmodels import PRESETS, TORCH_DTYPES

CSV_NAME = "costmodel.csv"
JSON_NAME = "costmodel.json"
SAMPLE_CSV_NAME = "costmodel_sample.csv"

COUNTED = {
    "flops": "2 per multiply-add of aten mm/addmm/bmm/baddbmm, convolution forward and backward (only the "
             "gradients autograd asks for: weights are frozen, so grad_input alone), and scaled-dot-product "
             "attention (torch.utils.flop_counter formulas, FlopCounterMode)",
    "flops_not_counted": "elementwise ops, activations, group/layer norm, softmax outside fused attention, "
                         "interpolation, reductions, copies: memory-bound work FLOPs do not describe",
    "saved_bytes": "distinct storages autograd saves for backward (saved-tensor hooks; a saved view counts its "
                   "whole storage, once), model parameters and buffers excluded, in the row's dtype",
    "attention": {
        "fused": "SDPA as real devices run it (CPU flash kernel on cpu and, through its meta implementation, on "
                 "meta; same FLOP formula and saved tensors as the CUDA flash/efficient kernels): backward "
                 "recomputes QK^T and produces dQ, dK, dV, 5 matmuls",
        "math": "unfused softmax(QK^T)V: autograd computes only the gradients needed (the minimal backward "
                "FLOPs), but saves the attention matrix, in fp32 on cpu/meta (they upcast half inside it)",
    },
    "parts": "unet_down_mid: conv_in, time embedding, down blocks, mid block; unet_up: up blocks and output "
             "head; decoder: VAE or tiny decoder; image_encoder: CLIP tower; head: scorer head (mid-block, "
             "latent, or the aesthetic MLP); other: everything else (x0 arithmetic, CLIP preprocessing)",
    "step": "one call backend(StepIn(..., want_grad=True)) with both CFG halves: DDIM alpha_bar at the middle "
            "training timestep, prompt encoded by the model's own (random) text encoder",
    "weights": "random for every part and scorer: FLOPs and saved bytes depend on shapes only",
}


def add_parser(sub) -> None:
    p = sub.add_parser("costmodel", help="FLOPs and saved-for-backward bytes of one guided step per backend (meta device)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["sd15", "sd21-base"], help=f"presets ({', '.join(PRESETS)}) or local diffusers folders")
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), help=f"backends (default all): {', '.join(BACKENDS)}, or your own; 'none' is always added")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4], help="batch sizes (samples per CFG half)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="square image sizes in pixels (default: each model's own)")
    p.add_argument("--dtypes", nargs="+", default=["fp16"], help=f"dtypes for the saved bytes (FLOPs do not depend on them): {', '.join(TORCH_DTYPES)}")
    p.add_argument("--attention", nargs="+", default=["fused"], help=f"how SDPA runs: {', '.join(ATTENTION_KINDS)} (see costmodel.json)")
    p.add_argument("--device", default="meta", help="meta (shapes only, any model size) or cpu (real tensors: small models)")
    p.add_argument("--sample-steps", type=int, default=None, help=f"also write {SAMPLE_CSV_NAME}: a whole sample of this many steps")
    p.add_argument("--window", type=float, nargs=2, default=(0.0, 1.0), metavar=("START", "END"), help="with --sample-steps: guided fractions")
    p.add_argument("--every-k", type=int, default=1, help="with --sample-steps: guide every k-th step inside the window")
    p.add_argument("--recurrence", type=int, default=1, help="with --sample-steps: each guided step redone this many times")
    p.add_argument("--iterations", type=int, default=1, help="with --sample-steps: gradient updates per guided step")
    p.add_argument("--out", required=True, help=f"output folder for {CSV_NAME} and {JSON_NAME}")
    p.set_defaults(func=run)


def command_line(a) -> str:
    """The canonical command that reproduces this run."""
    args = ["--models", *a.models, "--backends", *a.backends, "--batches", *map(str, a.batches)]
    if a.sizes:
        args += ["--sizes", *map(str, a.sizes)]
    args += ["--dtypes", *a.dtypes, "--attention", *a.attention, "--device", a.device]
    if a.sample_steps is not None:
        args += ["--sample-steps", str(a.sample_steps), "--window", *map(str, a.window), "--every-k", str(a.every_k),
                 "--recurrence", str(a.recurrence), "--iterations", str(a.iterations)]
    args += ["--out", a.out]
    return "python -m bench costmodel " + shlex.join(args)


def sample_guidance(a):
    """The guidance whose knobs a sample's FLOPs count (None without --sample-steps); checked before anything is built."""
    from guidance import GuidanceConfig

    if a.sample_steps is None:
        return None
    if a.sample_steps < 1:
        raise ValueError(f"--sample-steps {a.sample_steps}: expected an integer >= 1")
    return GuidanceConfig(scale=1.0, window_start=a.window[0], window_end=a.window[1], every_k=a.every_k,
                          recurrence=a.recurrence, iterations=a.iterations)


def write_csv(rows: list[dict], path: Path, columns=None) -> None:
    from bench.costmodel.count import COLUMNS

    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns or COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)


def run(a) -> int:
    from bench.costmodel.count import check_grid, model_rows
    from bench.store.provenance import machine_info

    if a.device not in ("meta", "cpu"):
        raise ValueError(f"unknown device {a.device!r}; valid: meta, cpu")
    check_grid(a.models, a.backends, a.batches, a.sizes, a.dtypes, a.attention)
    guidance = sample_guidance(a)
    t0 = time.perf_counter()
    rows, ops = [], set()

    def on_row(r: dict) -> None:
        ops.update(r["ops"])
        _progress(t0, r)

    for model in a.models:
        for dtype in a.dtypes:
            rows += model_rows(model, a.backends, a.batches, a.sizes, dtype, tuple(a.attention), a.device, on_row=on_row)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / CSV_NAME)
    if guidance is not None:
        from bench.costmodel.sample import COLUMNS as SAMPLE_COLUMNS
        from bench.costmodel.sample import sample_rows

        write_csv(sample_rows(rows, a.sample_steps, guidance), out / SAMPLE_CSV_NAME, SAMPLE_COLUMNS)
    meta = {
        "command": command_line(a),
        "rows": len(rows),
        "wall_s": round(time.perf_counter() - t0, 1),
        "device": a.device,
        "counted": COUNTED,
        "ops_with_flops": sorted(ops),  # the aten ops that contributed FLOPs in this run
        "parts": list(PARTS),
        "provenance": machine_info(),
    }
    (out / JSON_NAME).write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {len(rows)} rows to {out / CSV_NAME} and {out / JSON_NAME} in {meta['wall_s']} s")
    return 0


def _progress(t0: float, r: dict) -> None:
    print(f"{time.perf_counter() - t0:7.1f}s  {r['model']} {r['backend']} b{r['batch']} {r['height']}px {r['dtype']} "
          f"{r['attention']}: {r['total_flops'] / 1e9:.1f} GFLOP, saved {r['saved_bytes'] / 2**30:.3f} GiB", flush=True)
