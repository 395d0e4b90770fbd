"""The diffusers UNet forward cut in two at the mid block.

Mid-U guidance needs the gradient of a head on the mid-block output with
respect to the UNet input. Only the down blocks and the mid block lie on that
path; the up blocks still have to run (they make the noise prediction) but need
no autograd graph. Cutting the stock forward into `down_mid` and `up` lets a
backend run the first half with grad and the second half without, and lets it
batch the halves differently (the unconditional CFG half never needs a graph).

The two halves replay `UNet2DConditionModel.forward` of diffusers
REPLAYS_DIFFUSERS (src/diffusers/models/unets/unet_2d_condition.py) line for line for the
features Stable Diffusion 1.x/2.x and SDXL use (time embedding, SDXL's added
text/time embedding, cross-attention, upsample sizes for odd latents).
`tests/test_unet_split.py` pins `up(down_mid(...))` to the stock forward.
Features we do not replay (attention masks, class labels, ControlNet and
adapter residuals, GLIGEN) are refused when the model config asks for them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

REPLAYS_DIFFUSERS = "0.42"  # the release whose forward these halves replay; pyproject pins diffusers below the next one

@dataclass
class DownMid:
    """What the up path needs from the first half of the forward."""

    h: Tensor  # mid-block output, the features mid-U heads read
    res: tuple[Tensor, ...]  # skip connections, in down-path order
    emb: Tensor  # time (+ added) embedding after the activation
    context: Tensor  # encoder hidden states after projection
    upsample_size_needed: bool


def check_supported(unet) -> None:
    """Refuse UNet configurations whose forward we do not replay."""
    cfg = unet.config
    if cfg.get("class_embed_type") is not None or getattr(unet, "class_embedding", None) is not None:
        raise ValueError(f"split UNet forward: class-conditional UNets (class_embed_type={cfg.get('class_embed_type')!r}) are not supported")
    if cfg.get("addition_embed_type") not in (None, "text_time"):
        raise ValueError(
            f"split UNet forward: addition_embed_type={cfg.get('addition_embed_type')!r} is not supported; "
            "expected None (SD 1.x/2.x) or 'text_time' (SDXL)"
        )
    if unet.mid_block is None:
        raise ValueError("split UNet forward: this UNet has no mid block to read features from")


def down_mid(unet, x: Tensor, t: Tensor, context: Tensor, added_cond_kwargs: dict | None = None) -> DownMid:
    """Time embedding, conv_in, down blocks and mid block of the stock forward."""
    sample = 2 * x - 1.0 if unet.config.center_input_sample else x
    upsample_size_needed = any(d % 2**unet.num_upsamplers != 0 for d in sample.shape[-2:])

    t_emb = unet.get_time_embed(sample=sample, timestep=t)
    emb = unet.time_embedding(t_emb, None)
    aug_emb = unet.get_aug_embed(emb=emb, encoder_hidden_states=context, added_cond_kwargs=added_cond_kwargs or {})
    if aug_emb is not None:
        emb = emb + aug_emb
    if unet.time_embed_act is not None:
        emb = unet.time_embed_act(emb)
    context = unet.process_encoder_hidden_states(encoder_hidden_states=context, added_cond_kwargs=added_cond_kwargs or {})

    sample = unet.conv_in(sample)
    res: tuple[Tensor, ...] = (sample,)
    for block in unet.down_blocks:
        if getattr(block, "has_cross_attention", False):
            sample, block_res = block(hidden_states=sample, temb=emb, encoder_hidden_states=context)
        else:
            sample, block_res = block(hidden_states=sample, temb=emb)
        res += block_res

    if getattr(unet.mid_block, "has_cross_attention", False):
        sample = unet.mid_block(sample, emb, encoder_hidden_states=context)
    else:
        sample = unet.mid_block(sample, emb)
    return DownMid(h=sample, res=res, emb=emb, context=context, upsample_size_needed=upsample_size_needed)


def up(unet, dm: DownMid) -> Tensor:
    """Up blocks and output head of the stock forward, from a `DownMid`."""
    sample, res, emb, context = dm.h, dm.res, dm.emb, dm.context
    upsample_size = None
    for i, block in enumerate(unet.up_blocks):
        n = len(block.resnets)
        block_res, res = res[-n:], res[:-n]
        if i < len(unet.up_blocks) - 1 and dm.upsample_size_needed:
            upsample_size = res[-1].shape[2:]
        if getattr(block, "has_cross_attention", False):
            sample = block(
                hidden_states=sample,
                temb=emb,
                res_hidden_states_tuple=block_res,
                encoder_hidden_states=context,
                upsample_size=upsample_size,
            )
        else:
            sample = block(hidden_states=sample, temb=emb, res_hidden_states_tuple=block_res, upsample_size=upsample_size)
    if unet.conv_norm_out:
        sample = unet.conv_act(unet.conv_norm_out(sample))
    return unet.conv_out(sample)


def cat(parts: list[DownMid]) -> DownMid:
    """Join first halves computed on separate batches (e.g. CFG's two halves) into one."""
    return DownMid(
        h=torch.cat([p.h for p in parts]),
        res=tuple(torch.cat(rs) for rs in zip(*(p.res for p in parts))),
        emb=torch.cat([p.emb for p in parts]),
        context=torch.cat([p.context for p in parts]),
        upsample_size_needed=parts[0].upsample_size_needed,
    )


def detach(dm: DownMid) -> DownMid:
    return DownMid(
        h=dm.h.detach(),
        res=tuple(r.detach() for r in dm.res),
        emb=dm.emb.detach(),
        context=dm.context.detach(),
        upsample_size_needed=dm.upsample_size_needed,
    )
