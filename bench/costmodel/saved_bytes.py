"""Bytes that autograd keeps alive for the backward of one backend call.

Every tensor autograd saves for backward passes through a saved-tensors pack
hook. What that keeps alive is the tensor's whole storage, not its visible
extent: a saved view (a chunk of a batched output, a head-split Q, a
transposed weight) holds the storage it views. So we count storages, each
once (the same activation is often saved by several nodes: the input of a
conv and of the norm before it, K and V when they are one tensor), by
storage identity (torch keeps one Python object per live storage; we hold
them for the call so an identity cannot be reused). Storages of model
parameters and buffers are not counted: they are resident whether or not a
graph exists.

The figure is the activation memory a graph holds at the end of the forward,
the part of the extra peak memory that grows with the gradient path; the
peak itself adds the backward's transient buffers and allocator rounding,
which only a GPU measurement sees.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import Tensor

from bench.costmodel.flops import PartTracker


class SavedBytes:
    """`with saved.hooks(): ...` then `saved.total()` and `saved.by_part`."""

    def __init__(self, tracker: PartTracker, model_state: Iterable[Tensor]):
        self.tracker = tracker
        self._state = {id(t.untyped_storage()): t.untyped_storage() for t in model_state}
        self._seen: dict[int, object] = {}  # id(storage) -> storage, held so ids stay unique
        self.by_part: dict[str, int] = defaultdict(int)

    def _pack(self, t: Tensor) -> Tensor:
        s = t.untyped_storage()
        if id(s) not in self._state and id(s) not in self._seen:
            self._seen[id(s)] = s
            self.by_part[self.tracker.current()] += s.nbytes()
        return t

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def total(self) -> int:
        return sum(self.by_part.values())

    def release(self) -> None:
        self._seen.clear()


def model_state(*modules) -> list[Tensor]:
    """Parameters and buffers of the given modules (None entries skipped)."""
    return [t for m in modules if m is not None for t in (*m.parameters(), *m.buffers())]
