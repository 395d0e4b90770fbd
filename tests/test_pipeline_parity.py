"""Our sampler at scale 0 reproduces diffusers' StableDiffusionPipeline for the same parts and noise."""
import pytest
import torch
from diffusers import StableDiffusionPipeline

from bench.encode import encode_prompts
from guidance import BACKENDS, GuidanceConfig, sample


def _pipeline(models, scheduler):
    return StableDiffusionPipeline(
        vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer, unet=models.unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler", "dpmpp"])
def test_scale_zero_matches_pipeline(tiny_models, scheduler_name):
    m = tiny_models
    prompts = ["a red circle", "a blue square"]
    steps, cfg = 6, 5.0
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(2, *m.latent_shape(32, 32), generator=g)

    sched = m.scheduler(scheduler_name)
    pipe = _pipeline(m, sched)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompts, height=32, width=32, num_inference_steps=steps, guidance_scale=cfg,
               latents=noise.clone(), output_type="latent", return_dict=False)[0]

    sched = m.scheduler(scheduler_name)
    sched.set_timesteps(steps)
    cond = encode_prompts(m, prompts)
    backend = BACKENDS["none"](m)
    ours = sample(backend, sched, noise * sched.init_noise_sigma, cond, GuidanceConfig(scale=0.0), cfg_scale=cfg)
    torch.testing.assert_close(ours.x0, ref, rtol=0, atol=1e-6)
