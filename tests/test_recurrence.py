"""Recurrence and inner iterations: 1 and 1 is the plain sampler exactly; redone steps land back on the step's marginal."""
import math

import pytest
import torch

from guidance import GuidanceConfig, build_backend, sample
from guidance.grad_checks import checked
from guidance.prediction import alpha_bar_at, from_eps, input_scale, to_eps
from guidance.protocol import StepIn, StepOut
from guidance.sampler import cfg_combine, normalise
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import encode_prompts


def plain_sample(backend, scheduler, x, cond, guidance, cfg_scale):
    """The sampler's loop as it was before recurrence and iterations existed, kept as the reference."""
    prediction_type, n = scheduler.config.prediction_type, len(scheduler.timesteps)
    for i, t in enumerate(scheduler.timesteps):
        want_grad = guidance.active(i, n)
        x_in = scheduler.scale_model_input(x, t)
        alpha_bar = alpha_bar_at(scheduler.alphas_cumprod, t)
        step = backend(StepIn(x=x_in, t=t, alpha_bar=alpha_bar, prediction_type=prediction_type, cond=cond, want_grad=want_grad))
        out = cfg_combine(step.out_uncond, step.out_cond, cfg_scale)
        if want_grad and step.grad is not None:
            grad = checked(step, x_in)[0]
            g = normalise(grad, guidance.grad_norm) * guidance.scale
            if guidance.target == "eps":
                eps = to_eps(out, x_in, alpha_bar, prediction_type)
                out = from_eps(eps - math.sqrt(1 - alpha_bar) * g.to(eps.dtype), x_in, alpha_bar, prediction_type)
            else:
                x = x + (g / input_scale(scheduler, t)).to(x.dtype)
        x = scheduler.step(out, t, x, return_dict=False)[0]
    return x


class Recording:
    """A backend wrapper that keeps each call's UNet input and timestep."""

    def __init__(self, backend):
        self.backend, self.name, self.calls = backend, backend.name, []

    def __call__(self, step):
        self.calls.append((step.x.clone(), float(step.t), step.want_grad))
        return self.backend(step)


@pytest.fixture(scope="module")
def latent_backend(tiny_models):
    scorer, _ = make_scorer("latent", tiny_models, ScorerConfig(), 32, 32)
    return build_backend("latent", tiny_models, scorer)


def _run(models, backend, scheduler_name, guidance, sampler=sample, steps=6, seed=0):
    sched = models.scheduler(scheduler_name)
    sched.set_timesteps(steps)
    cond = encode_prompts(models, ["a red circle", "a blue square"])
    x = torch.randn(2, *models.latent_shape(32, 32), generator=torch.Generator().manual_seed(seed)) * sched.init_noise_sigma
    kw = {"generator": torch.Generator().manual_seed(seed + 1)} if sampler is sample else {}
    return sampler(backend, sched, x, cond, guidance, 4.0, **kw)


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler", "dpmpp"])
@pytest.mark.parametrize("target", ["latent", "eps"])
def test_one_recurrence_one_iteration_is_the_plain_sampler(tiny_models, latent_backend, scheduler_name, target):
    g = GuidanceConfig(scale=2.0, window_start=0.2, target=target, recurrence=1, iterations=1)
    ours = _run(tiny_models, latent_backend, scheduler_name, g)
    ref = _run(tiny_models, latent_backend, scheduler_name, g, sampler=plain_sample)
    assert torch.equal(ours.x0, ref)
    assert [s.calls for s in ours.steps] == [1] * 6
    assert [s.updates for s in ours.steps] == [int(s.guided) for s in ours.steps] == [0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler"])
def test_knobs_are_counted_per_guided_step_and_change_the_sample(tiny_models, latent_backend, scheduler_name):
    g = GuidanceConfig(scale=2.0, window_start=0.5, recurrence=3, iterations=2)
    rec = Recording(latent_backend)
    res = _run(tiny_models, rec, scheduler_name, g)
    assert [s.calls for s in res.steps] == [1, 1, 1, 6, 6, 6]
    assert [s.updates for s in res.steps] == [0, 0, 0, 6, 6, 6]
    assert len(rec.calls) == 21
    ts = [t for _, t, _ in rec.calls]
    assert ts[3:9] == [ts[3]] * 6  # every call of a redone step is at that step's timestep
    again = _run(tiny_models, latent_backend, scheduler_name, g)
    assert torch.equal(res.x0, again.x0)  # the redo noise comes from the given generator
    plain = _run(tiny_models, latent_backend, scheduler_name, GuidanceConfig(scale=2.0, window_start=0.5))
    assert not torch.allclose(res.x0, plain.x0)


def test_each_iteration_reruns_the_backend_at_the_updated_sample(tiny_models, latent_backend):
    scale = 1.5
    rec = Recording(latent_backend)
    _run(tiny_models, rec, "ddim", GuidanceConfig(scale=scale, window_start=0.5, iterations=3))
    (x1, t, _), (x2, _, _) = rec.calls[3], rec.calls[4]
    step = StepIn(x=x1, t=torch.tensor(t), alpha_bar=0.5, prediction_type="epsilon",
                  cond=encode_prompts(tiny_models, ["a red circle", "a blue square"]), want_grad=True)
    grad = latent_backend(step).grad
    torch.testing.assert_close(x2 - x1, normalise(grad, "rms") * scale)  # DDIM's UNet input is its sample


class Oracle:
    """Predicts the noise exactly for a known x0, and offers a zero gradient (skipped as saturated, the step still redone)."""

    name = "oracle"

    def __init__(self, x0):
        self.x0, self.eps_rms = x0, []

    def __call__(self, step):
        eps = (step.x - math.sqrt(step.alpha_bar) * self.x0) / math.sqrt(1 - step.alpha_bar)
        self.eps_rms.append(float(eps.pow(2).mean().sqrt()))
        return StepOut(eps, eps, torch.zeros_like(step.x), torch.zeros(step.x.shape[0]))


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler"])
def test_redone_steps_land_on_the_steps_own_noise_level(tiny_models, scheduler_name):
    """With an exact noise prediction every sample stays on q(x_t | x0): the implied noise has unit RMS at every call,
    the redone ones included. A wrong alpha_bar or a scheduler-frame slip in the transition would break it."""
    x0 = 0.5 * torch.randn(2, 4, 64, 64, generator=torch.Generator().manual_seed(3))
    oracle = Oracle(x0)
    sched = tiny_models.scheduler(scheduler_name)
    sched.set_timesteps(10)
    x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4)) * sched.init_noise_sigma
    res = sample(oracle, sched, x, None, GuidanceConfig(scale=1.0, recurrence=4), 1.0, generator=torch.Generator().manual_seed(5))
    assert [s.calls for s in res.steps] == [4] * 10
    assert len(oracle.eps_rms) == 40
    assert all(abs(r - 1) < 0.03 for r in oracle.eps_rms), oracle.eps_rms


def test_a_multistep_scheduler_refuses_recurrence_and_takes_iterations(tiny_models, latent_backend):
    with pytest.raises(ValueError, match="recurrence=2 redoes steps, which corrupts DPMSolverMultistepScheduler"):
        _run(tiny_models, latent_backend, "dpmpp", GuidanceConfig(scale=1.0, recurrence=2))
    res = _run(tiny_models, latent_backend, "dpmpp", GuidanceConfig(scale=1.0, iterations=2))
    assert [s.calls for s in res.steps] == [2] * 6


@pytest.mark.parametrize("kw, message", [
    ({"recurrence": 0}, "recurrence=0: expected an integer >= 1"),
    ({"iterations": 0}, "iterations=0: expected an integer >= 1"),
    ({"iterations": 2, "target": "eps"}, "iterations=2 updates x_t: it needs target='latent'"),
])
def test_bad_knobs_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        GuidanceConfig(**kw)
