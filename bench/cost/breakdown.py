"""Where a guided step's time goes: per component and phase, GPU busy time, top kernels.

The step runs under `torch.profiler` with a `record_function` range around
each component's forward, pushed by module forward hooks:

    unet_down      conv_in, time (and added) embeddings, down blocks
    unet_mid       mid block
    unet_up        up blocks, output norm and conv
    decoder        VAE (or tiny) decoder
    image_encoder  the CLIP image tower
    head           the scorer head (mid-block/latent head, aesthetic MLP)
    other          everything outside them (x0, CLIP preprocessing, autograd glue)

These are the cost model's parts (bench/costmodel/count.py), its unet_down_mid split in two.

Backward ops carry no ranges, but the profiler gives each backward node the
sequence number of the forward op that made it; the forward op's range names
the component, so backward time lands on the component whose forward saved
it ("unet_up bwd" is zero exactly when no gradient crosses the up blocks).

Times per step: host time (self CPU time of the ops) everywhere; on CUDA
also kernel time per component and GPU busy time (the union of all kernel
and copy intervals), which against the wall-clock step says whether the
step is launch-bound (busy << wall) or compute-bound (busy ~ wall).

    b = profile_step(lambda: backend(step), backend, steps=2, device=torch.device("cuda"))
    b.gpu_busy_ms, b.components[("unet_down", "bwd")], b.kernels[:5]
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function

COMPONENTS = ("unet_down", "unet_mid", "unet_up", "decoder", "image_encoder", "head", "other")
PHASES = ("fwd", "bwd")
BWD_PREFIX = "autograd::engine::evaluate_function"


@dataclass
class Breakdown:
    steps: int
    components: dict[tuple[str, str], dict[str, float]]  # (component, phase) -> {"cpu_ms", "device_ms"} per step
    kernels: list[dict]  # heaviest first: name, component, phase, calls, ms (per step), share
    gpu_busy_ms: float | None  # per step; None without a GPU
    cpu_ms: float  # host op time per step, all threads
    device_ms: float | None  # kernel time per step


def component_modules(backend) -> dict[str, list[torch.nn.Module]]:
    """The modules whose forward marks each component, read off the backend's parts."""
    u = backend.unet
    tail = ("conv_norm_out", "conv_act", "conv_out")
    # the root too: the stock forward's own ops (time projection glue) count as the first half,
    # as in the cost model; the split forward calls the children directly
    embeds = [c for n, c in u.named_children() if n not in ("down_blocks", "mid_block", "up_blocks", *tail)]
    parts = {
        "unet_down": [u, *embeds, *u.down_blocks],
        "unet_mid": [u.mid_block],
        "unet_up": [*u.up_blocks, *(getattr(u, n) for n in tail)],
    }
    decoder = getattr(backend, "decoder", None)
    if decoder is not None:  # `decode()` is no forward: mark the submodules it calls
        parts["decoder"] = [getattr(decoder, n, None) for n in ("post_quant_conv", "decoder")]
    scorer = getattr(backend, "scorer", None)
    if scorer is not None and hasattr(scorer, "visual"):  # CLIP tower + MLP; preprocessing stays "other"
        parts["image_encoder"] = [scorer.visual]
        parts["head"] = [scorer.mlp]
    elif scorer is not None:
        parts["head"] = [scorer]
    return {k: [m for m in v if m is not None] for k, v in parts.items()}


@contextmanager
def labelled(parts: dict[str, list[torch.nn.Module]]):
    """A profiler range named after its component around each listed module's forward."""
    handles = []
    for label, modules in parts.items():
        if label not in COMPONENTS:
            raise ValueError(f"unknown component {label!r}; expected one of {COMPONENTS}")
        for m in modules:
            open_ranges: list = []

            def enter(module, args, label=label, open_ranges=open_ranges):
                r = record_function(label)
                r.__enter__()
                open_ranges.append(r)

            def leave(module, args, output, open_ranges=open_ranges):
                open_ranges.pop().__exit__(None, None, None)

            handles.append(m.register_forward_pre_hook(enter))
            handles.append(m.register_forward_hook(leave))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def profile_step(fn: Callable[[], object], backend, steps: int, device: torch.device, top: int = 15) -> Breakdown:
    """Profile `steps` calls of `fn` (after one unprofiled call) with the backend's components marked."""
    if steps < 1:
        raise ValueError(f"steps={steps}: expected an integer >= 1")
    on_gpu = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with labelled(component_modules(backend)):
        fn()
        _sync(device)
        with profile(activities=activities) as prof:
            for _ in range(steps):
                fn()
            _sync(device)
    return analyse(prof.events(), steps, on_gpu, top)


def busy_only(fn: Callable[[], object], steps: int, device: torch.device) -> Breakdown:
    """GPU busy time alone, for modes whose host side names no ops (graph replay, compiled code).

    gpu_busy_ms stays None when the profiler saw no device activity (a CUPTI that does not trace
    inside graph launches, say), rather than reporting an idle GPU.
    """
    if device.type != "cuda":
        raise ValueError(f"busy_only needs a CUDA device, got {str(device)!r}")
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        _sync(device)
    events = prof.events()
    busy = busy_ms([(e.time_range.start, e.time_range.end) for e in events if _device_work(e)]) / steps
    cpu = sum(e.self_cpu_time_total for e in events if e.device_type == DeviceType.CPU) / 1e3 / steps
    return Breakdown(steps, {}, [], busy or None, cpu, None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def analyse(events, steps: int, on_gpu: bool, top: int = 15) -> Breakdown:
    """Split a profile's events by component and phase (see the module docstring)."""
    cpu_events = [e for e in events if e.device_type == DeviceType.CPU]
    where = _assign(cpu_events)
    comps: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"cpu_ms": 0.0, "device_ms": 0.0})
    kernels: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for e in cpu_events:
        key = where[id(e)]
        comps[key]["cpu_ms"] += e.self_cpu_time_total / 1e3 / steps
        if on_gpu:
            for k in _work_kernels(e):
                comps[key]["device_ms"] += k.duration / 1e3 / steps
                acc = kernels[(k.name, *key)]
                acc[0] += 1
                acc[1] += k.duration / 1e3 / steps
        elif e.name.startswith("aten::"):  # on CPU the ops are the kernels
            acc = kernels[(e.name, *key)]
            acc[0] += 1
            acc[1] += e.self_cpu_time_total / 1e3 / steps
    cpu_ms = sum(c["cpu_ms"] for c in comps.values())
    device_ms = sum(c["device_ms"] for c in comps.values()) if on_gpu else None
    total = device_ms if on_gpu else sum(v[1] for v in kernels.values())
    ranked = sorted(kernels.items(), key=lambda kv: -kv[1][1])[:top]
    kernel_rows = [
        {"kernel": name, "component": c, "phase": p, "calls_per_step": n / steps, "kernel_ms": ms, "share": ms / total if total else 0.0}
        for (name, c, p), (n, ms) in ranked
    ]
    busy = busy_ms([(e.time_range.start, e.time_range.end) for e in events if _device_work(e)]) / steps if on_gpu else None
    if not on_gpu:
        comps = {k: {"cpu_ms": v["cpu_ms"], "device_ms": None} for k, v in comps.items()}
    return Breakdown(steps, dict(comps), kernel_rows, busy, cpu_ms, device_ms)


def _device_work(e) -> bool:
    """A device event that is work (kernel, copy, memset), not an annotation span: profiler ranges
    (ours, torch.compile's) are mirrored onto the GPU timeline and would cover the gaps between kernels."""
    if e.device_type == DeviceType.CPU or getattr(e, "is_user_annotation", False):
        return False
    if "annotation" in str(getattr(e, "activity_type", "") or ""):
        return False
    return e.name not in COMPONENTS


def _work_kernels(e) -> list:
    """The kernels a host op launched, less any mirrored annotation of the op itself."""
    return [k for k in e.kernels if k.name != e.name and k.name not in COMPONENTS]


def _assign(cpu_events) -> dict[int, tuple[str, str]]:
    """id(event) -> (component, phase): the innermost component range above a forward op; for a
    backward op, the component of the forward op that created its autograd node."""
    # keyed by object identity: profiler ids of ops and of CUDA runtime calls come from different counters
    anchor: dict[int, object] = {}  # id(event) -> label string, ("bwd", event) or None

    def find(e):
        chain = []
        while e is not None and id(e) not in anchor:
            chain.append(e)
            if e.name in COMPONENTS:
                found = e.name
                break
            if e.name.startswith(BWD_PREFIX):
                found = ("bwd", e)
                break
            e = e.cpu_parent
        else:
            found = anchor[id(e)] if e is not None else None
        for c in chain:
            anchor[id(c)] = found
        return found

    for e in cpu_events:
        find(e)
    # forward op -> its node's sequence number; the latest-starting op with a number made the node
    # (ops under no_grad report the counter's next value without taking it)
    made_by: dict[tuple[int, int], tuple[float, str]] = {}
    for e in cpu_events:
        a = anchor[id(e)]
        if e.sequence_nr >= 0 and not isinstance(a, tuple):
            key = (e.thread, e.sequence_nr)
            if key not in made_by or e.time_range.start >= made_by[key][0]:
                made_by[key] = (e.time_range.start, a or "other")
    out = {}
    for eid, a in anchor.items():
        if isinstance(a, tuple):
            b = a[1]
            out[eid] = (made_by.get((b.fwd_thread, b.sequence_nr), (0, "other"))[1], "bwd")
        else:
            out[eid] = (a or "other", "fwd")
    missing = sum(id(e) not in out for e in cpu_events)
    if missing:
        raise AssertionError(f"{missing} profiler events got no component")
    return out


def busy_ms(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals given in microseconds, in ms."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total / 1e3


def component_rows(b: Breakdown) -> list[dict]:
    """Flat rows (component, phase, cpu_ms, device_ms, share) in the fixed component order."""
    total = b.device_ms if b.device_ms else b.cpu_ms
    rows = []
    for comp in COMPONENTS:
        for phase in PHASES:
            v = b.components.get((comp, phase))
            if v is None:
                continue
            t = v["device_ms"] if b.device_ms else v["cpu_ms"]
            rows.append({"component": comp, "phase": phase, "cpu_ms": v["cpu_ms"], "device_ms": v["device_ms"],
                         "share": t / total if total else 0.0})
    return rows
