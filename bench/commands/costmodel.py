"""`python -m bench costmodel`: FLOPs and saved bytes per guided step, written to OUT/costmodel.{csv,json}.

    python -m bench costmodel --models sd15 sd21-base --batches 1 4 --sizes 512 --out results/costmodel
    python -m bench costmodel --models sd21-base --batches 1 2 4 8 --sizes 512 768 --attention fused math --out out/scaling
    python -m bench costmodel --models tiny --device cpu --dtypes fp32 --out out/tiny-real

The CSV holds one flat row per (model, backend, batch, size, dtype, attention);
the JSON beside it holds the command that made it, provenance (git commit,
package versions) and what the figures count and leave out.
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
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), help=f"backends (default all): {', '.join(BACKENDS)}; 'none' is always added")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4], help="batch sizes (samples per CFG half)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="square image sizes in pixels (default: each model's own)")
    p.add_argument("--dtypes", nargs="+", default=["fp16"], help=f"dtypes for the saved bytes (FLOPs do not depend on them): {', '.join(TORCH_DTYPES)}")
    p.add_argument("--attention", nargs="+", default=["fused"], help=f"how SDPA runs: {', '.join(ATTENTION_KINDS)} (see costmodel.json)")
    p.add_argument("--device", default="meta", help="meta (shapes only, any model size) or cpu (real tensors: small models)")
    p.add_argument("--out", required=True, help=f"output folder for {CSV_NAME} and {JSON_NAME}")
    p.set_defaults(func=run)


def command_line(a) -> str:
    """The canonical command that reproduces this run."""
    args = ["--models", *a.models, "--backends", *a.backends, "--batches", *map(str, a.batches)]
    if a.sizes:
        args += ["--sizes", *map(str, a.sizes)]
    args += ["--dtypes", *a.dtypes, "--attention", *a.attention, "--device", a.device, "--out", a.out]
    return "python -m bench costmodel " + shlex.join(args)


def write_csv(rows: list[dict], path: Path) -> None:
    from bench.costmodel.count import COLUMNS

    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)


def run(a) -> int:
    from bench.costmodel.count import check_grid, model_rows
    from bench.store.provenance import machine_info

    if a.device not in ("meta", "cpu"):
        raise ValueError(f"unknown device {a.device!r}; valid: meta, cpu")
    check_grid(a.models, a.backends, a.batches, a.sizes, a.dtypes, a.attention)
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
