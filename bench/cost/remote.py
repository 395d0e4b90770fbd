"""Cost-run configurations as Ray tasks (`--executor ray`), each holding one whole GPU.

A task measures one (batch, size) configuration as a local run does: peak
memory per backend alone, then every backend in interleaved rounds on its one
device, so each ratio to `none` is a same-device ratio. A timing task always
asks for a whole GPU, so two timing tasks never share one (a fraction would let
Ray pack them). A worker loads the model once and keeps it for the next
configuration it is given. Rows carry where they ran (`worker_host`,
`worker_gpu_ids`, `worker_device`) and the worker's own machine provenance.

    python -m bench cost-run --model sd21-base --dtype fp16 --device cuda --batch 1 2 4 8 --executor ray --out results/timing/cluster
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

import torch

from bench.cost.run import CostRunConfig, measure, setup_torch
from bench.store.provenance import machine_info
from bench.store.ray_tasks import RayOptions, run_tasks
from sdmodels import DTYPES, load_models

_MODELS: dict[tuple, tuple] = {}  # per worker process: (models, scorer cache) of the model it last loaded


def measure_on_worker(job: tuple) -> dict:
    base, cfg, names, modes, run_id, command = job
    setup_torch(base)
    key = (base.model, base.weights, base.variant, base.model_config, base.dtype, base.device, base.seed)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = (load_models(base.model, base.weights, dtype=DTYPES[base.dtype], device=torch.device(base.device), seed=base.seed,
                                    variant=base.variant, model_config=base.model_config), {})
    models, cache = _MODELS[key]
    context = {"run_id": run_id, "command": command, "torch_threads": torch.get_num_threads(), **machine_info()}
    return measure(models, cfg, names, modes, context, cache, log=lambda s: None)


def measure_with_ray(opts: RayOptions) -> Callable:
    """`run(..., measure_with=...)`: every configuration a task on one whole GPU, results as they finish.

    Workers get this process's torch thread count unless `--threads` sets one, as a local run would use."""
    opts = dataclasses.replace(opts, gpus=1.0, threads=opts.threads or torch.get_num_threads())

    def measure_all(base: CostRunConfig, configs: list[CostRunConfig], names: list[str], modes: list[str], run_id: str, command: str,
                    log: Callable[[str], None] = print) -> Iterator[tuple[int, dict]]:
        jobs = [(base, cfg, names, modes, run_id, command) for cfg in configs]
        for i, res in run_tasks(measure_on_worker, jobs, opts, desc="cost-run"):
            if res["status"] != "ok":  # died beyond its retries, or out of memory outside the rounds' own handling
                cfg = configs[i]
                yield i, {"batch": cfg.batch, "height": cfg.height, "width": cfg.width, "failed": res["measured"].get("error", res["status"])}
                continue
            out, where = res["measured"], res["placement"]
            out["tables"] = tuple([{**r, **where} for r in part] if k == 0 else part for k, part in enumerate(out["tables"]))
            yield i, {**out, **where}
    return measure_all
