"""Shared fixtures (tiny seeded models on CPU) and the gpu/slow markers (benchmark hooks: benchmarks/conftest.py)."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a hub
# Tiny models gain nothing from intra-op threads, and on a loaded 2-core machine OpenMP's
# spin-waiting made them 40-60x slower; one thread keeps the suite fast and steady.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(scope="session")
def tiny_models():
    """The `tiny` preset with random weights, fp32 on CPU; shared, so tests must not modify it."""
    from sdmodels import load_models

    return load_models("tiny", weights="random", dtype=torch.float32, device="cpu", seed=0)



@pytest.fixture(scope="session")
def toy_rate_sweep(tmp_path_factory):
    """A small real toy-world sweep for the rating page: the committed sweep's rows and images for 2 prompts x its 4 grid
    seeds, unguided and each backend at +0.02 and +0.05 (its config.json, so its identity, unchanged); every cell is complete."""
    import json
    import shutil
    from pathlib import Path

    from bench.store.rows import read_rows
    from bench.uplift.analysis import samples

    src, out = Path("results/uplift/toy"), tmp_path_factory.mktemp("rate") / "sweep"
    (out / "images").mkdir(parents=True)
    shutil.copy(src / "config.json", out / "config.json")
    keep = lambda r: r["prompt_idx"] < 2 and r["seed"] < 4 and r["scale"] in (0.0, 0.02, 0.05) and "cfg_scale" not in r  # noqa: E731
    rows = [r for r in read_rows(src / "rows.jsonl") if keep(r)]  # packed: rows.jsonl.gz
    (out / "rows.jsonl").write_text("".join(json.dumps({**r, "cell_rows": 4}) + "\n" for r in rows))  # 4 seeds of each cell: complete cells
    for folder in ["none/s+0", *(f"{b}/s+{s}" for b in ("midu", "latent", "pixel") for s in ("0.02", "0.05"))]:
        (out / "images" / folder).mkdir(parents=True)
        for p in (0, 1):
            for seed in range(4):
                shutil.copy(src / "images" / folder / f"p{p}_seed{seed}.png", out / "images" / folder / f"p{p}_seed{seed}.png")
    assert len(samples(out / "rows.jsonl")) == len(rows) == 7 * 2 * 4
    return out
