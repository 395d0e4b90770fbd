"""Our sampler at scale 0 reproduces diffusers' StableDiffusionPipeline for the same parts and noise."""
import copy
import json

import pytest
import torch
from diffusers import StableDiffusionPipeline

from guidance import GuidanceConfig, build_backend, sample
from sdmodels import encode_prompts


def _pipeline(models, scheduler):
    return StableDiffusionPipeline(
        vae=models.vae, text_encoder=models.text_encoder, tokenizer=models.tokenizer, unet=models.unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler", "dpmpp"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_scale_zero_matches_pipeline(tiny_models, scheduler_name, prediction_type):
    m = copy.copy(tiny_models)
    m.scheduler_config = {**m.scheduler_config, "prediction_type": prediction_type}
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
    backend = build_backend("none", m)
    ours = sample(backend, sched, noise * sched.init_noise_sigma, cond, GuidanceConfig(scale=0.0), cfg_scale=cfg)
    torch.testing.assert_close(ours.x0, ref, rtol=0, atol=1e-6)


def test_guided_v_prediction_eps_target_runs(tiny_models):
    """A v-prediction model: guidance on the noise prediction goes through the eps <-> v conversion."""
    m = copy.copy(tiny_models)
    m.scheduler_config = {**m.scheduler_config, "prediction_type": "v_prediction"}
    from scorers.setup import ScorerConfig, make_scorer

    scorer, _ = make_scorer("latent", m, ScorerConfig(), 32, 32)
    backend = build_backend("latent", m, scorer)
    cond = encode_prompts(m, ["a red circle"])
    finals = {}
    for scale in (-2.0, 0.0, 2.0):
        sched = m.scheduler("ddim")
        sched.set_timesteps(6)
        x = torch.randn(1, *m.latent_shape(32, 32), generator=torch.Generator().manual_seed(0))
        res = sample(backend, sched, x, cond, GuidanceConfig(scale=scale, target="eps"), cfg_scale=3.0)
        finals[scale] = float(backend.score(res.x0, cond))
    assert finals[-2.0] < finals[0.0] < finals[2.0], finals


@pytest.fixture(scope="module")
def outdated_folder(tiny_models, tmp_path_factory):
    """The tiny model saved with an outdated scheduler config, as old SD 1.x folders ship it: steps_offset 0, clip_sample on."""
    from sdmodels import save_models

    folder = save_models(tiny_models, tmp_path_factory.mktemp("old") / "tiny")
    path = folder / "scheduler" / "scheduler_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "steps_offset": 0, "clip_sample": True}))
    return folder


@pytest.mark.parametrize("scheduler_name", ["ddim", "euler", "dpmpp"])
def test_outdated_scheduler_config_is_fixed_as_the_pipeline_fixes_it(outdated_folder, scheduler_name):
    import diffusers

    from sdmodels import SCHEDULERS, load_models

    m = load_models(str(outdated_folder), "pretrained")
    assert m.scheduler_config["steps_offset"] == 0  # the config as read; the fix is applied to each scheduler built
    # every class keeps the config's keys, so the pipeline's conditions hold for each (as they do in the pipeline)
    assert m.describe(scheduler_name)["scheduler_fixes"] == ["steps_offset 0 -> 1", "clip_sample True -> False"]
    prompts, steps, cfg = ["a red circle"], 6, 5.0
    noise = torch.randn(1, *m.latent_shape(32, 32), generator=torch.Generator().manual_seed(0))
    raw = getattr(diffusers, SCHEDULERS[scheduler_name]).from_config(m.scheduler_config)  # the pipeline fixes it itself
    with pytest.warns(FutureWarning, match="steps_offset"):  # the pipeline's own fix
        pipe = _pipeline(m, raw)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompts, height=32, width=32, num_inference_steps=steps, guidance_scale=cfg,
               latents=noise.clone(), output_type="latent", return_dict=False)[0]

    def ours(sched):
        sched.set_timesteps(steps)
        return sample(build_backend("none", m), sched, noise * sched.init_noise_sigma, encode_prompts(m, prompts),
                      GuidanceConfig(scale=0.0), cfg_scale=cfg).x0

    torch.testing.assert_close(ours(m.scheduler(scheduler_name)), ref, rtol=0, atol=1e-6)
    if scheduler_name == "ddim":  # with "leading" spacing the offset moves every timestep: unfixed, parity fails
        unfixed = diffusers.DDIMScheduler.from_config(m.scheduler_config)
        assert not torch.allclose(ours(unfixed), ref, atol=1e-4)
