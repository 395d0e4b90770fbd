"""FLOPs of one backend call, split into forward and backward and by part of the model.

The counting is torch's own: `FlopCounterMode` applies the formulas of
`torch.utils.flop_counter` to the aten ops that actually run, forward and
backward, so the count follows what the backend really builds (which CFG half
has a graph, what is detached, which input gradients autograd asks for).

Counted (2 FLOPs per multiply-add): mm, addmm, bmm, baddbmm (linear layers,
matmuls), convolution forward and backward (the backward only for the
gradients autograd asks for: with frozen weights, grad_input alone), and the
fused scaled-dot-product-attention kernels, forward (QK^T and PV) and backward
(the formula of torch's flash/efficient/cuDNN kernels: the scores are
recomputed and dQ, dK, dV are all produced, 5 matmuls). Not counted (zero):
elementwise ops, activations, group/layer norm, softmax outside SDPA,
interpolation, reductions, copies. Those are memory-bound; their cost is bytes
moved, which FLOPs do not describe.

Two things are ours, each for a reason:

- `PartTracker` attributes every op to a part of the step (UNet down+mid, UNet
  up, decoder, image encoder, head, other). Forward ops take the innermost part
  module running; backward ops take the part whose forward created the autograd
  node being executed. FlopCounterMode's own per-module breakdown cannot be
  used: its module tracker hooks every module input that requires grad, and
  `torch.autograd.grad` on such a leaf (every guided backend does this) fails
  with "A leaf node was passed to _will_engine_execute_node"; it also loses
  track of modules called with keyword arguments only, as diffusers calls its
  blocks.
- `attention_kernel("fused", device)`: on the meta device SDPA has no fused kernel to
  choose and falls back to the math path, which counts a different backward and
  saves the whole attention matrix. Real devices run a fused kernel (CPU: flash
  for CPU; CUDA: flash or memory-efficient, same formula, same saved tensors),
  so on meta we run the CPU flash kernel's meta implementation, and on CPU and
  CUDA we insist on a fused kernel.
"""
from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from bench.costmodel import ATTENTION_KINDS, PARTS
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten



def _cpu_flash_fwd(q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(q, k, v)


def _cpu_flash_bwd(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, q, k, v)


# torch has formulas for the CUDA attention kernels but none for the CPU flash kernel: same maths, same formula.
CPU_SDPA_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_fwd,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_bwd,
}
ATTENTION_OPS = frozenset({
    *CPU_SDPA_FORMULAS,
    aten._scaled_dot_product_flash_attention, aten._scaled_dot_product_flash_attention_backward,
    aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_efficient_attention_backward,
    aten._scaled_dot_product_cudnn_attention, aten._scaled_dot_product_cudnn_attention_backward,
})


def in_backward() -> bool:
    return torch._C._current_graph_task_id() != -1


class PartTracker(TorchFunctionMode):
    """Which part of the step is running: a module stack in forward, autograd-node tags in backward.

    `parts` maps part-root modules to part names; nested roots win (a scorer's
    `visual` inside the scorer). Every autograd node is tagged, when the torch
    function that made it returns, with the part running then, so a backward op
    is charged to the part whose forward made its node.
    """

    def __init__(self, parts: dict[nn.Module, str]):
        super().__init__()
        unknown = set(parts.values()) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown parts {sorted(unknown)}; expected some of {PARTS}")
        self._part_of = {id(m): p for m, p in parts.items()}
        self._modules = list(parts)  # keep ids valid
        self._stack: list[str] = []
        self._node_part: dict[int, tuple[object, str]] = {}  # id(node) -> (node kept alive, part)
        self._handles = []

    def current(self) -> str:
        if in_backward():
            node = torch._C._current_autograd_node()
            if node is None or id(node) not in self._node_part:
                raise RuntimeError(f"backward op in autograd node {node} that no tracked forward made")
            return self._node_part[id(node)][1]
        return self._stack[-1] if self._stack else "other"

    def _pre(self, module, args):
        part = self._part_of.get(id(module))
        if part is not None:
            self._stack.append(part)

    def _post(self, module, args, out):
        if id(module) in self._part_of:
            self._stack.pop()

    def _tag(self, tensors) -> None:
        part = self._stack[-1] if self._stack else "other"
        todo = [t.grad_fn for t in tensors if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        while todo:  # new nodes are those not tagged yet; everything upstream of a tagged node is tagged
            node = todo.pop()
            if id(node) in self._node_part:
                continue
            self._node_part[id(node)] = (node, part)
            todo.extend(n for n, _ in node.next_functions if n is not None)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if torch.is_grad_enabled() and not in_backward():
            self._tag(tree_flatten(out)[0] + tree_flatten((args, kwargs))[0])  # args too: in-place ops
        return out

    def __enter__(self):
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

        self._handles = [register_module_forward_pre_hook(self._pre), register_module_forward_hook(self._post)]
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles, self._stack = [], []
        self._node_part.clear()  # releases the nodes (and what they hold)
        return super().__exit__(*exc)


class _NoModuleTracker:
    """Stands in for FlopCounterMode's module tracker (see the module docstring for why)."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class FlopCounter(FlopCounterMode):
    """FlopCounterMode whose counts are also kept per (phase, part, op)."""

    def __init__(self, tracker: PartTracker):
        super().__init__(display=False, custom_mapping=CPU_SDPA_FORMULAS)
        self.mod_tracker = _NoModuleTracker()
        self.tracker = tracker
        self.by_part: dict[tuple[str, str, object], int] = defaultdict(int)

    def _count_flops(self, func_packet, out, args, kwargs):
        if func_packet in self.flop_registry:
            n = self.flop_registry[func_packet](*args, **kwargs, out_val=out)
            self.flop_counts["Global"][func_packet] += n
            phase = "bwd" if in_backward() else "fwd"
            self.by_part[(phase, self.tracker.current(), func_packet)] += n
        return out

    def flops(self, phase: str | None = None, part: str | None = None, attention: bool | None = None) -> int:
        """Sum over the matching (phase, part, op) cells; None matches all."""
        return sum(
            n for (ph, pa, op), n in self.by_part.items()
            if (phase is None or ph == phase) and (part is None or pa == part)
            and (attention is None or (op in ATTENTION_OPS) == attention)
        )

    def ops(self) -> dict[str, int]:
        """FLOPs per aten op over the whole call (FlopCounterMode's "Global" row)."""
        return {str(op): n for op, n in self.get_flop_counts().get("Global", {}).items()}


def _sdpa_as_cpu_flash(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if enable_gqa:
        raise ValueError("attention_kernel(\"fused\", \"meta\"): enable_gqa=True is not supported by the CPU flash kernel")
    return aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, dropout_p, is_causal, attn_mask=attn_mask, scale=scale)[0]




FUSED_CUDA = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]


@contextmanager
def attention_kernel(kind: str, device: str | torch.device):
    """Run SDPA as `kind` says on `device` (meta, cpu or cuda).

    fused: a fused kernel, whose FLOP formula (backward: QK^T recomputed, dQ, dK and dV
    all produced) and saved tensors (Q, K, V, output, log-sum-exp) are the same on every
    device: the CPU flash kernel on CPU and, through its meta implementation, on meta;
    flash, memory-efficient or cuDNN attention on CUDA.
    math: the unfused path (explicit softmax(QK^T)V); autograd then computes only the
    gradients it needs, which gives the minimal backward FLOPs, but saves the attention
    matrix (in fp32 on CPU and meta, which upcast half precision inside it).
    An input the chosen kernels refuse fails loudly instead of falling back.
    """
    device = torch.device(device)
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention {kind!r}; valid: {', '.join(ATTENTION_KINDS)}")
    if device.type not in ("meta", "cpu", "cuda"):
        raise ValueError(f"cost model device {device.type!r}: expected meta, cpu or cuda")
    if device.type == "cpu":
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION if kind == "fused" else SDPBackend.MATH):
            yield
    elif device.type == "cuda":
        with sdpa_kernel(FUSED_CUDA if kind == "fused" else SDPBackend.MATH):
            yield
    elif kind == "math":
        yield  # meta has no fused kernel to choose: SDPA takes the math path by itself
    else:
        # SDPA is a composite op; a kernel at its meta autograd key replaces the math fallback
        # for the duration of the block and is removed when the library object dies.
        lib = torch.library.Library("aten", "IMPL")
        lib.impl("scaled_dot_product_attention", _sdpa_as_cpu_flash, "AutogradMeta")
        try:
            yield
        finally:
            del lib
