"""Non-finite guidance (fp16 CLIP NaNs and the like) is detected per step, counted, and skipped per sample."""
import torch

from guidance import GuidanceConfig, build_backend, sample
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import encode_prompts


class PoisonFirstSample(torch.nn.Module):
    """Wraps a scorer: the first sample's score is NaN (so its gradient is too)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, h):
        s = self.inner(h)
        return torch.cat([s[:1] * torch.nan, s[1:]])


def _run(models, scorer, scale):
    backend = build_backend("latent", models, scorer)
    sched = models.scheduler("ddim")
    sched.set_timesteps(4)
    cond = encode_prompts(models, ["a red circle", "a blue square"])
    x = torch.randn(2, *models.latent_shape(32, 32), generator=torch.Generator().manual_seed(0))
    return sample(backend, sched, x, cond, GuidanceConfig(scale=scale), cfg_scale=3.0)


def test_nan_gradient_is_counted_and_its_guidance_skipped(tiny_models):
    scorer, _ = make_scorer("latent", tiny_models, ScorerConfig(), 32, 32)
    clean = _run(tiny_models, scorer, 1.0)
    unguided = _run(tiny_models, scorer, 0.0)
    poisoned = _run(tiny_models, PoisonFirstSample(scorer), 1.0)
    assert [s.nonfinite for s in poisoned.steps] == [1, 1, 1, 1]
    assert all(s.nonfinite == 0 for s in clean.steps)
    assert torch.isfinite(poisoned.x0).all()
    torch.testing.assert_close(poisoned.x0[0], unguided.x0[0])  # the poisoned sample got no guidance
    torch.testing.assert_close(poisoned.x0[1], clean.x0[1])  # the other was guided as usual
