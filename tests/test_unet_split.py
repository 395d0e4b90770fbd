"""The split forward (down+mid, then up) equals the stock diffusers forward."""
import pytest
import torch
from diffusers import UNet2DConditionModel

from guidance import unet_split


def _forward_both(unet, x, t, ctx, added=None):
    stock = unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs=added, return_dict=False)[0]
    split = unet_split.up(unet, unet_split.down_mid(unet, x, t, ctx, added))
    return stock, split


@pytest.mark.parametrize("hw", [(16, 16), (12, 20)])  # the second needs explicit upsample sizes
def test_split_equals_stock_forward(tiny_models, hw):
    g = torch.Generator().manual_seed(1)
    unet = tiny_models.unet
    x = torch.randn(2, 4, *hw, generator=g)
    ctx = torch.randn(2, 77, unet.config.cross_attention_dim, generator=g)
    with torch.no_grad():
        stock, split = _forward_both(unet, x, torch.tensor(500), ctx)
    torch.testing.assert_close(split, stock, rtol=0, atol=0)


def test_split_halves_batched_separately_equal_stock(tiny_models):
    """CFG halves through down+mid separately, joined for the up path: same as one batched forward."""
    g = torch.Generator().manual_seed(2)
    unet = tiny_models.unet
    x = torch.randn(3, 4, 16, 16, generator=g)
    ctx_u, ctx_c = torch.randn(2, 3, 77, 32, generator=g)
    t = torch.tensor(321)
    with torch.no_grad():
        stock = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([ctx_u, ctx_c]), return_dict=False)[0]
        dm = unet_split.cat([unet_split.down_mid(unet, x, t, ctx_u), unet_split.down_mid(unet, x, t, ctx_c)])
        split = unet_split.up(unet, dm)
    # different batching, different GEMM blocking: equal to float rounding
    torch.testing.assert_close(split, stock, rtol=1e-5, atol=1e-5)


def test_split_equals_stock_with_sdxl_added_conditioning():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16, block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=80, cross_attention_dim=64,
        transformer_layers_per_block=(1, 2),
    ).eval()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 16, 16, generator=g)
    ctx = torch.randn(2, 77, 64, generator=g)
    added = {"text_embeds": torch.randn(2, 32, generator=g), "time_ids": torch.randn(2, 6, generator=g)}
    with torch.no_grad():
        stock, split = _forward_both(unet, x, torch.tensor(10), ctx, added)
    torch.testing.assert_close(split, stock, rtol=0, atol=0)


def test_refuses_class_conditional_unet():
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, num_class_embeds=10,
    )
    with pytest.raises(ValueError, match="class-conditional"):
        unet_split.check_supported(unet)


def test_the_replayed_diffusers_release_is_the_one_installed_and_the_pin_stops_at_the_next():
    """The split forward copies diffusers' UNet forward: a diffusers outside the pin is a replay nobody checked."""
    import importlib.metadata
    import re
    from pathlib import Path

    installed = importlib.metadata.version("diffusers")
    assert installed.startswith(unet_split.REPLAYS_DIFFUSERS + "."), (installed, unet_split.REPLAYS_DIFFUSERS)
    spec = re.search(r'"diffusers([^"]*)"', (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()).group(1)
    major, minor = map(int, unet_split.REPLAYS_DIFFUSERS.split("."))
    assert f"<{major}.{minor + 1}" in spec, spec
