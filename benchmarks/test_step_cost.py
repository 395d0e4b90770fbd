"""One guided step per backend and batch, as pytest-benchmark cases.

The timed function is the backend call the sampler makes on a guided step,
followed on CUDA by a synchronize (pytest-benchmark reads a host clock, so
the GPU work must be finished inside the timed call). Each case's extra_info
carries what the time alone does not say: peak memory of the step, its FLOPs
and bytes saved for backward (bench/costmodel/count.py), the per-component
breakdown (bench/cost/breakdown.py) and, written at the end of the session,
`step_ms_ratio` (median over the median of `none`, benchmarks/conftest.py).
Weights are random; the case says so.

    pytest benchmarks/ --benchmark-only
    pytest benchmarks/ --benchmark-only --gb-backends none,midu --gb-batch 4 --benchmark-compare --benchmark-compare-fail=median:5%
"""
from __future__ import annotations

import torch

from bench.cost import breakdown as bd
from bench.cost.memory import measure_peak


def _cost_model(gb, name: str, backend, step) -> dict:
    """FLOPs and saved bytes of one call, counted on the benchmark's own device.

    The cost model pins attention to fused kernels and refuses inputs they do not take (on CUDA,
    e.g. a head size over a kernel's limit), where the timed step would fall back to another
    kernel: the case then records why it has no figures rather than failing the benchmark.
    """
    from bench.costmodel.count import measure, part_map
    from bench.costmodel.saved_bytes import model_state

    scorer = getattr(backend, "scorer", None)
    state = model_state(gb.models.unet, getattr(backend, "decoder", None), scorer)
    try:
        row = measure(backend, step, part_map(gb.models, backend, scorer), state, gb.device.type)
    except RuntimeError as e:
        return {"cost_model_error": str(e).strip().splitlines()[0][:300]}
    return {k: row[k] for k in ("fwd_flops", "bwd_flops", "total_flops", "saved_bytes")}


def test_guided_step(benchmark, gb, backend, batch):
    """`backend` and `batch` come from --gb-backends and --gb-batch (benchmarks/conftest.py)."""
    name = backend
    b = gb.backend(name)
    step = gb.step(batch)
    cuda = gb.device.type == "cuda"

    def run():
        b(step)
        if cuda:
            torch.cuda.synchronize(gb.device)

    run()  # warm before the memory reading (cuDNN autotuning, lazy inits)
    mem = measure_peak(run, gb.device)
    prof = bd.profile_step(run, b, steps=1, device=gb.device, top=5)
    benchmark.group = f"{gb.model} {gb.dtype} {gb.size}px batch {batch}"
    benchmark.extra_info.update({
        "model": gb.model, "dtype": gb.dtype, "batch": batch, "height": gb.size, "width": gb.size, "backend": name,
        "device": str(gb.device), "torch_threads": torch.get_num_threads(), "random_weights": gb.models.random_weights,
        "scale": "full architecture" if gb.model != "tiny" else "tiny preset",
        "peak_alloc_gib": mem.peak_alloc_gib, "peak_reserved_gib": mem.peak_reserved_gib, "mem_source": mem.mem_source,
        **_cost_model(gb, name, b, step),
        **({"planted_slowdown": gb.slowdown[name]} if name in gb.slowdown else {}),
        "gpu_busy_ms": prof.gpu_busy_ms,
        "breakdown_ms": {f"{r['component']} {r['phase']}": r["device_ms"] if cuda else r["cpu_ms"] for r in bd.component_rows(prof)},
        "top_kernels": [f"{k['kernel']} ({k['component']} {k['phase']}): {k['kernel_ms']:.3g} ms" for k in prof.kernels],
    })
    benchmark.pedantic(gb.timed(name, run), rounds=gb.rounds, warmup_rounds=gb.warmup, iterations=1)
