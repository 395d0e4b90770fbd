"""Deterministic cost model: FLOPs and saved-for-backward bytes of one guided CFG step, per backend.

Each backend is called once, as the sampler calls it on a guided step
(`backend(StepIn(..., want_grad=True))`, both CFG halves), on the meta device
by default: FLOPs and saved bytes depend on shapes alone, so the full SD 1.5
and SD 2.1-base architectures (random weights, never materialised) take a few
seconds per backend, and the figures are exact and machine-independent, which is what lets
CI gate on them. `--device cpu` runs the same call on real tensors (small
models only); tests pin the two to each other on the tiny preset.

What is counted (bench/costmodel/flops.py): matmul, convolution and fused-attention
FLOPs, forward and backward apart, weights frozen (input gradients only);
elementwise ops, norms, softmax outside SDPA and interpolation count zero.
Saved bytes (bench/costmodel/saved_bytes.py): distinct storages autograd keeps for the
backward, model weights excluded, in the row's dtype. Both are split by part
(UNet down+mid, UNet up, decoder, image encoder, head, other).

    python -m bench costmodel --models sd15 sd21-base --batches 1 4 --sizes 512 --out results/costmodel
    python -m bench costmodel --models sd21-base --batches 1 2 4 8 --sizes 512 768 --out out/scaling
    python -m bench costmodel --models tiny --device cpu --dtypes fp32 --out out/tiny-real
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from bench.costmodel.flops import ATTENTION_KINDS, PARTS, FlopCounter, PartTracker, attention_kernel
from bench.costmodel.saved_bytes import SavedBytes, model_state
from guidance import StepIn, build_backend, check_backend, scorer_kind
from guidance.prediction import alpha_bar_at
from guidance.registry import HEAD_KINDS
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import DTYPES, check_choice, check_source, encode_prompts, load_models

GIB = 2**30
REFERENCE = "none"  # flops_ratio is taken against the unguided CFG step
UP_PATH = ("conv_norm_out", "conv_act", "conv_out")  # UNet children after the up blocks


@dataclass(frozen=True)
class CountConfig:
    """One row's configuration; `asdict` opens every row."""

    model: str
    backend: str
    batch: int
    height: int
    width: int
    dtype: str
    attention: str = "fused"  # how SDPA runs: "fused" (as real devices run it) or "math" (minimal FLOPs)
    weights: str = "random"  # FLOPs and bytes do not depend on weight values; the row still says so


FIGURES = ("fwd_flops", "bwd_flops", "total_flops", "flops_ratio", "saved_bytes", "saved_gib", "attn_fwd_flops", "attn_bwd_flops")
PART_COLUMNS = tuple(f"{p}_{k}" for p in PARTS for k in ("fwd_flops", "bwd_flops", "saved_bytes"))
COLUMNS = (*CountConfig.__dataclass_fields__, "scorer", *FIGURES, *PART_COLUMNS)


def part_map(models, backend, scorer) -> dict:
    """Part-root modules -> part names, as far as the backend's structure shows them."""
    unet = models.unet
    # The stock forward enters the root (its own ops, the time embedding, go to the first half); the
    # split forward (guidance/unet_split.py) calls the children directly, so they are mapped one by one.
    parts = {unet: "unet_down_mid"}
    for name, child in unet.named_children():
        if name in ("down_blocks", "up_blocks"):  # ModuleLists: only their blocks ever run
            parts.update({b: "unet_down_mid" if name == "down_blocks" else "unet_up" for b in child})
        else:
            parts[child] = "unet_up" if name in UP_PATH else "unet_down_mid"
    decoder = getattr(backend, "decoder", None)
    if decoder is not None:  # decode() is a method: the children run, the root's forward never does
        parts.update({m: "decoder" for m in (decoder, *decoder.children())})
    if scorer is not None and hasattr(scorer, "visual"):  # CLIP tower + MLP; preprocessing stays "other"
        parts[scorer.visual] = "image_encoder"
        parts[scorer.mlp] = "head"
    elif scorer is not None:
        parts[scorer] = "head"
    return parts


def step_input(models, batch: int, height: int, width: int) -> StepIn:
    """A guided step's input: noise latents mid-schedule and the conditioning the pipeline would encode."""
    sched = models.scheduler("ddim")
    t = sched.config.num_train_timesteps // 2
    alpha_bar = alpha_bar_at(sched.alphas_cumprod, t)
    c, h, w = models.latent_shape(height, width)
    x = torch.randn(batch, c, h, w, device=models.device, dtype=models.dtype)
    cond = encode_prompts(models, ["a photo of a cat"] * batch, "", height, width)
    return StepIn(x, torch.tensor(t, device=models.device), alpha_bar, sched.config.prediction_type, cond, want_grad=True)


def measure(backend, step: StepIn, parts: dict, state: list, device: str, attention: str = "fused") -> dict:
    """FLOPs and saved bytes of one call `backend(step)`, totals and per part."""
    tracker = PartTracker(parts)
    counter = FlopCounter(tracker)
    saved = SavedBytes(tracker, state)
    with attention_kernel(attention, device), tracker, counter, saved.hooks():
        backend(step)
    fwd, bwd = counter.flops("fwd"), counter.flops("bwd")
    if fwd + bwd != counter.get_total_flops():  # our override saw every counted op (torch internals moved?)
        raise RuntimeError(f"attributed FLOPs {fwd + bwd} != counted {counter.get_total_flops()}")
    row = {
        "fwd_flops": fwd, "bwd_flops": bwd, "total_flops": fwd + bwd,
        "saved_bytes": saved.total(), "saved_gib": round(saved.total() / GIB, 6),
        # the math path's attention is plain bmm inside SDPA, not separable from other matmuls by op
        "attn_fwd_flops": counter.flops("fwd", attention=True) if attention == "fused" else None,
        "attn_bwd_flops": counter.flops("bwd", attention=True) if attention == "fused" else None,
    }
    for p in PARTS:
        row[f"{p}_fwd_flops"] = counter.flops("fwd", p)
        row[f"{p}_bwd_flops"] = counter.flops("bwd", p)
        row[f"{p}_saved_bytes"] = saved.by_part.get(p, 0)
    row["ops"] = counter.ops()  # FLOPs per aten op; not a CSV column (add_ratios keeps COLUMNS only)
    saved.release()
    return row


def _on(device: str):
    """Build modules directly on meta (no memory, no initialisation) when that is the device."""
    return torch.device("meta") if device == "meta" else nullcontext()


def build_models(model: str, dtype: str, device: str):
    """The preset's parts with random weights; on meta nothing is allocated or initialised for real."""
    with _on(device):
        return load_models(model, weights="random", dtype=DTYPES[dtype], device=device, seed=0)


def scorer_label(desc: dict) -> str:
    if desc["kind"] is None:
        return ""
    return f"{desc['kind']}:{desc['arch']}" if "arch" in desc else desc["kind"]


def check_grid(models: list[str], backends: list[str], batches: list[int], sizes: list[int] | None,
               dtypes: list[str], attentions: list[str]) -> None:
    """Cheap checks on every name and number, before anything is built."""
    for m in models:
        check_source(m, "random")
    for name in backends:
        check_backend(name)
    for d in dtypes:
        check_choice("dtype", d, DTYPES)
    for a in attentions:
        if a not in ATTENTION_KINDS:
            raise ValueError(f"unknown attention {a!r}; valid: {', '.join(ATTENTION_KINDS)}")
    for b in batches:
        if b < 1:
            raise ValueError(f"batch={b}: expected an integer >= 1")
    for size in sizes or []:
        if size < 8:
            raise ValueError(f"size={size}: expected at least 8 pixels")


def model_rows(model: str, backends: list[str], batches: list[int], sizes: list[int] | None = None,
               dtype: str = "fp16", attentions: tuple[str, ...] = ("fused",), device: str = "meta",
               on_row=None) -> list[dict]:
    """Rows for one model and dtype over sizes x batches x backends x attentions.

    Images are square; sizes=None means the model's own resolution. The unguided
    reference is always measured: every row's flops_ratio needs it.
    """
    check_grid([model], backends, batches, sizes, [dtype], list(attentions))
    if REFERENCE not in backends:
        backends = [REFERENCE, *backends]
    models = build_models(model, dtype, device)
    sizes = sizes or [models.resolution]
    for size in sizes:
        if size % models.vae_scale_factor:
            raise ValueError(f"image size {size} must be a multiple of the VAE factor {models.vae_scale_factor}")
    scorers: dict[tuple, tuple] = {}
    rows = []
    for size in sizes:
        for batch in batches:
            step = step_input(models, batch, size, size)
            for name in backends:
                kind = scorer_kind(name)
                key = (kind, size if kind in HEAD_KINDS else None)  # image scorers take any size
                if key not in scorers:
                    # open_clip.create_model moves its model to CPU whatever the default device, which fails
                    # from meta: the image scorer is built for real on CPU (about 10 s for ViT-L/14), then moved.
                    with _on(device) if kind != "image" else nullcontext():
                        scorers[key] = make_scorer(kind, models, ScorerConfig(), size, size)
                scorer, desc = scorers[key]
                with _on(device):
                    backend = build_backend(name, models, scorer)
                state = model_state(models.unet, getattr(backend, "decoder", None), scorer)
                parts = part_map(models, backend, scorer)
                for attention in attentions:
                    config = CountConfig(model, name, batch, size, size, dtype, attention)
                    row = {**asdict(config), "scorer": scorer_label(desc),
                           **measure(backend, step, parts, state, device, attention)}
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
    return add_ratios(rows)


def add_ratios(rows: list[dict]) -> list[dict]:
    """flops_ratio: total FLOPs over the unguided step's with everything else equal; rows in COLUMNS order."""
    def key(r):
        return tuple(v for k, v in r.items() if k in CountConfig.__dataclass_fields__ and k != "backend")

    ref = {key(r): r["total_flops"] for r in rows if r["backend"] == REFERENCE}
    for r in rows:
        if key(r) not in ref:
            raise ValueError(f"no {REFERENCE!r} row for {key(r)}: flops_ratio needs one")
        r["flops_ratio"] = round(r["total_flops"] / ref[key(r)], 6)
    return [{c: r[c] for c in COLUMNS} for r in rows]
