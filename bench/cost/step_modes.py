"""How one backend call runs in each timing mode, and what that mode's first step holds in memory.

- eager:   the call as the sampler makes it;
- graph:   captured once as a CUDA graph and replayed (static inputs, no host syncs; CUDA only);
- compile: `torch.compile` of the call (graph breaks allowed).

`prepare` never raises for a backend a mode cannot run: it returns `fn=None`
and a status that says why ("skipped: ...", "failed: ..."), which the row keeps.

    p = prepare("graph", lambda: backend(step), torch.device("cuda"), "inductor")
    p.fn(), p.status, p.memory.peak_alloc_gib
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from bench.cost.memory import MemoryReading, flush, measure_peak

MODES = ("eager", "graph", "compile")


@dataclass
class Prepared:
    fn: Callable[[], object] | None  # None when the mode could not run this backend
    status: str  # "ok", "skipped: ...", "failed: ..."
    memory: MemoryReading | None = None


def prepare(mode: str, call: Callable[[], object], device: torch.device, compile_backend="inductor") -> Prepared:
    """Make `call` runnable in `mode` and measure one step's peak memory there; a step that does not
    fit in device memory becomes a row that says so. `compile_backend`: a torch.compile backend name
    or callable."""
    try:
        return _prepare(mode, call, device, compile_backend)
    except torch.OutOfMemoryError:
        flush(device)
        return Prepared(None, f"failed: out of memory ({mode})")


def _prepare(mode: str, call: Callable[[], object], device: torch.device, compile_backend) -> Prepared:
    if mode == "eager":
        call()  # warm: cuDNN autotuning tries algorithms with their own workspaces, lazy inits
        return Prepared(call, "ok", measure_peak(call, device))
    if mode == "compile":
        compiled = torch.compile(call, backend=compile_backend)
        try:
            compiled()  # compiles here, outside memory and timing
        except RuntimeError as e:  # dynamo/inductor errors subclass RuntimeError
            return Prepared(None, f"failed: torch.compile: {_first_line(e)}")
        return Prepared(compiled, f"ok (torch.compile backend={compile_backend})", measure_peak(compiled, device))
    if mode == "graph":
        if device.type != "cuda":
            return Prepared(None, "skipped: CUDA graphs need a CUDA device")
        return _capture(call, device)
    raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")


def _capture(call, device: torch.device) -> Prepared:
    """Warm up on a side stream (as torch.cuda.graph asks), then capture one call and replay it.

    The memory reading covers capture and one replay after a flush: the graph's private pool.
    """
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            call()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    held = {}

    def capture_and_replay():
        with torch.cuda.graph(graph):
            held["out"] = call()  # static outputs: the replays write into these
        graph.replay()

    try:
        mem = measure_peak(capture_and_replay, device)
    except torch.OutOfMemoryError:
        flush(device)
        return Prepared(None, "failed: out of memory capturing (the other backends' graphs are held for interleaved rounds)")
    except RuntimeError as e:  # e.g. an op that syncs with the host or is not permitted while capturing
        flush(device)
        return Prepared(None, f"failed: cannot capture: {_first_line(e)}")
    return Prepared(lambda: (graph.replay(), held)[0], "ok", mem)


def _first_line(e: BaseException) -> str:
    """The error's first line; with a colon at its end (dynamo's "backend='x' raised:"), the next one too."""
    text = [t for t in str(e).strip().splitlines() if t.strip()] or [type(e).__name__]
    return " ".join(text[:2] if text[0].endswith(":") else text[:1])[:300]
