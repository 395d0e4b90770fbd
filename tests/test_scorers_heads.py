"""The mid-U and latent heads and the expected-rating readout: shapes, init, gradients."""

import math

import pytest
import torch

from scorers import LatentHead, MidBlockHead, build_head, default_classes, expected_rating, init_kaiming

HEAD_CASES = [  # (head class, feature shape (C, H, W))
    (MidBlockHead, (64, 2, 2)),
    (MidBlockHead, (32, 4, 4)),
    (MidBlockHead, (16, 8, 8)),
    (LatentHead, (4, 8, 8)),
    (LatentHead, (4, 16, 12)),
]


@pytest.mark.parametrize("head_cls, shape", HEAD_CASES)
def test_logits_and_rating_shapes(head_cls, shape):
    torch.manual_seed(0)
    head = head_cls(shape[0], num_classes=10)
    logits = head(torch.randn(3, *shape))
    r = expected_rating(logits)
    assert logits.shape == (3, 10)
    assert r.shape == (3,)
    assert torch.all((r >= 1) & (r <= 10))


@pytest.mark.parametrize("head_cls, bad_shape", [
    (MidBlockHead, (2, 64, 1, 1)),  # maxpool 2 cannot read a 1x1 map
    (MidBlockHead, (2, 32, 4, 4)),  # wrong channel count
    (MidBlockHead, (64, 4, 4)),  # no batch dim
    (LatentHead, (2, 4, 7, 7)),
])
def test_heads_refuse_unreadable_features(head_cls, bad_shape):
    head = head_cls(64 if head_cls is MidBlockHead else 4)
    with pytest.raises(ValueError, match=r"got \(" + ", ".join(map(str, bad_shape)) + r"\)"):
        head(torch.randn(*bad_shape))


def test_midblock_head_has_the_seed_layout():
    with torch.device("meta"):
        head = MidBlockHead()
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items() if k.endswith("weight")}
    assert shapes == {
        "layers.0.weight": (256, 1280, 3, 3),
        "layers.3.weight": (128, 256, 3, 3),
        "layers.7.weight": (64, 512),
        "layers.9.weight": (10, 64),
    }


@pytest.mark.parametrize("head_cls, in_channels", [(MidBlockHead, 64), (LatentHead, 4)])
def test_kaiming_init_is_applied(head_cls, in_channels):
    torch.manual_seed(0)
    head = head_cls(in_channels)
    convs_and_linears = [m for m in head.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    for m in convs_and_linears:
        assert torch.count_nonzero(m.bias) == 0
    big = max(convs_and_linears, key=lambda m: m.weight.numel())  # many weights: a tight std estimate
    fan_in = big.weight[0].numel()
    assert big.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)


def test_init_kaiming_returns_the_module():
    layer = torch.nn.Linear(3, 2)
    assert init_kaiming(layer) is layer


def test_expected_rating_values():
    uniform = torch.zeros(2, 10)
    assert torch.allclose(expected_rating(uniform), torch.full((2,), 5.5))
    sure = torch.full((1, 10), -1e4)
    sure[0, 6] = 1e4
    assert expected_rating(sure).item() == pytest.approx(7.0)
    assert expected_rating(torch.zeros(1, 2), classes=(0.0, 1.0)).item() == pytest.approx(0.5)
    assert default_classes(10) == tuple(range(1, 11))


def test_expected_rating_refuses_mismatched_classes():
    with pytest.raises(ValueError, match="classes has shape"):
        expected_rating(torch.zeros(1, 10), classes=(1, 2, 3))
    with pytest.raises(ValueError, match=r"logits must be \(B, num_classes\)"):
        expected_rating(torch.zeros(10))


@pytest.mark.parametrize("kind, shape", [("midblock", (16, 4, 4)), ("latent", (4, 8, 8))])
def test_score_gradient_matches_central_difference(kind, shape):
    torch.manual_seed(0)
    head = build_head(kind, shape).double()
    h = torch.randn(2, *shape, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(expected_rating(head(h)).sum(), h)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    eps = 1e-6
    with torch.no_grad():
        for index in [(0, 0, 0, 0), (1, shape[0] - 1, shape[1] - 1, shape[2] - 2), (0, 3, 1, 2)]:
            hp, hm = h.clone(), h.clone()
            hp[index] += eps
            hm[index] -= eps
            fd = (expected_rating(head(hp)).sum() - expected_rating(head(hm)).sum()) / (2 * eps)
            assert grad[index].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-9)
