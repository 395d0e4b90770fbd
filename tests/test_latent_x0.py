"""`latent-x0`: a head on x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) with eps held fixed, for eps and v models."""
import math

import pytest
import torch

from guidance import BACKENDS, StepIn, build_backend, scorer_kind
from guidance.latent_x0 import x0_estimate
from guidance.prediction import alpha_bar_at, to_eps
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import encode_prompts, load_models


@pytest.fixture(scope="module")
def models64():
    return load_models("tiny", weights="random", dtype=torch.float64, seed=0)


def backend_and_step(models, prediction_type, t=600):
    scorer, desc = make_scorer(scorer_kind("latent-x0"), models, ScorerConfig(), 32, 32)
    assert desc["kind"] == "latent_x0" and desc["feature_shape"] == [4, 16, 16]
    x = torch.randn(1, *models.latent_shape(32, 32), generator=torch.Generator().manual_seed(0), dtype=models.dtype)
    ab = alpha_bar_at(models.scheduler("ddim").alphas_cumprod, t)
    step = StepIn(x=x, t=torch.tensor(t), alpha_bar=ab, prediction_type=prediction_type,
                  cond=encode_prompts(models, ["a red circle"]), want_grad=True)
    return build_backend("latent-x0", models, scorer.to(torch.float64)), step


def test_registered_with_its_own_scorer_kind():
    assert BACKENDS["latent-x0"].scorer == "latent_x0" != BACKENDS["latent"].scorer


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_gradient_matches_finite_difference_with_eps_fixed(models64, prediction_type):
    """Central differences in float64 of score(x0(x, eps)) with eps held at the step's value (its conversion from v included)."""
    backend, s = backend_and_step(models64, prediction_type)
    out = backend(s)
    eps = to_eps(out.out_cond, s.x, s.alpha_bar, prediction_type)
    v = torch.randn(s.x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    h = 1e-6  # x0 moves by h / sqrt(alpha_bar): a larger step crosses the head's ReLU kinks (1e-5 is 1% off for v here)

    def f(x):
        with torch.no_grad():
            return backend.scorer(x0_estimate(x, eps, s.alpha_bar)).sum()

    fd = (f(s.x + h * v) - f(s.x - h * v)) / (2 * h)
    assert out.grad.abs().sum() > 0
    torch.testing.assert_close((out.grad * v).sum(), fd, rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(out.score, backend.scorer(x0_estimate(s.x, eps, s.alpha_bar)))


def test_gradient_is_the_heads_at_x0_over_sqrt_alpha_bar(models64):
    """eps detached: d x0 / d x = 1 / sqrt(alpha_bar) times the identity, so no gradient reaches the UNet."""
    backend, s = backend_and_step(models64, "epsilon")
    out = backend(s)
    x0 = x0_estimate(s.x, out.out_cond, s.alpha_bar).requires_grad_(True)
    (g0,) = torch.autograd.grad(backend.scorer(x0).sum(), x0)
    torch.testing.assert_close(out.grad, g0 / math.sqrt(s.alpha_bar))
    assert all(p.grad is None for p in backend.unet.parameters())


def test_a_finished_sample_is_scored_on_its_clean_latents(models64):
    backend, s = backend_and_step(models64, "epsilon")
    torch.testing.assert_close(backend.score(s.x, s.cond), backend.scorer(s.x))
