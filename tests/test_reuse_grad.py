"""reuse_grad: off is today's sampler exactly; on, the skipped window steps re-apply the last update at no backend gradient."""
import pytest
import torch

from guidance import GuidanceConfig
from guidance.grad_checks import checked
from guidance.prediction import alpha_bar_at, input_scale
from guidance.protocol import StepIn
from guidance.sampler import cfg_combine, normalise
from tests.test_recurrence import Recording, _run, latent_backend, plain_sample  # noqa: F401  (the fixture)


@pytest.mark.parametrize("every_k", [1, 2])
def test_reuse_grad_off_is_the_plain_sampler(tiny_models, latent_backend, every_k):  # noqa: F811
    g = GuidanceConfig(scale=2.0, window_start=0.2, every_k=every_k)
    assert g.reuse_grad is False
    ours = _run(tiny_models, latent_backend, "ddim", g)
    assert torch.equal(ours.x0, _run(tiny_models, latent_backend, "ddim", g, sampler=plain_sample))
    assert not any(s.reused for s in ours.steps)


def test_skipped_steps_reapply_the_last_update_without_a_gradient(tiny_models, latent_backend):  # noqa: F811
    g = GuidanceConfig(scale=2.0, window_start=0.2, every_k=2, reuse_grad=True)
    rec = Recording(latent_backend)
    res = _run(tiny_models, rec, "ddim", g)
    assert [s.guided for s in res.steps] == [False, False, True, False, True, False]
    assert [s.reused for s in res.steps] == [False, False, False, True, False, True]
    assert [w for _, _, w in rec.calls] == [s.guided for s in res.steps]  # one call a step; a reused step takes no gradient
    off = _run(tiny_models, latent_backend, "ddim", GuidanceConfig(scale=2.0, window_start=0.2, every_k=2))
    assert not torch.allclose(res.x0, off.x0)
    torch.testing.assert_close(res.x0, _run(tiny_models, latent_backend, "ddim", g, sampler=reuse_sample), rtol=0, atol=0)


def reuse_sample(backend, scheduler, x, cond, guidance, cfg_scale):
    """The plain loop (tests/test_recurrence.py) with reuse written out: keep the last x_t update, add it on skipped window steps."""
    prediction_type, n, last = scheduler.config.prediction_type, len(scheduler.timesteps), None
    for i, t in enumerate(scheduler.timesteps):
        want_grad = guidance.active(i, n)
        if guidance.reuses(i, n) and last is not None:
            x = x + (last / input_scale(scheduler, t)).to(x.dtype)
        x_in = scheduler.scale_model_input(x, t)
        step = backend(StepIn(x=x_in, t=t, alpha_bar=alpha_bar_at(scheduler.alphas_cumprod, t), prediction_type=prediction_type,
                              cond=cond, want_grad=want_grad))
        out = cfg_combine(step.out_uncond, step.out_cond, cfg_scale)
        if want_grad:
            last = normalise(checked(step, x_in)[0], guidance.grad_norm) * guidance.scale
            x = x + (last / input_scale(scheduler, t)).to(x.dtype)
        x = scheduler.step(out, t, x, return_dict=False)[0]
    return x


@pytest.mark.parametrize("kw, message", [
    ({"reuse_grad": 1}, "reuse_grad=1: expected True or False"),
    ({"reuse_grad": True, "target": "eps"}, "reuse_grad re-applies an update of x_t: it needs target='latent'"),
])
def test_bad_reuse_grad_is_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        GuidanceConfig(**kw)


def test_reuses_marks_the_window_steps_every_k_skips():
    g = GuidanceConfig(scale=1.0, window_start=0.3, every_k=3, reuse_grad=True)
    assert [g.active(i, 10) for i in range(10)] == [False] * 3 + [True, False, False] * 2 + [True]
    assert [g.reuses(i, 10) for i in range(10)] == [False] * 3 + [False, True, True] * 2 + [False]
    assert not any(GuidanceConfig(scale=1.0, every_k=3).reuses(i, 10) for i in range(10))
