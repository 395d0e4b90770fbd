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

