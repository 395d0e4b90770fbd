"""Peak memory of one step, above what is resident before it.

On CUDA the torch caching allocator's peaks (allocated: live tensors;
reserved: what the allocator holds from the driver), taken after a flush
(`gc.collect`, `empty_cache`, `reset_peak_memory_stats`) and measured above
the allocated/reserved bytes present just before the step: the weights of
every loaded model and scorer, and the step's inputs. NVML's device-wide
used memory (driver context and other processes included) is read at the
end of the step, before anything is released.

On CPU there is no allocator peak to read, so the step runs under
`torch.profiler` with `profile_memory=True` and the peak is the highest
running sum of its CPU allocation events above the start of the step.

    m = measure_peak(lambda: backend(step), "cuda")
    m.peak_alloc_gib, m.peak_reserved_gib, m.nvml_used_gib
"""
from __future__ import annotations

import gc
import itertools
from dataclasses import dataclass
from typing import Callable

import torch

GIB = 2**30


@dataclass(frozen=True)
class MemoryReading:
    peak_alloc_gib: float
    peak_reserved_gib: float | None  # None on CPU: no caching allocator
    nvml_used_gib: float | None  # None on CPU, or where NVML cannot start
    mem_source: str  # "cuda_allocator" or "cpu_profiler"


def flush(device: torch.device) -> None:
    """Free what can be freed and restart the peak counters, between configurations."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure_peak(fn: Callable[[], object], device: str | torch.device) -> MemoryReading:
    """Run `fn` once (a step, or whatever must be measured as one) and read its peak memory."""
    device = torch.device(device)
    if device.type == "cuda":
        return _cuda_peak(fn, device)
    if device.type == "cpu":
        return _cpu_peak(fn)
    raise ValueError(f"no memory measurement for device {str(device)!r}; expected cpu or cuda")


def _cuda_peak(fn, device: torch.device) -> MemoryReading:
    flush(device)
    base_alloc = torch.cuda.memory_allocated(device)
    base_reserved = torch.cuda.memory_reserved(device)
    result = fn()
    torch.cuda.synchronize(device)
    nvml = nvml_used_gib(device)
    peak_alloc = torch.cuda.max_memory_allocated(device) - base_alloc
    peak_reserved = torch.cuda.max_memory_reserved(device) - base_reserved
    del result
    return MemoryReading(peak_alloc / GIB, peak_reserved / GIB, nvml, "cuda_allocator")


def _cpu_peak(fn) -> MemoryReading:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
        del result
    return MemoryReading(profiler_peak_bytes(prof, "cpu") / GIB, None, None, "cpu_profiler")


def profiler_peak_bytes(prof, device_type: str = "cpu") -> int:
    """Highest running sum of the allocation events (+bytes, -bytes on free) a profile recorded."""
    kind = {"cpu": torch.autograd.DeviceType.CPU, "cuda": torch.autograd.DeviceType.CUDA}[device_type]
    events = prof.profiler.kineto_results.events()
    deltas = [(e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]" and e.device_type() == kind]
    return running_peak([n for _, n in sorted(deltas)])


def running_peak(deltas: list[int]) -> int:
    """max(0, max prefix sum): the peak above the starting level."""
    return max([0, *itertools.accumulate(deltas)])


def nvml_used_gib(device: torch.device) -> float | None:
    """Device-wide used memory from NVML (pynvml, from nvidia-ml-py); None on CPU."""
    if device.type != "cuda":
        return None
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:  # NVML absent in some containers: the allocator figures still stand
        return None
    try:
        index = device.index if device.index is not None else torch.cuda.current_device()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        return pynvml.nvmlDeviceGetMemoryInfo(handle).used / GIB
    finally:
        pynvml.nvmlShutdown()
