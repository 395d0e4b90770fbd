"""A gradient too small to carry a direction gets no guidance, so RMS normalisation cannot turn rounding into a step."""
import torch

from guidance import GuidanceConfig, build_backend, sample
from guidance.grad_checks import directional_or_zero, saturation_floor
from scorers.heads import build_head
from scorers.objectives import ExpectedRatingScorer
from sdmodels import encode_prompts, load_models


def _saturating_scorer(dtype, sharpness: float):
    """A latent head whose expected-rating readout pins at a class once guidance pushes it there."""
    torch.manual_seed(0)
    head = build_head("latent", (4, 16, 16))
    last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(sharpness)
    return ExpectedRatingScorer(head, range(1, 11)).to(dtype).eval().requires_grad_(False)


def _final(dtype, scale: float, sharpness: float = 5.0):
    m = load_models("tiny", "random", dtype=dtype)
    backend = build_backend("latent", m, _saturating_scorer(dtype, sharpness))
    sched = m.scheduler("ddim")
    sched.set_timesteps(20)
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)).to(dtype)
    res = sample(backend, sched, x, encode_prompts(m, ["a", "b"], ""), GuidanceConfig(scale=scale), 5.0)
    return res.x0.double(), res.steps


def test_a_saturated_scorer_ends_float32_and_float64_within_one_percent_of_the_guidance_effect():
    unguided, _ = _final(torch.float64, 0.0)
    x64, steps64 = _final(torch.float64, 0.3)
    x32, steps32 = _final(torch.float32, 0.3)
    effect = float((x64 - unguided).norm())
    assert effect > 10  # guidance moved the sample before the scorer saturated
    assert float((x64 - x32).norm()) < 0.01 * effect
    for steps in (steps32, steps64):
        assert steps[0].saturated == 0 and sum(s.saturated for s in steps) >= 2 * 15  # both samples, most steps


def test_a_gradient_that_is_merely_small_is_used():
    """The floor comes from the score and the input, not the gradient's size: a scaled-down gradient still guides."""
    x = torch.randn(3, 4, 8, 8)
    score = torch.tensor([9.0, 9.0, 9.0])
    grad = torch.randn(3, 4, 8, 8) * torch.tensor([1e-3, 1e-7, 1e-13]).view(3, 1, 1, 1)
    floor = saturation_floor(score, x, torch.float32)
    rms_x = x.double().flatten(1).pow(2).mean(1).sqrt()
    torch.testing.assert_close(floor, torch.finfo(torch.float32).eps * 9.0 / (rms_x * 256))
    out, idx = directional_or_zero(grad, score, x)
    assert idx == (2,) and torch.equal(out[:2], grad[:2]) and not out[2].any()
    assert directional_or_zero(torch.zeros(1, 4, 8, 8), None, x[:1])[1] == (0,)  # no score: only an exact zero is saturated
