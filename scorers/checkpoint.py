"""Head checkpoints: safetensors weights plus a JSON of what they fit.

A head is saved as `<stem>.safetensors` (weights only: no pickle, nothing runs
on load) and `<stem>.json` (a `HeadMeta`). The architecture is rebuilt from the
JSON's `kind` and `feature_shape`, never guessed from a file name, and a head
trained on one model's features refuses another model's features by name
instead of scoring them with garbage.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from scorers.heads import build_head
from scorers.safe_load import load_state


class FeatureShapeMismatch(ValueError):
    """A checkpoint's feature shape differs from the features a model gives."""


@dataclass(frozen=True)
class HeadMeta:
    """What a head's weights fit: the features it reads and the ratings it predicts."""

    kind: str  # a key of scorers.HEADS: "midblock" | "latent" | "latent_x0"
    feature_shape: tuple[int, int, int]  # (C, H, W) the head reads
    base_model: str  # e.g. "sd21-base" or a hub id
    classes: tuple[float, ...]  # rating value of each logit column
    timesteps: tuple[int, int] | None = None  # [lo, hi] range seen in training
    objective: str = "aesthetic"
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a hash of the training data

    def __post_init__(self):
        # JSON gives lists back; normalise so a loaded meta equals the saved one.
        object.__setattr__(self, "feature_shape", tuple(int(n) for n in self.feature_shape))
        object.__setattr__(self, "classes", tuple(self.classes))
        if self.timesteps is not None:
            object.__setattr__(self, "timesteps", tuple(int(t) for t in self.timesteps))
            if len(self.timesteps) != 2:
                raise ValueError(f"timesteps must be a (lo, hi) pair or None, got {self.timesteps}")
        if len(self.feature_shape) != 3:
            raise ValueError(f"feature_shape must be (C, H, W), got {self.feature_shape}")
        if not self.classes:
            raise ValueError("classes must list at least one rating value")


def head_paths(stem: str | Path) -> tuple[Path, Path]:
    """(`<stem>.safetensors`, `<stem>.json`); the stem may itself contain dots."""
    stem = str(stem)
    return Path(stem + ".safetensors"), Path(stem + ".json")


def save_head(stem: str | Path, head: nn.Module, meta: HeadMeta) -> None:
    """Write `head`'s weights and `meta`, after checking that `meta` rebuilds exactly this head."""
    with torch.device("meta"):  # shapes only, no memory, no init cost
        expected = build_head(meta.kind, meta.feature_shape, len(meta.classes)).state_dict()
    got = head.state_dict()
    expected_shapes = {k: tuple(v.shape) for k, v in expected.items()}
    got_shapes = {k: tuple(v.shape) for k, v in got.items()}
    if got_shapes != expected_shapes:
        diff = sorted(set(expected_shapes.items()) ^ set(got_shapes.items()))
        raise ValueError(f"head does not match meta (kind={meta.kind!r}, feature_shape={meta.feature_shape}, "
                         f"{len(meta.classes)} classes); differing tensors: {diff}")
    weights_path, meta_path = head_paths(stem)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in got.items()}, str(weights_path))
    meta_path.write_text(json.dumps(asdict(meta), indent=2) + "\n")


def load_meta(stem: str | Path) -> HeadMeta:
    """The `HeadMeta` stored next to a checkpoint; refuses unknown or missing fields."""
    _, meta_path = head_paths(stem)
    if not meta_path.is_file():
        raise FileNotFoundError(f"scorer checkpoint metadata not found: {meta_path}")
    try:
        raw = json.loads(meta_path.read_text())
    except ValueError as e:
        raise ValueError(f"{meta_path} is not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{meta_path}: expected a JSON object of HeadMeta fields, got {type(raw).__name__}")
    known = {f.name for f in fields(HeadMeta)}
    if unknown := sorted(set(raw) - known):
        raise ValueError(f"{meta_path} has unknown fields {unknown}; expected a subset of {sorted(known)}")
    try:
        return HeadMeta(**raw)
    except TypeError as e:  # a required field is missing
        raise ValueError(f"{meta_path} is not a HeadMeta: {e}") from e


def load_head(stem: str | Path, expect_feature_shape: tuple[int, int, int] | None = None,
              device: str | torch.device = "cpu") -> tuple[nn.Module, HeadMeta]:
    """(head in eval mode, meta) from `<stem>.safetensors` + `<stem>.json`.

    With `expect_feature_shape` (the features this model gives), a checkpoint trained on
    other features raises FeatureShapeMismatch before any weights are read.
    """
    weights_path, _ = head_paths(stem)
    meta = load_meta(stem)
    if not weights_path.is_file():
        raise FileNotFoundError(f"scorer checkpoint weights not found: {weights_path}")
    if expect_feature_shape is not None and tuple(expect_feature_shape) != meta.feature_shape:
        raise FeatureShapeMismatch(f"scorer checkpoint {stem} was trained on features {meta.feature_shape} "
                                   f"but this model gives {tuple(expect_feature_shape)}")
    with torch.device("meta"):  # weights come from the file; skip the random init
        head = build_head(meta.kind, meta.feature_shape, len(meta.classes))
    state = load_state(weights_path)
    try:
        head.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as e:  # weights of another architecture than the JSON describes
        raise ValueError(f"{weights_path} does not hold the {meta.kind} head its JSON describes: {str(e).splitlines()[0][:200]}") from None
    return head.eval(), meta
