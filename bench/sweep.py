"""Run a grid of configurations into a RowStore: resumable, and an OOM is a row, not a crash.

Each configuration (a flat dict) becomes one row: the configuration, its hash,
`status` ("ok" or "oom"), what `run_one` measured, and provenance. Rows are
appended as they finish, so a sweep killed at any moment loses at most the
configuration in flight; `resume=True` runs only the missing ones.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from .provenance import machine_info
from .rowstore import RowStore, config_hash


@dataclass
class SweepSummary:
    ran: int = 0
    skipped: int = 0
    oom: int = 0


def memory_at_failure_gib() -> float | None:
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


def run_sweep(
    configs: Iterable[dict],
    run_one: Callable[[dict], dict],
    store: RowStore,
    resume: bool = False,
    on_row: Callable[[dict], None] | None = None,
) -> SweepSummary:
    configs = list(configs)
    done = store.done()
    if done and not resume:
        raise ValueError(f"{store.path} already holds {len(done)} rows: pass --resume to finish that sweep, or choose another output")
    provenance = machine_info()
    summary = SweepSummary()
    for config in configs:
        h = config_hash(config)
        if h in done:
            summary.skipped += 1
            continue
        t0 = time.perf_counter()
        try:
            measured, status = run_one(config), "ok"
        except torch.OutOfMemoryError as e:  # the sweep goes on; the row says where memory ran out
            measured, status = {"error": str(e).splitlines()[0], "mem_at_failure_gib": memory_at_failure_gib()}, "oom"
            summary.oom += 1
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        row = {**config, **measured, "config_hash": h, "status": status,
               "row_wall_s": round(time.perf_counter() - t0, 3), "provenance": provenance}
        store.append(row)
        done.add(h)
        summary.ran += 1
        if on_row is not None:
            on_row(row)
    return summary
