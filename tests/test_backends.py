"""Backends: their noise predictions equal the stock forward, their gradients are right, and guidance works."""
import pytest
import torch

from guidance import BACKENDS, GuidanceConfig, StepIn, build_backend, sample, scorer_kind
from guidance.prediction import alpha_bar_at
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import encode_prompts

GUIDED = [name for name in BACKENDS if name != "none"]


def build(name, models):
    scorer, _ = make_scorer(scorer_kind(name), models, ScorerConfig(), 32, 32)
    return build_backend(name, models, scorer)


def step_in(models, want_grad=True, t=600, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *models.latent_shape(32, 32), generator=g, dtype=models.dtype)
    cond = encode_prompts(models, ["a red circle", "a green star"][:batch])
    sched = models.scheduler("ddim")
    return StepIn(x=x, t=torch.tensor(t), alpha_bar=alpha_bar_at(sched.alphas_cumprod, t),
                  prediction_type="epsilon", cond=cond, want_grad=want_grad)


@pytest.mark.parametrize("name", GUIDED)
def test_guided_step_predicts_same_noise_as_unguided(tiny_models, name):
    s = step_in(tiny_models)
    ref = build_backend("none", tiny_models)(s)
    out = build(name, tiny_models)(s)
    # the split and separately-batched forwards differ from one batched forward by float rounding only
    torch.testing.assert_close(out.out_uncond, ref.out_uncond, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.out_cond, ref.out_cond, rtol=1e-5, atol=1e-5)
    assert out.grad.shape == s.x.shape and out.score.shape == (2,)
    assert out.grad.abs().sum() > 0


@pytest.mark.parametrize("name", GUIDED)
def test_no_grad_outside_window_runs_no_autograd(tiny_models, name):
    out = build(name, tiny_models)(step_in(tiny_models, want_grad=False))
    assert out.grad is None and not out.out_cond.requires_grad


def test_midu_gradient_equals_naive_hook(tiny_models):
    s = step_in(tiny_models)
    a = build("midu", tiny_models)(s)
    b = build("midu-hook", tiny_models)(s)
    torch.testing.assert_close(a.score, b.score, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


@pytest.fixture(scope="module")
def tiny_models64():
    from sdmodels import load_models

    return load_models("tiny", weights="random", dtype=torch.float64, seed=0)


@pytest.mark.parametrize("name", ["midu", "midu-hook", "latent", "pixel", "pixel-tiny"])
def test_gradient_matches_finite_difference(tiny_models64, name):
    """Directional derivative of the score along a random direction, in float64."""
    backend = build(name, tiny_models64)
    backend.scorer.to(torch.float64)  # the CLIP scorer keeps its MLP in fp32 by design; here all is fp64
    s = step_in(tiny_models64, batch=1)
    out = backend(s)
    v = torch.randn(s.x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    h = 1e-5

    def f(x):
        return backend(StepIn(**{**s.__dict__, "x": x})).score.sum()

    fd = (f(s.x + h * v) - f(s.x - h * v)) / (2 * h)
    # ReLU kinks (head, tiny decoder) keep central differences from being exact: ~1e-4 relative
    torch.testing.assert_close((out.grad * v).sum(), fd, rtol=5e-4, atol=1e-10)


def test_pixel_x0_gradient_holds_the_noise_prediction_fixed(tiny_models64):
    """x0 detached: the gradient is that of score(decode(x0(x, eps))) with eps held at its value."""
    from guidance.pixel import decode
    from guidance.prediction import to_x0

    backend = build("pixel-x0", tiny_models64)
    backend.scorer.to(torch.float64)
    s = step_in(tiny_models64, batch=1)
    out = backend(s)
    v = torch.randn(s.x.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    h = 1e-5

    def f(x):
        with torch.no_grad():
            return backend.scorer(decode(backend.decoder, to_x0(out.out_cond, x, s.alpha_bar, "epsilon"))).sum()

    fd = (f(s.x + h * v) - f(s.x - h * v)) / (2 * h)
    torch.testing.assert_close((out.grad * v).sum(), fd, rtol=1e-6, atol=1e-10)


def _final_score(name, models, scale, seed=0, steps=8):
    backend = build(name, models)
    sched = models.scheduler("ddim")
    sched.set_timesteps(steps)
    cond = encode_prompts(models, ["a red circle", "a blue square"])
    x = torch.randn(2, *models.latent_shape(32, 32), generator=torch.Generator().manual_seed(seed))
    res = sample(backend, sched, x * sched.init_noise_sigma, cond, GuidanceConfig(scale=scale), cfg_scale=3.0)
    return backend.score(res.x0, cond), res


@pytest.mark.parametrize("name", GUIDED)
def test_positive_scale_raises_and_negative_lowers_own_score(tiny_models, name):
    base, _ = _final_score(name, tiny_models, 0.0)
    up, res = _final_score(name, tiny_models, 0.5)
    down, _ = _final_score(name, tiny_models, -0.5)
    assert (up > base).all() and (down < base).all(), (down, base, up)
    assert all(st.guided and st.grad_rms > 0 for st in res.steps)


def test_none_ignores_scale(tiny_models):
    a, ra = _final_score("none", tiny_models, 0.0)
    b, rb = _final_score("none", tiny_models, 3.0)
    torch.testing.assert_close(ra.x0, rb.x0, rtol=0, atol=0)


@pytest.mark.gpu
def test_midu_overlap_equals_midu_on_cuda(tiny_models):
    from sdmodels import load_models

    m = load_models("tiny", weights="random", device="cuda")
    s = step_in(m)
    s = StepIn(**{**s.__dict__, "x": s.x.cuda(), "cond": type(s.cond)(s.cond.uncond.cuda(), s.cond.cond.cuda())})
    a, b = build("midu", m)(s), build("midu-overlap", m)(s)
    torch.testing.assert_close(a.grad, b.grad)
    torch.testing.assert_close(a.out_cond, b.out_cond)
    torch.testing.assert_close(a.out_uncond, b.out_uncond)


def test_midu_overlap_without_cuda_says_the_plain_path_ran(tiny_models, tmp_path):
    """On a CPU there is no side stream to overlap on: the results name what ran instead of passing it off as overlap."""
    from guidance import ran_as

    from bench.jobs.sample import SampleJob, run

    assert ran_as(build("midu", tiny_models)) == "midu"
    assert ran_as(build("midu-overlap", tiny_models)) == "midu (no CUDA streams on cpu: the plain path ran)"
    rec = run(SampleJob(prompts=("a",), out=str(tmp_path), backend="midu-overlap"), tiny_models)
    assert rec["ran_as"].startswith("midu (no CUDA streams")


def test_every_backend_fact_comes_from_its_registry_entry(tiny_models):
    """Name, scorer kind and own judge: one source (midu-overlap's own judge once drifted to the image scorer)."""
    from bench.report.uplift_sections import own_judge

    for name, spec in BACKENDS.items():
        assert scorer_kind(name) == spec.scorer
        assert build(name, tiny_models).name == name
        if spec.scorer is not None:
            assert own_judge(name) == f"judge_{spec.scorer}"
    assert own_judge("midu-overlap") == "judge_midblock"

