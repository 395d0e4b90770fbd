"""Read a rating classifier out as one scalar per sample.

The heads classify into rating bins (1..10 for the aesthetic objective). The
scalar that guidance maximises is the expected rating under the predicted
distribution, E[r] = softmax(logits) @ r: unlike argmax it is smooth, so its
gradient exists everywhere, and it stays within [min r, max r].
"""

from collections.abc import Sequence

import torch


def default_classes(num_classes: int) -> tuple[int, ...]:
    """Rating values 1..num_classes, the seed's 10 bins when num_classes=10."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return tuple(range(1, num_classes + 1))


def expected_rating(logits: torch.Tensor, classes: Sequence[float] | torch.Tensor | None = None) -> torch.Tensor:
    """E[rating] per sample: softmax(logits) @ classes, shape (B,).

    `classes` are the rating values of the logit columns; None means 1..K for K columns.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, num_classes), got shape {tuple(logits.shape)}")
    if classes is None:
        classes = default_classes(logits.shape[-1])
    r = torch.as_tensor(classes, dtype=logits.dtype, device=logits.device)
    if r.shape != logits.shape[-1:]:
        raise ValueError(f"classes has shape {tuple(r.shape)} but logits have {logits.shape[-1]} columns")
    return torch.softmax(logits, dim=-1) @ r
