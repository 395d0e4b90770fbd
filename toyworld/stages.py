"""Resumable build stages: each stage's result lands in its own folder, atomically, and a rerun skips it.

A build's stage folder (default `<out>.stages/`, beside the output) holds

- `config.json`: the recipe name and its full frozen config; a rerun with
  another recipe or config is refused (one line) instead of mixing parts;
- one folder per finished stage (`data/`, `vae/`, `encode/`, `unet/`,
  `shape_classifier/`, `pixel_scorer/`, `tiny_decoder/`, `ldm/`, `heads/`,
  `check/`), each with `result.json` (the stage's metrics and its time) and
  `rng.pt` (the process's torch / numpy / Python random states when the
  stage ended), besides whatever files the stage wrote.

A stage is written into `.<name>.partial-<pid>/` and renamed to `<name>/` when
it is complete, so a killed build leaves only finished stages (half-written
`.partial-*` folders are ignored, and removed with the stage folder). A stage that runs after one
loaded from disk first restores that stage's random states, so a resumed
build draws exactly the numbers an uninterrupted one would: its files are the
same bytes. (Every stage also seeds itself, so this is a second line of defence.)

Each stage's result is read back from its `result.json` even when it has just
run, so a fresh and a resumed build assemble their records from the same text.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
RNG_FILE = "rng.pt"


class StageConfigMismatch(RuntimeError):
    """The stage folder was made by another recipe or config."""


def default_stage_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".stages")


def save_rng(path: Path) -> None:
    torch.save({"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}, path)


def restore_rng(path: Path) -> None:
    state = torch.load(path, weights_only=False)
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _canonical(config: dict) -> str:
    return json.dumps(config, indent=1, sort_keys=True)


def open_stages(root: str | Path, recipe: str, config: dict) -> Path:
    """Create the stage folder for (recipe, config), or reopen one made by the same; refuse any other."""
    root = Path(root)
    want = {"recipe": recipe, "config": config}
    path = root / CONFIG_FILE
    if path.is_file():
        have = json.loads(path.read_text())
        if _canonical(have) != _canonical(json.loads(json.dumps(want))):
            raise StageConfigMismatch(
                f"{root} holds stages of another build (recipe {have.get('recipe')!r}, not {recipe!r}, or another config): "
                f"remove it, or pass another --work/--out")
        return root
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (CONFIG_FILE + ".partial")
    tmp.write_text(_canonical(want) + "\n")
    os.replace(tmp, path)
    return root


def is_done(root: Path, name: str) -> bool:
    return (Path(root) / name / RESULT_FILE).is_file()


def stage_path(root: Path, name: str) -> Path:
    return Path(root) / name


def load_stage(root: Path, name: str) -> dict:
    """{"result": ..., "seconds": ...} of a finished stage."""
    return json.loads((Path(root) / name / RESULT_FILE).read_text())


def run_stage(root: str | Path, name: str, fn: Callable, args: tuple = (), rng_from: str | Path | None = None) -> dict:
    """Run fn(*args, folder) into the stage's partial folder, then publish it; returns load_stage's dict.

    `rng_from`: a finished stage's folder whose random states to restore first (the previous
    stage of this process's chain, when that one was loaded from disk rather than run here).
    Module level and picklable, so the build's second process runs its stages through it too.
    """
    root = Path(root)
    final, tmp = root / name, root / f".{name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if rng_from is not None:
        restore_rng(Path(rng_from) / RNG_FILE)
    t0 = time.perf_counter()
    result = fn(*args, tmp)
    seconds = round(time.perf_counter() - t0, 1)
    save_rng(tmp / RNG_FILE)
    (tmp / RESULT_FILE).write_text(json.dumps({"result": result, "seconds": seconds}, indent=1) + "\n")
    try:
        os.rename(tmp, final)
    except OSError:  # another process of a killed build finished the same stage first: the same bytes, keep its copy
        if not is_done(root, name):
            raise
        shutil.rmtree(tmp)
    print(f"[stage] {name}: {seconds} s", flush=True)
    return load_stage(root, name)


class Chain:
    """The stages one process runs in order: finished ones are loaded, the first one run after a
    loaded one restores that one's random states."""

    def __init__(self, root: Path):
        self.root, self.last_loaded, self.resumed = Path(root), None, []

    def run(self, name: str, fn: Callable, args: tuple = ()) -> dict:
        if is_done(self.root, name):
            self.last_loaded = self.root / name
            self.resumed.append(name)
            print(f"[stage] {name}: finished before, loaded from {self.root / name}", flush=True)
            return load_stage(self.root, name)
        rng_from, self.last_loaded = self.last_loaded, None
        return run_stage(self.root, name, fn, args, rng_from)

    def submit(self, pool, name: str, fn: Callable, args: tuple = ()):
        """The same in the second process (a one-worker pool runs its jobs in submission order);
        returns a zero-argument function that waits for and returns the stage's dict."""
        if is_done(self.root, name):
            self.last_loaded = self.root / name
            self.resumed.append(name)
            print(f"[stage] {name}: finished before, loaded from {self.root / name}", flush=True)
            done = load_stage(self.root, name)
            return lambda: done
        rng_from, self.last_loaded = self.last_loaded, None
        future = pool.submit(run_stage, self.root, name, fn, args, rng_from)
        return future.result
