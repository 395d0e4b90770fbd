"""Run a grid of configurations into a RowStore: resumable, and an OOM is a row, not a crash.

Each configuration (a flat dict) becomes one cell: `run_one(config)` returns
one row (a dict, merged with the configuration) or the cell's rows (a list,
complete as given). Every row gets the cell's `config_hash` and `cell_rows`,
`status` ("ok" or "oom"), `row_wall_s`, the code commit and the `run_id` of
the process, whose full provenance goes once to the store's runs file. Cells
are appended as they finish, so a sweep killed at any moment loses at most the
cell in flight; `resume=True` runs only the missing ones. A tqdm bar on
stderr counts the cells (done ones included) with rate and ETA; it is off
with `progress=False` and when stderr is not a terminal (logs stay clean).
"""
from __future__ import annotations

import gc
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from tqdm import tqdm

from bench.store.provenance import machine_info
from bench.store.rows import RowStore, config_hash


@dataclass
class SweepSummary:
    ran: int = 0
    skipped: int = 0
    oom: int = 0
    failed: int = 0  # cells whose worker died (Ray executor)


def memory_at_failure_gib() -> float | None:
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


def run_sweep(
    configs: Iterable[dict],
    run_one: Callable[[dict], dict | list[dict]],
    store: RowStore,
    resume: bool = False,
    on_cell: Callable[[list[dict]], None] | None = None,
    progress: bool = True,
) -> SweepSummary:
    configs = list(configs)
    done = check_fresh(store, resume)
    summary = SweepSummary()
    run = None
    hashes = [config_hash(c) for c in configs]
    # disable=None: tqdm turns itself off when stderr is not a terminal
    bar = tqdm(total=len(configs), initial=sum(h in done for h in hashes), unit="cell", desc="sweep",
               disable=None if progress else True, dynamic_ncols=True)
    for config, h in zip(configs, hashes):
        if h in done:
            summary.skipped += 1
            continue
        if run is None:  # provenance once per process that writes
            run = open_run(store)
        t0 = time.perf_counter()
        try:
            measured, status = run_one(config), "ok"
        except torch.OutOfMemoryError as e:  # the sweep goes on; the row says where memory ran out
            measured, status = oom_row(e), "oom"
            summary.oom += 1
        rows = stamp(config, h, measured, status, time.perf_counter() - t0, run)
        store.append(rows)
        done.add(h)
        summary.ran += 1
        bar.update(1)
        if on_cell is not None:
            with tqdm.external_write_mode():  # the caller's log line prints above the bar, not through it
                on_cell(rows)
    bar.close()
    return summary


def check_fresh(store: RowStore, resume: bool) -> set[str]:
    """Hashes of the cells the store holds; refused unless resuming."""
    done = store.done()
    if done and not resume:
        raise ValueError(f"{store.path} already holds {len(store.rows())} rows: pass --resume to finish that sweep, or choose another output")
    return done


def open_run(store: RowStore) -> dict:
    """This writer's provenance, recorded once in the store's runs file; rows name it by `run_id`."""
    run = {"run_id": uuid.uuid4().hex[:12], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **machine_info()}
    store.record_run(run)
    return run


def oom_row(e: BaseException) -> dict:
    """What an out-of-memory cell records, after freeing what it can so the next cell starts clean."""
    row = {"error": str(e).splitlines()[0], "mem_at_failure_gib": memory_at_failure_gib()}
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return row


def stamp(config: dict, h: str, measured: dict | list[dict], status: str, wall_s: float, run: dict) -> list[dict]:
    """The cell's rows as the store holds them: merged with the configuration, with hash, status, time and provenance."""
    rows = [{**config, **measured}] if isinstance(measured, dict) else measured
    cell = {"config_hash": h, "cell_rows": len(rows), "status": status, "row_wall_s": round(wall_s, 3),
            "git_commit": run["git_commit"], "run_id": run["run_id"]}
    return [{**r, **cell} for r in rows]
