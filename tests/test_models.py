"""Model presets and loading: published sizes, local-folder round trips, clear errors."""
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from sdmodels import PRESETS, WeightsUnavailable, check_source, load_models, save_models


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


# published parameter counts, in millions (diffusers model cards / hub configs)
@pytest.mark.parametrize(
    "preset, unet_m, vae_m, text_m",
    [("sd15", 859.52, 83.65, 123.06), ("sd21-base", 865.91, 83.65, 340.39)],
)
def test_full_presets_have_published_sizes(preset, unet_m, vae_m, text_m):
    p = PRESETS[preset]
    with torch.device("meta"):  # sizes without allocating gigabytes
        unet = UNet2DConditionModel.from_config(p.unet)
        vae = AutoencoderKL.from_config(p.vae)
        te = CLIPTextModel(CLIPTextConfig(**p.text_encoder))
    assert _count(unet) / 1e6 == pytest.approx(unet_m, abs=0.01)
    assert _count(vae) / 1e6 == pytest.approx(vae_m, abs=0.01)
    assert _count(te) / 1e6 == pytest.approx(text_m, abs=0.01)


def test_sd21_base_mid_block_is_1280x8x8_at_512px():
    p = PRESETS["sd21-base"]
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(p.unet)
    from sdmodels import Models

    m = Models("sd21-base", "random", unet, AutoencoderKL.from_config(p.vae).to("meta"), None, None, p.scheduler, 512, p)
    assert m.mid_feature_shape(512, 512) == (1280, 8, 8)
    assert m.latent_shape(512, 512) == (4, 64, 64)


def test_local_folder_round_trip(tiny_models, tmp_path):
    save_models(tiny_models, tmp_path / "tiny")
    loaded = load_models(str(tmp_path / "tiny"), weights="pretrained")
    assert loaded.weights == "pretrained" and not loaded.random_weights
    x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    ctx = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = tiny_models.unet(x, 10, encoder_hidden_states=ctx).sample
        b = loaded.unet(x, 10, encoder_hidden_states=ctx).sample
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # same weights; kernels may differ in rounding
    ids = tiny_models.tokenizer(["a red circle"]).input_ids
    assert loaded.tokenizer(["a red circle"]).input_ids == ids
    # random weights from a local folder's configs: same architecture, new weights
    rand = load_models(str(tmp_path / "tiny"), weights="random")
    assert _count(rand.unet) == _count(tiny_models.unet)


def test_missing_weights_offline_suggest_random(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable, match="--weights random"):
        load_models("sd21-base", weights="pretrained")


def test_tiny_has_no_published_weights():
    with pytest.raises(WeightsUnavailable, match="no published weights"):
        load_models("tiny", weights="pretrained")


@pytest.mark.parametrize(
    "source, weights, message",
    [
        ("sd3", "random", "unknown model 'sd3'"),
        ("sd3", "pretrained", "valid presets: sd15, sd21-base, tiny"),
        ("tiny", "fp16", "unknown weights 'fp16'; valid: pretrained, random"),
    ],
)
def test_bad_names_are_refused_with_the_valid_ones(source, weights, message):
    with pytest.raises(ValueError, match=message):
        check_source(source, weights)


def test_schedulers(tiny_models):
    for name in ("ddim", "euler", "dpmpp"):
        assert tiny_models.scheduler(name).config.num_train_timesteps == 1000
    with pytest.raises(ValueError, match="unknown scheduler 'heun'; valid: ddim, euler, dpmpp"):
        tiny_models.scheduler("heun")
