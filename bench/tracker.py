"""Optional logging to Weights & Biases (the `wandb` extra): a run's configuration, per-step statistics, rows and image grids.

Nothing here adds a code path: the tracker is fed by the hooks the harness
already has. The sampler's `on_step` gets `tracker.on_step(...)` (scorer value,
gradient RMS, guided / non-finite / saturated counts of every step, with the
cell it belongs to), a sweep's `on_cell` gets `tracker.log_rows` (one W&B
table of the sweep's rows, logged when the run finishes), and the images a
run keeps become one grid per arm (or per sample run). With WANDB_MODE=offline
the run is written under WANDB_DIR (`wandb/offline-run-*`) for a later
`wandb sync`; no network is needed.

    WANDB_MODE=offline python -m bench uplift --model tiny --backends none midu --scales 1 --seeds 2 --wandb guidance-bench --out out/u
    python -m bench sample --model tiny --backend midu --scale 3 --wandb guidance-bench --out out/m
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

STEP_FIELDS = ("guided", "score_mean", "grad_rms", "nonfinite", "saturated")


def check_tracker(project: str | None) -> None:
    """Before any work: the package is there and the project is named."""
    if project is None:
        return
    if not project.strip():
        raise ValueError(f"--wandb {project!r}: expected a W&B project name")
    if importlib.util.find_spec("wandb") is None:
        raise ValueError(f"--wandb {project}: the wandb package is not installed (pip install 'guidance-bench[wandb]')")


def tile(images: list, cols: int | None = None):
    """PIL images of one size side by side, `cols` to a row (default: all in one row)."""
    from PIL import Image

    cols = cols or len(images)
    w, h = images[0].size
    grid = Image.new("RGB", (w * cols, h * -(-len(images) // cols)))
    for i, im in enumerate(images):
        grid.paste(im.convert("RGB"), ((i % cols) * w, (i // cols) * h))
    return grid


class Tracker:
    """One W&B run; `on_step(**context)` is a sampler hook, `log_rows` a sweep's cell hook."""

    def __init__(self, project: str, name: str, config: dict, job_type: str):
        import wandb

        self.wandb = wandb
        self.run = wandb.init(project=project, name=name, config=config, job_type=job_type)
        self.rows: list[dict] = []

    def on_step(self, **context):
        """The sampler's `on_step`: each step's statistics, tagged with `context` (a sweep's cell)."""
        def log(stats) -> None:
            self.run.log({**{f"cell/{k}": v for k, v in context.items()}, "step/i": stats.i, "step/t": stats.t,
                          **{f"step/{k}": getattr(stats, k) for k in STEP_FIELDS}})

        return log

    def log_rows(self, rows: list[dict]) -> None:
        self.rows += rows

    def log_grid(self, key: str, images: list, caption: str) -> None:
        if images:
            self.run.log({key: self.wandb.Image(tile(images), caption=caption)})

    def log_sweep_grids(self, image_dir: Path) -> None:
        """One grid per arm of the images a sweep keeps (images/<backend>/<arm>/p<prompt>_seed<seed>.png)."""
        from PIL import Image

        for folder in sorted(p for p in Path(image_dir).glob("*/*") if p.is_dir()):
            files = sorted(folder.glob("*.png"))
            self.log_grid(f"grid/{folder.parent.name}/{folder.name}", [Image.open(f) for f in files], ", ".join(f.stem for f in files))

    def finish(self) -> None:
        if self.rows:
            columns = list(dict.fromkeys(k for r in self.rows for k in r))
            self.run.log({"rows": self.wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in self.rows],
                                                allow_mixed_types=True)})
            self.run.summary["rows"] = len(self.rows)
        self.run.finish()


def open_tracker(project: str | None, name: str, config: dict, job_type: str) -> Tracker | None:
    return None if project is None else Tracker(project, name, config, job_type)
