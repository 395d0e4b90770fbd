"""`make demo`: every guidance backend at negative, zero and positive scale on the embedded tiny model.

Writes per run the images and run.json, then `grid.png` (rows: backends,
columns: scales) and `summary.json` (each backend's own scorer on its final
samples). The tiny model has random weights, so the pictures are noise; what
the demo shows is the machinery: a positive scale raises the backend's own
scorer and a negative one lowers it, for every backend.

    python -m bench demo --out demo-out
    python -m bench demo --out demo-out --steps 20 --scales -2 0 2
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from bench.jobs.sample import SampleJob, run
from bench.report.grid import save_grid
from guidance import BACKENDS, GuidanceConfig, SamplerConfig
from sdmodels import load_models

PROMPTS = ("a red circle on a blue background", "a yellow star on a dark background")


def demo(out: str, steps: int = 10, scales: tuple[float, ...] = (-1.0, 0.0, 1.0), seed: int = 0, progress: bool = True) -> dict:
    out_dir = Path(out)
    models = load_models("tiny", "random", dtype=torch.float32, device="cpu")
    base = SampleJob(prompts=PROMPTS, out=str(out_dir), sampler=SamplerConfig(steps=steps, cfg_scale=5.0, seed=seed))
    summary, rows = {}, []
    for name in BACKENDS:
        summary[name], row = {}, []
        for scale in scales:
            job = replace(base, backend=name, guidance=GuidanceConfig(scale=scale), out=str(out_dir / name / f"scale_{scale:+g}"))
            rec = run(job, models, progress=progress)
            summary[name][f"{scale:+g}"] = rec["final_score"]
            row.append(Path(job.out) / rec["images"][0])
        rows.append(row)
        print(f"{name:>14}: " + "  ".join(f"scale {k}: {v and [round(x, 3) for x in v]}" for k, v in summary[name].items()))
    save_grid(rows, out_dir / "grid.png", list(BACKENDS), [f"scale {s:+g}" for s in scales],
              title=f"first prompt, seed {seed}, tiny model with RANDOM weights (noise is expected)")
    record = {"note": "tiny model, random weights: the scores show the machinery works, not image quality",
              "scales": list(scales), "prompts": list(PROMPTS), "steps": steps, "final_score": summary}
    (out_dir / "summary.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out_dir / 'grid.png'} and {out_dir / 'summary.json'}")
    return record
