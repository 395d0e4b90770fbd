"""pytest-benchmark set-up: full architectures (random weights) on a GPU, the tiny preset on CPU.

    pytest benchmarks/ --benchmark-only                 # GPU: sd21-base fp16 512 px; CPU: tiny fp32; batch 1 and 4
    pytest benchmarks/ --benchmark-only --gb-model sd15 --gb-batch 4 --gb-backends none,midu,pixel
    pytest benchmarks/ --benchmark-only --benchmark-json out/bench.json

pytest-benchmark's pedantic mode has no command-line rounds, hence --gb-rounds
and --gb-warmup. Machine info (GPU, driver, torch, CUDA, diffusers versions)
comes from the root conftest's pytest_benchmark_update_machine_info; the root
conftest also pins torch to one CPU thread (steady on a shared CPU; each case
records torch_threads).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from guidance import BACKENDS


def pytest_addoption(parser):
    g = parser.getgroup("guidance-bench")
    g.addoption("--gb-model", default=None, help="preset to benchmark (default: sd21-base on CUDA, tiny on CPU)")
    g.addoption("--gb-dtype", default=None, help="fp32, fp16 or bf16 (default: fp16 on CUDA, fp32 on CPU)")
    g.addoption("--gb-batch", default="1,4", help="comma-separated batch sizes (per CFG half)")
    g.addoption("--gb-size", type=int, default=None, help="square image size in pixels (default: the model's)")
    g.addoption("--gb-backends", default=",".join(BACKENDS), help="comma-separated backends")
    g.addoption("--gb-rounds", type=int, default=None, help="timed rounds per benchmark (default: 20 on CUDA, 5 on CPU)")
    g.addoption("--gb-warmup", type=int, default=None, help="warm-up rounds per benchmark (default: 5 on CUDA, 2 on CPU)")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def pytest_generate_tests(metafunc):
    opt = metafunc.config.getoption
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _csv(opt("--gb-backends")))
    if "batch" in metafunc.fixturenames:
        metafunc.parametrize("batch", [int(b) for b in _csv(opt("--gb-batch"))])


@dataclass
class BenchSetup:
    """Models loaded once per session; backends and step inputs built on first use."""

    models: object
    model: str
    dtype: str
    size: int
    rounds: int
    warmup: int
    scorers: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.models.device

    def backend(self, name: str):
        from bench.cost_run import build_backends

        return build_backends(self.models, [name], self.size, self.size, self.scorers)[name]

    def step(self, batch: int):
        from bench.cost_run import CostConfig, step_input

        if batch not in self.steps:
            cfg = CostConfig(model=self.model, dtype=self.dtype, device=str(self.device), batch=batch)
            self.steps[batch] = step_input(self.models, cfg, self.size, self.size)
        return self.steps[batch]


@pytest.fixture(scope="session")
def gb(request) -> BenchSetup:
    from bench.models import DTYPES, load_models

    opt = request.config.getoption
    cuda = torch.cuda.is_available()
    model = opt("--gb-model") or ("sd21-base" if cuda else "tiny")
    dtype = opt("--gb-dtype") or ("fp16" if cuda else "fp32")
    if dtype not in DTYPES:
        raise pytest.UsageError(f"--gb-dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    if cuda:
        torch.backends.cudnn.benchmark = True  # every backend gets cuDNN's fastest algorithms alike
    models = load_models(model, "random", dtype=DTYPES[dtype], device="cuda" if cuda else "cpu")
    return BenchSetup(models, model, dtype, opt("--gb-size") or models.resolution,
                      rounds=opt("--gb-rounds") or (20 if cuda else 5), warmup=opt("--gb-warmup") or (5 if cuda else 2))
