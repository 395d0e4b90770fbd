"""A whole sample's FLOPs from the cost model's per-call rows, with the sampler's knobs as multipliers.

The cost model counts one backend call (bench/costmodel/count.py). A sample of
`steps` steps runs the unguided call (the reference backend's) on every step
outside the guidance window and, on each guided step, its backend's call
`recurrence x iterations` times (guidance/config.py): redoing a step and
updating x_t again both re-run the whole call, and the transition back to the
step's timestep is elementwise (counted zero, as every elementwise op is).

    rows = model_rows("sd21-base", ["midu"], [1])
    sample_rows(rows, 50, GuidanceConfig(scale=1.0, window_start=0.3, recurrence=2))
"""
from __future__ import annotations

from dataclasses import asdict

from guidance import GuidanceConfig, scorer_kind

REFERENCE = "none"
KEYS = ("model", "batch", "height", "width", "dtype", "attention", "weights")  # what a backend's row shares with its reference
COLUMNS = (*KEYS, "backend", "steps", "guided_steps", "scale", "window_start", "window_end", "every_k", "recurrence", "iterations",
           "calls", "sample_flops", "sample_flops_ratio")


def guided_step_flops(call_flops: float, guidance: GuidanceConfig) -> float:
    """One guided step: the backend call, times the calls the step makes."""
    return call_flops * guidance.calls_per_guided_step


def sample_flops(call_flops: float, ref_flops: float, steps: int, guidance: GuidanceConfig, guided: bool = True) -> tuple[float, int, int]:
    """(FLOPs, guided steps, backend calls) of one sample; `guided`=False for a backend that takes no gradient (`none`)."""
    n_guided = sum(guidance.active(i, steps) for i in range(steps)) if guided else 0
    flops = (steps - n_guided) * ref_flops + n_guided * guided_step_flops(call_flops, guidance)
    return flops, n_guided, steps - n_guided + n_guided * guidance.calls_per_guided_step


def sample_rows(rows: list[dict], steps: int, guidance: GuidanceConfig) -> list[dict]:
    """One row per cost-model row: the sample's FLOPs and their ratio to the unguided sample of the same steps."""
    ref = {tuple(r[k] for k in KEYS): r["total_flops"] for r in rows if r["backend"] == REFERENCE}
    knobs = {k: v for k, v in asdict(guidance).items() if k in COLUMNS}
    out = []
    for r in rows:
        key = tuple(r[k] for k in KEYS)
        if key not in ref:
            raise ValueError(f"no {REFERENCE!r} row for {key}: a sample's unguided steps need one")
        flops, n_guided, calls = sample_flops(r["total_flops"], ref[key], steps, guidance, scorer_kind(r["backend"]) is not None)
        out.append({**{k: r[k] for k in KEYS}, "backend": r["backend"], "steps": steps, "guided_steps": n_guided, **knobs,
                    "calls": calls, "sample_flops": flops, "sample_flops_ratio": round(flops / (steps * ref[key]), 6)})
    return out
