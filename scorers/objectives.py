"""Objectives: what a head is trained to predict and what number guidance pushes up.

One head interface for all: a `MidBlockHead` or `LatentHead` with K outputs
(scorers.HEADS), saved with `save_head`; the checkpoint's `objective` says how
its outputs are trained and read, and `classes` names its K output columns.

    objective      shard column     head outputs        training loss          scorer value (per sample)
    aesthetic      rating_mean      10 rating logits    CE on round(rating)    expected rating (1..10)
    class          label            K class logits      CE on the label        log p(target class)
    clip           clip_embedding   a D-dim embedding   1 - cos(out, emb)      cos(out, target embedding)
    discriminator  real (1 or 0)    2 logits: gen, real CE on real             log D - log(1 - D), D = p(real)

For "class", `classes` is (0..K-1) and `extra["class_names"]` may name them; for
"clip", `classes` is (0..D-1), one per embedding dimension, and `extra["clip"]`
says which open_clip tower made the embeddings, so a target is made with the same one. A
"discriminator" head (Kim et al. 2022, discriminator guidance) tells noised latents of real images
(`real` = 1) from those of the model's own samples (`real` = 0); its scorer is the real-vs-generated
logit log D - log(1 - D), whose gradient is the estimated gradient of log p_data / p_model (the
correction that score would need), rather than log D, which saturates at 0 once a sample looks real:


    scorer = make_objective_scorer(*load_head("heads/red"), target="red")
    model = load_clip_model("ViT-L-14-quickgelu", "clip/open_clip_pytorch_model.bin")
    scorer = make_objective_scorer(*load_head("heads/clip"), target=clip_text_target(model, arch, ["a red star"]))
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from scorers import metrics
from scorers.clip_aesthetic import _quietly, embed_dim
from scorers.clip_preprocess import check_preprocess_cfg, preprocess
from scorers.readout import default_classes, expected_rating
from scorers.safe_load import load_open_clip


@dataclass(frozen=True)
class Objective:
    name: str
    column: str  # the shard column holding the training target
    outputs: Callable  # (column values of all rows, manifest) -> classes (one per output column)
    target: Callable  # (column values, classes) -> what `loss` compares the head's output with
    loss: Callable  # (head output, target) -> scalar
    evaluate: Callable  # (val output, val column values, classes, train column values) -> {metric: float}


def _rating_classes(values, manifest):
    return default_classes(10)  # the seed's 10 rating bins


def _rating_target(r, classes):
    lo, hi = classes[0], classes[-1]
    # round half up (torch.round rounds half to even), clipped into the class range
    return (torch.floor(r.double() + 0.5).clamp(lo, hi) - lo).long()


def _rating_metrics(out, r, classes, r_train):
    e = expected_rating(out.float(), classes)
    return {"val_accuracy": metrics.accuracy(out, _rating_target(r, classes)),
            "val_mae": metrics.mae(e, r),
            "val_mae_baseline": metrics.mae(torch.full_like(r, float(r_train.double().mean())), r),
            "val_spearman": metrics.spearman(e, r)}


def _label_classes(values, manifest):
    k = int(manifest.get("num_labels") or int(values.max()) + 1)
    return tuple(range(k))


def _label_target(label, classes):
    if int(label.max()) >= len(classes) or int(label.min()) < 0:
        raise ValueError(f"labels must lie in 0..{len(classes) - 1}, got {int(label.min())}..{int(label.max())}")
    return label.long()


def _label_metrics(out, label, classes, label_train):
    majority = torch.bincount(label_train.long(), minlength=len(classes)).argmax()
    return {"val_accuracy": metrics.accuracy(out, label.long()),
            "val_accuracy_baseline": float((label.long() == majority).float().mean())}


def _clip_classes(values, manifest):
    return tuple(range(values.shape[-1]))


def _clip_target(emb, classes):
    return F.normalize(emb.float(), dim=-1)


def _clip_loss(out, target):
    return 1 - F.cosine_similarity(out, target, dim=-1).mean()


def _clip_metrics(out, emb, classes, emb_train):
    mean = F.normalize(emb_train.double().mean(0, keepdim=True), dim=-1).expand_as(emb)
    return {"val_cosine": metrics.mean_cosine(out, emb), "val_cosine_baseline": metrics.mean_cosine(mean, emb)}


def _real_classes(values, manifest):
    return (0, 1)  # output 0: generated, output 1: real


def _real_target(real, classes):
    if not bool(((real == 0) | (real == 1)).all()):
        raise ValueError(f"the `real` column must be 1 (real) or 0 (generated), got values {sorted(set(real.tolist()))[:5]}")
    return real.long()


OBJECTIVES = {
    "aesthetic": Objective("aesthetic", "rating_mean", _rating_classes, _rating_target, F.cross_entropy, _rating_metrics),
    "class": Objective("class", "label", _label_classes, _label_target, F.cross_entropy, _label_metrics),
    "clip": Objective("clip", "clip_embedding", _clip_classes, _clip_target, _clip_loss, _clip_metrics),
    "discriminator": Objective("discriminator", "real", _real_classes, _real_target, F.cross_entropy, _label_metrics),
}
DISCRIMINATOR_CLASS_NAMES = ("generated", "real")


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; expected one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


# ---- guidance scorers: head output -> one number per sample ----------------------------------------


class ExpectedRatingScorer(nn.Module):
    """Aesthetic: the rating classifier read out as its expected rating."""

    def __init__(self, head: nn.Module, classes: Sequence[float]):
        super().__init__()
        self.head = head
        self.register_buffer("classes", torch.as_tensor(classes, dtype=torch.float32), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.head(features)
        if logits.dtype in (torch.float16, torch.bfloat16):  # softmax readout in fp32: fp16 exp overflows
            logits = logits.float()
        return expected_rating(logits, self.classes.to(logits.dtype))


class ClassLogProbScorer(nn.Module):
    """Class guidance: log p(target class | features), the classifier-guidance term of Dhariwal & Nichol."""

    def __init__(self, head: nn.Module, target: int):
        super().__init__()
        self.head = head
        self.target = int(target)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(features).float(), dim=-1)[:, self.target]


class ClipCosineScorer(nn.Module):
    """CLIP-embedding guidance: cosine of the regressed image embedding to a target embedding."""

    def __init__(self, head: nn.Module, target: torch.Tensor):
        super().__init__()
        self.head = head
        self.register_buffer("target", F.normalize(target.float().reshape(-1, target.shape[-1]), dim=-1),
                             persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(self.head(features).float(), self.target, dim=-1)


class RealLogitScorer(nn.Module):
    """Discriminator guidance: log D - log(1 - D), D = p(real | features); the density-ratio estimate of Kim et al."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.head(features).float()
        return logits[:, 1] - logits[:, 0]


def make_objective_scorer(head: nn.Module, meta, target=None) -> nn.Module:
    """The guidance scorer (eval, frozen) for a head and its HeadMeta; `target` as the objective needs it.

    aesthetic: no target. class: a class index or a name in meta.extra["class_names"].
    clip: an embedding (D,) or (B, D), e.g. from clip_text_target / clip_image_target. discriminator: no target.
    """
    if meta.objective == "aesthetic":
        if target is not None:
            raise ValueError("an aesthetic head takes no target: it pushes the expected rating up")
        scorer = ExpectedRatingScorer(head, meta.classes)
    elif meta.objective == "discriminator":
        if target is not None:
            raise ValueError("a discriminator head takes no target: it pushes samples towards 'real'")
        scorer = RealLogitScorer(head)
    elif meta.objective == "class":
        scorer = ClassLogProbScorer(head, _class_index(target, meta))
    elif meta.objective == "clip":
        if not isinstance(target, torch.Tensor) or target.shape[-1] != len(meta.classes):
            got = tuple(target.shape) if isinstance(target, torch.Tensor) else type(target).__name__
            raise ValueError(f"a clip head needs a target embedding of size {len(meta.classes)}, got {got}")
        scorer = ClipCosineScorer(head, target.to(next(head.parameters()).device))
    else:
        raise ValueError(f"unknown objective {meta.objective!r}; expected one of {sorted(OBJECTIVES)}")
    return scorer.eval().requires_grad_(False)


def _class_index(target, meta) -> int:
    names = list(meta.extra.get("class_names") or [])
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"unknown class {target!r}; this head knows {names or 'no class names'}")
        return names.index(target)
    if not isinstance(target, int) or not 0 <= target < len(meta.classes):
        raise ValueError(f"class target must be an index in 0..{len(meta.classes) - 1} or a name, got {target!r}")
    return target


# ---- CLIP towers: embeddings to train on, targets to guide to ----------------------------------------


class ClipImageEmbedder(nn.Module):
    """L2-normalised image embeddings (B, D) of images in [-1, 1] (B, 3, H, W), open_clip's eval preprocessing."""

    def __init__(self, visual: nn.Module, preprocess_cfg):
        super().__init__()
        check_preprocess_cfg(preprocess_cfg)
        self.visual = visual
        self.preprocess_cfg = dict(preprocess_cfg)
        self.register_buffer("mean", torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = preprocess(images, self.preprocess_cfg, self.mean, self.std)
        z = self.visual(x.to(next(self.visual.parameters()).dtype))
        return F.normalize(z.to(torch.promote_types(z.dtype, torch.float32)), dim=-1)  # float64 stays (finite differences)


def load_clip_model(arch: str, checkpoint: str | Path | None = None, seed: int = 0) -> nn.Module:
    """A full open_clip model (eval, frozen) from a local checkpoint; None = random weights (tests, cost runs)."""
    embed_dim(arch)  # refuses hub / local-dir names and hub text towers before anything is built
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"open_clip checkpoint not found: {checkpoint}")
        model = load_open_clip(arch, checkpoint)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _quietly(open_clip.create_model, arch, pretrained=None, pretrained_image=False,
                             pretrained_text=False)
    return model.eval().requires_grad_(False)


def clip_image_embedder(model: nn.Module) -> ClipImageEmbedder:
    return ClipImageEmbedder(model.visual, open_clip.get_model_preprocess_cfg(model)).eval()


def check_text_tower(arch: str, texts: Sequence[str]) -> None:
    """Refuse, before a model is built, an architecture whose text tower cannot read `texts`: a hub tokenizer, or a
    vocabulary smaller than the tokenizer's (an image-only CLIP, as the toy world's)."""
    text_cfg = open_clip.get_model_config(arch).get("text_cfg", {})
    if "hf_tokenizer_name" in text_cfg:
        raise ValueError(f"open_clip architecture {arch!r} uses a Hugging Face tokenizer that would be fetched from the hub")
    top = int(open_clip.get_tokenizer(arch)(list(texts)).max())
    if top >= text_cfg["vocab_size"]:
        raise ValueError(f"open_clip architecture {arch!r} reads a {text_cfg['vocab_size']}-token vocabulary but the text tokenises to "
                         f"ids up to {top}: its text tower cannot embed a caption (an image-only CLIP, as the toy world's)")


@torch.no_grad()
def clip_text_target(model: nn.Module, arch: str, texts: Sequence[str]) -> torch.Tensor:
    """Normalised mean of the normalised text embeddings of `texts`, shape (D,)."""
    check_text_tower(arch, texts)
    tokens = open_clip.get_tokenizer(arch)(list(texts)).to(next(model.parameters()).device)
    z = F.normalize(model.encode_text(tokens).float(), dim=-1)
    return F.normalize(z.mean(0), dim=-1)


@torch.no_grad()
def clip_image_target(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Normalised mean image embedding of reference images in [-1, 1] (B, 3, H, W), shape (D,)."""
    return F.normalize(clip_image_embedder(model)(images).mean(0), dim=-1)
