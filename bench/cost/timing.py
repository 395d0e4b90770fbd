"""Step clocks, interleaved rounds and the statistics every cost row reports.

Two clocks time a step the same way from the caller's side:

- on CUDA, events recorded between consecutive steps, read after one
  synchronize per block of steps (a synchronize per step would stall the
  CPU's run-ahead and distort launch-bound steps; PyTorch PR #75393);
- on CPU, `time.perf_counter` around each call.

Lent GPUs are noisy (the prototype saw 30% swings between identical runs), so
backends are timed in interleaved rounds: every round runs a block of steps
of each backend, in an order rotated by one each round, and the ratio of a
backend to the reference (`none`) is taken per round, then summarised by its
median and spread. A slow phase of the machine then hits both sides of a ratio.

    times = interleaved_rounds({"none": f0, "midu": f1}, TimingConfig(rounds=5), make_clock("cuda"))
    summary(times["midu"])                   # {"step_ms": ..., "step_ms_iqr": ..., ...}
    ratio_stats(times["midu"], times["none"])  # (median, lo, hi) of per-round ratios
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

Rounds = list[list[float]]  # per round, the step times in ms


@dataclass(frozen=True)
class TimingConfig:
    warmup: int = 3  # untimed steps per backend before the first round (allocator, cudnn autotune, compile)
    rounds: int = 5
    steps: int = 5  # timed steps per backend per round

    def __post_init__(self):
        for name in ("rounds", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected an integer >= 1")
        if self.warmup < 0:
            raise ValueError(f"warmup={self.warmup}: expected an integer >= 0")


class CpuClock:
    name = "perf_counter"

    def block(self, fn: Callable[[], object], n: int) -> list[float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return times

    def sync(self) -> None:
        pass


class CudaClock:
    """CUDA events between consecutive steps; one synchronize per block."""

    name = "cuda_events"

    def __init__(self, device: torch.device):
        self.device = device

    def block(self, fn: Callable[[], object], n: int) -> list[float]:
        events = [torch.cuda.Event(enable_timing=True) for _ in range(n + 1)]
        events[0].record()
        for e in events[1:]:
            fn()
            e.record()
        events[-1].synchronize()
        return [a.elapsed_time(b) for a, b in zip(events, events[1:])]

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)


def make_clock(device: str | torch.device) -> CpuClock | CudaClock:
    device = torch.device(device)
    if device.type == "cuda":
        return CudaClock(device)
    if device.type == "cpu":
        return CpuClock()
    raise ValueError(f"no step clock for device {str(device)!r}; expected cpu or cuda")


def interleaved_rounds(fns: dict[str, Callable[[], object]], cfg: TimingConfig, clock) -> dict[str, Rounds]:
    """Per name, per round, the times of `cfg.steps` consecutive steps."""
    names = list(fns)
    if not names:
        raise ValueError("interleaved_rounds: expected at least one step function")
    for name in names:
        for _ in range(cfg.warmup):
            fns[name]()
    clock.sync()
    times: dict[str, Rounds] = {name: [] for name in names}
    for r in range(cfg.rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:  # rotated: no backend always runs right after the same one
            times[name].append(clock.block(fns[name], cfg.steps))
    return times


def summary(rounds: Rounds) -> dict[str, float]:
    """Median and interquartile range over every timed step, and the spread of round medians."""
    flat = [t for r in rounds for t in r]
    medians = [statistics.median(r) for r in rounds]
    return {
        "step_ms": statistics.median(flat),
        "step_ms_iqr": float(np.quantile(flat, 0.75) - np.quantile(flat, 0.25)),
        "step_ms_min": min(flat),
        "round_ms_lo": min(medians),
        "round_ms_hi": max(medians),
        "n_steps": len(flat),
        "n_rounds": len(rounds),
    }


def ratio_stats(rounds: Rounds, ref: Rounds) -> tuple[float, float, float]:
    """(median, min, max) over rounds of median(step) / median(reference step) in the same round."""
    if len(rounds) != len(ref):
        raise ValueError(f"ratio over {len(rounds)} rounds against a reference of {len(ref)}: expected the same rounds")
    ratios = [statistics.median(a) / statistics.median(b) for a, b in zip(rounds, ref)]
    return statistics.median(ratios), min(ratios), max(ratios)
