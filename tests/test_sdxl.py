"""SDXL: the published architecture's sizes, prompt encoding and scale-0 parity with diffusers' SDXL pipeline, mid-U on it."""
import pytest
import torch
from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from guidance import GuidanceConfig, build_backend, sample
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import PRESETS, encode_prompts, feature_shapes, load_models, save_models


@pytest.fixture(scope="module")
def xl():
    return load_models("tiny-sdxl", weights="random", seed=0)


def test_sdxl_preset_sizes():
    p = PRESETS["sdxl"]
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(p.unet)
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**p.text_encoder_2))
    assert sum(x.numel() for x in unet.parameters()) / 1e6 == pytest.approx(2567.46, abs=0.01)
    assert sum(x.numel() for x in te2.parameters()) / 1e6 == pytest.approx(694.66, abs=0.01)
    assert feature_shapes(p.unet, p.vae, 1024, 1024)["midblock"] == (1280, 32, 32)


def test_scale_zero_matches_sdxl_pipeline(xl):
    prompts = ["a red circle", "a blue square"]
    noise = torch.randn(2, *xl.latent_shape(32, 32), generator=torch.Generator().manual_seed(0))
    pipe = StableDiffusionXLPipeline(vae=xl.vae, text_encoder=xl.text_encoder, text_encoder_2=xl.text_encoder_2,
                                     tokenizer=xl.tokenizer, tokenizer_2=xl.tokenizer_2, unet=xl.unet,
                                     scheduler=xl.scheduler("euler"))
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompts, height=32, width=32, num_inference_steps=5, guidance_scale=5.0, latents=noise.clone(),
               output_type="latent", return_dict=False)[0]
    sched = xl.scheduler("euler")
    sched.set_timesteps(5)
    cond = encode_prompts(xl, prompts, height=32, width=32)
    ours = sample(build_backend("none", xl), sched, noise * sched.init_noise_sigma, cond, GuidanceConfig(), cfg_scale=5.0)
    torch.testing.assert_close(ours.x0, ref, rtol=0, atol=1e-5)


def test_midu_on_sdxl_raises_its_score(xl):
    scorer, desc = make_scorer("midblock", xl, ScorerConfig(), 32, 32)
    assert desc["feature_shape"] == [64, 8, 8]
    backend = build_backend("midu", xl, scorer)
    cond = encode_prompts(xl, ["a red circle"], height=32, width=32)
    finals = []
    for scale in (-0.5, 0.0, 0.5):
        sched = xl.scheduler("ddim")
        sched.set_timesteps(6)
        x = torch.randn(1, *xl.latent_shape(32, 32), generator=torch.Generator().manual_seed(1))
        res = sample(backend, sched, x, cond, GuidanceConfig(scale=scale), cfg_scale=3.0)
        finals.append(float(backend.score(res.x0, cond)))
    assert finals[0] < finals[1] < finals[2], finals


def test_midu_gradient_equals_hook_on_sdxl(xl):
    from guidance import StepIn
    from guidance.prediction import alpha_bar_at

    scorer, _ = make_scorer("midblock", xl, ScorerConfig(), 32, 32)
    cond = encode_prompts(xl, ["a red circle", "a green star"], negative_prompt="blurry", height=32, width=32)
    x = torch.randn(2, *xl.latent_shape(32, 32), generator=torch.Generator().manual_seed(2))
    s = StepIn(x=x, t=torch.tensor(400), alpha_bar=alpha_bar_at(xl.scheduler("ddim").alphas_cumprod, 400),
               prediction_type="epsilon", cond=cond, want_grad=True)
    a, b = build_backend("midu", xl, scorer)(s), build_backend("midu-hook", xl, scorer)(s)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(a.out_cond, b.out_cond, rtol=1e-5, atol=1e-5)


def test_sdxl_folder_round_trip(xl, tmp_path):
    save_models(xl, tmp_path / "xl")
    loaded = load_models(str(tmp_path / "xl"), weights="pretrained")
    assert loaded.family == "sdxl" and loaded.text_encoder_2 is not None
    a = encode_prompts(xl, ["a cat"], height=32, width=32)
    b = encode_prompts(loaded, ["a cat"], height=32, width=32)
    torch.testing.assert_close(a.cond, b.cond, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.added_cond["text_embeds"], b.added_cond["text_embeds"], rtol=1e-5, atol=1e-5)
