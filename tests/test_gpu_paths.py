"""The CUDA-only paths, checked where a GPU is (the first phase of scripts/gpu_cost.sh runs `pytest -m gpu`).

On a CPU these tests are skipped (conftest.py); their CPU counterparts are the
scale-0 parity tests in fp32 (tests/test_pipeline_parity.py) and the rehearsal of
the GPU script (tests/test_gpu_script.py).

    pytest -m gpu -q
"""
from __future__ import annotations

import pytest
import torch

from guidance import BACKENDS, GuidanceConfig, StepIn, build_backend, sample, scorer_kind
from guidance.prediction import alpha_bar_at
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import encode_prompts

pytestmark = pytest.mark.gpu

# fp16 keeps 11 significant bits: one unit in the last place is 2**-10 * |x|, about 4e-3 for the
# |x| ~ 4 of the largest latent entries. The pipeline and our sampler run the same modules on the same
# kernels but order the CFG and scheduler arithmetic differently (and cuDNN may pick other algorithms
# per call), so each step may differ by a few units in the last place; over 6 steps that stays below
# 2e-2 absolute (about 5 ulps at the top of the range), and the RMS of the difference below 1% of the
# latents' RMS. A real divergence (another timestep, a wrong CFG half) is larger by orders of magnitude.
FP16_ATOL = 2e-2
FP16_REL_RMS = 1e-2


@pytest.fixture(scope="module")
def cuda_fp16():
    from sdmodels import load_models

    return load_models("tiny", weights="random", dtype=torch.float16, device="cuda", seed=0)


def _step_in(models, t=600, batch=2):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *models.latent_shape(32, 32), generator=g).to(models.device, models.dtype)
    cond = encode_prompts(models, ["a red circle", "a green star"][:batch])
    sched = models.scheduler("ddim")
    return StepIn(x=x, t=torch.tensor(t, device=models.device), alpha_bar=alpha_bar_at(sched.alphas_cumprod, t),
                  prediction_type="epsilon", cond=cond, want_grad=True)


def _backend(name, models):
    scorer, _ = make_scorer(scorer_kind(name), models, ScorerConfig(), 32, 32)
    return build_backend(name, models, scorer)


def test_scale_zero_matches_the_pipeline_in_fp16_on_cuda(cuda_fp16):
    from diffusers import StableDiffusionPipeline

    m = cuda_fp16
    prompts, steps, cfg = ["a red circle", "a blue square"], 6, 5.0
    noise = torch.randn(2, *m.latent_shape(32, 32), generator=torch.Generator().manual_seed(0)).to(m.device, m.dtype)
    pipe = StableDiffusionPipeline(vae=m.vae, text_encoder=m.text_encoder, tokenizer=m.tokenizer, unet=m.unet,
                                   scheduler=m.scheduler("ddim"), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompts, height=32, width=32, num_inference_steps=steps, guidance_scale=cfg, latents=noise.clone(),
               output_type="latent", return_dict=False)[0]
    sched = m.scheduler("ddim")
    sched.set_timesteps(steps)
    ours = sample(build_backend("none", m), sched, noise * sched.init_noise_sigma, encode_prompts(m, prompts),
                  GuidanceConfig(scale=0.0), cfg_scale=cfg).x0
    diff = (ours.float() - ref.float())
    assert diff.abs().max() <= FP16_ATOL, float(diff.abs().max())
    assert diff.pow(2).mean().sqrt() <= FP16_REL_RMS * ref.float().pow(2).mean().sqrt()


@pytest.mark.parametrize("name", [n for n in BACKENDS if n != "none"])
def test_graph_replay_gives_the_eager_step(cuda_fp16, name):
    """Captured once, replayed: the same noise predictions and gradient as the eager call (same kernels, static inputs)."""
    from bench.cost.step_modes import prepare

    step, backend = _step_in(cuda_fp16), _backend(name, cuda_fp16)
    device = torch.device("cuda")
    eager = prepare("eager", lambda: backend(step), device).fn()
    last = {}

    def call():  # the captured call's outputs are the graph's static outputs: each replay rewrites them
        last["out"] = backend(step)
        return last["out"]

    graph = prepare("graph", call, device)
    assert graph.status == "ok", graph.status
    graph.fn()
    torch.cuda.synchronize()
    replayed = last["out"]
    for field in ("out_uncond", "out_cond", "grad"):
        a, b = getattr(eager, field), getattr(replayed, field)
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-3, msg=f"{name} {field}")


def test_nvml_reads_the_device_memory_the_allocator_holds():
    from bench.cost.memory import nvml_used_gib

    device = torch.device("cuda")
    before = nvml_used_gib(device)
    block = torch.empty(2 * 2**30, dtype=torch.uint8, device=device)  # 2 GiB held
    after = nvml_used_gib(device)
    del block
    assert before is not None and after is not None
    assert after - before >= 1.5, (before, after)  # NVML counts every context on the device: at least what we added
