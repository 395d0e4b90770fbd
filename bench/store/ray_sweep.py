"""`run_sweep` with the cells as Ray tasks (bench/store/ray_tasks.py): the same store, hashes, resume and rows.

The driver appends each cell as its task returns, stamped as a local sweep
stamps it (hash, status, time, commit, run id), plus where it ran
(`worker_host`, `worker_pid`, `worker_gpu_ids`, `worker_device`). Files a cell
returns (relative path -> bytes) are written under `files_root` before its rows,
so a row never names an image that is not there. A cell whose worker died
beyond its retries is one row with `status: failed` and the reason; like an
out-of-memory row it counts as done on `--resume`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from bench.store.ray_tasks import RayOptions, run_tasks
from bench.store.rows import RowStore, config_hash
from bench.store.sweep import SweepSummary, check_fresh, open_run, stamp


def run_sweep_ray(configs: Iterable[dict], run_one: Callable, store: RowStore, opts: RayOptions, resume: bool = False,
                  on_cell: Callable[[list[dict]], None] | None = None, progress: bool = True,
                  files_root: Path | None = None, expect: dict | None = None) -> SweepSummary:
    configs = list(configs)
    done = check_fresh(store, resume)
    todo = [(c, h) for c, h in ((c, config_hash(c)) for c in configs) if h not in done]
    summary = SweepSummary(skipped=len(configs) - len(todo))
    if not todo:
        return summary
    run = open_run(store)
    for i, res in run_tasks(run_one, [c for c, _ in todo], opts, progress, done=summary.skipped, expect=expect):
        config, h = todo[i]
        for rel, data in res["files"].items():
            path = Path(files_root) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        rows = [{**r, **res["placement"]} for r in stamp(config, h, res["measured"], res["status"], res["wall_s"], run)]
        store.append(rows)
        summary.ran += 1
        summary.oom += res["status"] == "oom"
        summary.failed += res["status"] == "failed"
        if on_cell is not None:
            on_cell(rows)
    return summary
