"""Uplift cells as Ray tasks (`--executor ray`): the same cells, rows and images as a local sweep.

A worker process builds the kit (models, scorers) once and keeps it for every
cell of the same sweep it is given. It saves a cell's grid images into a
scratch folder of its own and returns their bytes with the rows; the driver
writes both (bench/store/ray_sweep.py), so workers never touch the sweep folder.

    python -m bench uplift --world toy --seeds 64 --executor ray --out /tmp/u             # a local cluster on this machine
    python -m bench uplift --world toy --device cuda --executor ray --address auto --gpus-per-cell 0.5 --out /shared/u
"""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from bench.store.ray_sweep import run_sweep_ray
from bench.store.ray_tasks import RayOptions, run_tasks
from bench.store.rows import RowStore, config_hash
from bench.uplift.config import UpliftConfig
from bench.uplift.identity import identity
from bench.uplift.kit import Kit, build_kit
from bench.uplift.run import cells, run_cell

_KITS: dict[str, Kit] = {}  # per worker process: the kit of the sweep it last ran


def kit_of(cfg: UpliftConfig) -> Kit:
    key = config_hash(identity(cfg))
    if key not in _KITS:
        _KITS.clear()  # one sweep's models at a time
        _KITS[key] = build_kit(cfg)
    return _KITS[key]


def describe(cfg: UpliftConfig) -> dict:
    kit = kit_of(cfg)
    return {"scorers": kit.scorer_desc, "random_weights": kit.models.random_weights}


def cell_on_worker(cfg: UpliftConfig, keep_images: str, cell: dict) -> tuple[list[dict], dict[str, bytes]]:
    """The cell's rows and its kept images (path under images/ -> PNG bytes)."""
    with tempfile.TemporaryDirectory(prefix="uplift-cell-") as tmp:
        rows = run_cell(kit_of(cfg), cfg, cell, Path(tmp), keep_images=keep_images)
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return rows, files


class RayCells:
    """`run_uplift`'s executor on Ray: `RayCells.with_options(opts)` is what `run_uplift(executor=...)` takes."""

    def __init__(self, cfg: UpliftConfig, opts: RayOptions):
        self.cfg, self.opts = cfg, opts

    @classmethod
    def with_options(cls, opts: RayOptions):
        return lambda cfg: cls(cfg, opts)

    def describe(self) -> dict:
        """Asked of a worker: the driver may hold no GPU and needs no models."""
        [(_, res)] = list(run_tasks(describe, [self.cfg], self.opts, progress=False))
        if res["status"] != "ok":
            raise RuntimeError(f"building the sweep's models on a worker failed: {res['measured'].get('error', res['status'])}")
        return res["measured"]

    def sweep(self, store: RowStore, image_dir: Path, on_cell, progress: bool, keep_images: str = "grid"):
        return run_sweep_ray(cells(self.cfg), functools.partial(cell_on_worker, self.cfg, keep_images), store, self.opts, resume=True,
                             on_cell=on_cell, progress=progress, files_root=image_dir)

