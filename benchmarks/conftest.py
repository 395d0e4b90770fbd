"""pytest-benchmark set-up: full architectures (random weights) on a GPU, the tiny preset on CPU.

    pytest benchmarks/ --benchmark-only                 # GPU: sd21-base fp16 512 px; CPU: tiny fp32; batch 1 and 4
    pytest benchmarks/ --benchmark-only --gb-model sd15 --gb-batch 4 --gb-backends none,midu,pixel
    pytest benchmarks/ --benchmark-only --benchmark-json out/bench.json

pytest-benchmark's pedantic mode has no command-line rounds, hence --gb-rounds
and --gb-warmup. The root conftest pins torch to one CPU thread (steady on a
shared CPU; each case records torch_threads).

Provenance (git commit, package versions, GPU, driver) goes under the JSON's
top-level "guidance_bench" key, not into machine_info: pytest-benchmark warns
on any machine_info difference from a baseline (and commit_info already holds
the commit), so a commit there would make every compare differ. Each case's
extra_info gets `step_ms_ratio`, its median over the median of `none` at the
same model, dtype, size and batch in this session: the figure `python -m bench
gate` gates in these files.

Test only: GB_TEST_SLOWDOWN=BACKEND=FACTOR[,...] (e.g. midu=5) makes the timed
call of those backends FACTOR times slower by sleeping after it, so
tests/test_benchmark_recipe.py can plant a regression; the case records it as
extra_info["planted_slowdown"]. Never set it in a real run.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def pytest_configure(config):
    json_path = config.getoption("benchmark_json", None)
    if json_path is not None:  # pytest-benchmark opens the file only at the end, and fails there on a missing folder
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


SLOWDOWN_ENV = "GB_TEST_SLOWDOWN"  # test-only: see the module docstring


def planted_slowdowns(text: str) -> dict[str, float]:
    """'midu=5,pixel=2' -> {'midu': 5.0, 'pixel': 2.0}; a bad item is a one-line usage error."""
    out = {}
    for item in _csv(text):
        name, _, factor = item.partition("=")
        try:
            out[name] = float(factor)
        except ValueError:
            out[name] = 0.0
        if name not in BACKENDS or out[name] < 1:
            raise pytest.UsageError(f"{SLOWDOWN_ENV}={text!r}: expected BACKEND=FACTOR items, FACTOR >= 1, e.g. midu=5")
    return out


def slowed(fn, factor: float):
    """`fn`, then a sleep of (factor - 1) times its duration: factor x slower without burning the shared CPU."""
    if factor == 1:
        return fn

    def run():
        t0 = time.perf_counter()
        fn()
        time.sleep((factor - 1) * (time.perf_counter() - t0))

    return run


def _ratio_key(info: dict) -> tuple:
    return tuple(info.get(k) for k in ("model", "dtype", "batch", "height", "width", "device"))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Ratios to `none` into each case's extra_info, and our provenance under a key pytest-benchmark never compares."""
    from bench.store.provenance import machine_info

    output_json["guidance_bench"] = machine_info()
    cases = output_json["benchmarks"]
    unguided = {_ratio_key(c["extra_info"]): c["stats"]["median"] for c in cases if c["extra_info"].get("backend") == "none"}
    for c in cases:
        base = unguided.get(_ratio_key(c["extra_info"]))
        if base:  # no `none` in the session (--gb-backends without it): no ratio rather than a wrong one
            c["extra_info"]["step_ms_ratio"] = round(c["stats"]["median"] / base, 4)


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
    slowdown: dict = field(default_factory=dict)  # test only: backend -> factor
    scorers: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.models.device

    def timed(self, name: str, fn):
        """The call pytest-benchmark times: `fn`, slowed only when the test-only switch names this backend."""
        return slowed(fn, self.slowdown.get(name, 1.0))

    def backend(self, name: str):
        from bench.cost.run import build_backends

        return build_backends(self.models, [name], self.size, self.size, self.scorers)[name]

    def step(self, batch: int):
        from bench.cost.run import CostRunConfig, step_input

        if batch not in self.steps:
            cfg = CostRunConfig(model=self.model, dtype=self.dtype, device=str(self.device), batch=batch)
            self.steps[batch] = step_input(self.models, cfg, self.size, self.size)
        return self.steps[batch]


@pytest.fixture(scope="session")
def gb(request) -> BenchSetup:
    from sdmodels import DTYPES, load_models

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
                      rounds=opt("--gb-rounds") or (20 if cuda else 5), warmup=opt("--gb-warmup") or (5 if cuda else 2),
                      slowdown=planted_slowdowns(os.environ.get(SLOWDOWN_ENV, "")))
