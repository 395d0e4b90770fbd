"""The head registry: a checkpoint's `kind` -> its builder, and fresh heads by kind."""
from torch import nn

from scorers.latent_head import build_latent_head
from scorers.midblock_head import build_midblock_head


def build_head(kind: str, feature_shape: tuple[int, int, int], num_classes: int = 10) -> nn.Module:
    """A freshly initialised head of `kind` for features of `feature_shape` (random heads for cost runs)."""
    if kind not in HEADS:
        raise ValueError(f"unknown head kind {kind!r}; expected one of {sorted(HEADS)}")
    return HEADS[kind](tuple(feature_shape), num_classes)


# kind (as stored in a checkpoint's JSON) -> builder(feature_shape, num_classes)
HEADS = {
    "midblock": build_midblock_head,
    "latent": build_latent_head,
    "latent_x0": build_latent_head,  # the same architecture, trained on clean latents (read at the x0 estimate)
}
