"""The original (LDM) single-file key layout: which preset a checkpoint holds, and a writer for it.

diffusers reads this layout (diffusers/loaders/single_file_utils.py) but ships no
writer; `save_single_file` is the inverse of its conversion for the UNet, VAE
and CLIP/OpenCLIP text encoders, so tests can write tiny checkpoints as
AUTOMATIC1111 and ComfyUI keep them. It checks every key finds a home.
"""
from __future__ import annotations

from pathlib import Path

import torch

from sdmodels.errors import WeightsUnavailable
from sdmodels.presets import PRESETS, Preset

UNET, VAE = "model.diffusion_model.", "first_stage_model."
# text encoder -> key prefix, by family; SD 2.x keeps OpenCLIP under cond_stage_model.model.
TEXT_PREFIXES = {
    "sd": {"text_encoder": "cond_stage_model."},
    "sdxl": {"text_encoder": "conditioner.embedders.0.", "text_encoder_2": "conditioner.embedders.1."},
}
RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
          "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def text_layout(p: Preset) -> str:
    """How a preset's first text encoder is stored: SD 2.x pads with "!" because it is OpenCLIP."""
    if p.family == "sdxl":
        return "sdxl"
    return "open_clip" if p.tokenizer_pad == "!" else "clip"


def _signature_of_preset(p: Preset) -> tuple:
    return text_layout(p), p.unet["block_out_channels"][0], p.unet["cross_attention_dim"], p.text_encoder["hidden_size"]


def _signature_of_checkpoint(ckpt: dict) -> tuple:
    if any(k.startswith("conditioner.embedders.1.") for k in ckpt):
        layout, token = "sdxl", "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
    elif "cond_stage_model.model.token_embedding.weight" in ckpt:
        layout, token = "open_clip", "cond_stage_model.model.token_embedding.weight"
    else:
        layout, token = "clip", "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
    conv_in = ckpt.get(UNET + "input_blocks.0.0.weight")
    cross = next((v for k, v in ckpt.items() if k.startswith(UNET) and k.endswith("attn2.to_k.weight")), None)
    text = ckpt.get(token)
    return (layout, None if conv_in is None else conv_in.shape[0], None if cross is None else cross.shape[1],
            None if text is None else text.shape[1])


def infer_preset(ckpt: dict, path: Path) -> str:
    """The one preset whose text-encoder layout and widths match the checkpoint's, or a one-line refusal."""
    sig = _signature_of_checkpoint(ckpt)
    found = [name for name, p in PRESETS.items() if _signature_of_preset(p) == sig]
    if len(found) != 1:
        what = "no preset" if not found else f"several presets ({', '.join(found)})"
        raise WeightsUnavailable(f"checkpoint {path} (text {sig[0]}, UNet width {sig[1]}, cross-attention {sig[2]}, text width {sig[3]}) "
                                 f"matches {what}: pass --model-config PRESET, one of {', '.join(PRESETS)}")
    return found[0]


def _rename(key: str, table: dict[str, str], inner: dict[str, dict[str, str]]) -> str:
    """Replace the longest module prefix of `key` found in `table`, then the prefix's inner names."""
    parts = key.split(".")
    for n in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:n])
        if head in table:
            rest = ".".join(parts[n:])
            for old, new in inner.get(head, {}).items():
                if rest.startswith(old + "."):
                    rest = new + rest[len(old):]
            return f"{table[head]}.{rest}"
    raise ValueError(f"no original-layout name for {key!r}")


def unet_to_ldm(unet) -> dict[str, torch.Tensor]:
    c = unet.config
    lpb, levels = c.layers_per_block, len(c.block_out_channels)
    table = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2", "conv_in": "input_blocks.0.0",
             "conv_norm_out": "out.0", "conv_out": "out.2", "add_embedding.linear_1": "label_emb.0.0",
             "add_embedding.linear_2": "label_emb.0.2", "mid_block.resnets.0": "middle_block.0",
             "mid_block.attentions.0": "middle_block.1", "mid_block.resnets.1": "middle_block.2"}
    for b in range(levels):
        for j in range(lpb):  # input block 0 is conv_in; each level is lpb resnets (+attention) then a downsampler
            table[f"down_blocks.{b}.resnets.{j}"] = f"input_blocks.{1 + b * (lpb + 1) + j}.0"
            table[f"down_blocks.{b}.attentions.{j}"] = f"input_blocks.{1 + b * (lpb + 1) + j}.1"
        table[f"down_blocks.{b}.downsamplers.0.conv"] = f"input_blocks.{1 + b * (lpb + 1) + lpb}.0.op"
        for j in range(lpb + 1):
            table[f"up_blocks.{b}.resnets.{j}"] = f"output_blocks.{b * (lpb + 1) + j}.0"
            table[f"up_blocks.{b}.attentions.{j}"] = f"output_blocks.{b * (lpb + 1) + j}.1"
        slot = 2 if "CrossAttn" in c.up_block_types[b] else 1  # the upsampler follows the attention when there is one
        table[f"up_blocks.{b}.upsamplers.0.conv"] = f"output_blocks.{b * (lpb + 1) + lpb}.{slot}.conv"
    inner = {k: RESNET for k in table if ".resnets." in k}
    return {UNET + _rename(k, table, inner): v for k, v in unet.state_dict().items()}


def vae_to_ldm(vae) -> dict[str, torch.Tensor]:
    c = vae.config
    n, lpb = len(c.block_out_channels), c.layers_per_block
    table = {f"{s}.{m}": f"{s}.{m}" for s in ("encoder", "decoder") for m in ("conv_in", "conv_out")}
    table |= {"encoder.conv_norm_out": "encoder.norm_out", "decoder.conv_norm_out": "decoder.norm_out",
              "quant_conv": "quant_conv", "post_quant_conv": "post_quant_conv"}
    for i in range(n):
        table |= {f"encoder.down_blocks.{i}.resnets.{j}": f"encoder.down.{i}.block.{j}" for j in range(lpb)}
        table[f"encoder.down_blocks.{i}.downsamplers.0.conv"] = f"encoder.down.{i}.downsample.conv"
        # the decoder's up blocks are stored in reverse order
        table |= {f"decoder.up_blocks.{i}.resnets.{j}": f"decoder.up.{n - 1 - i}.block.{j}" for j in range(lpb + 1)}
        table[f"decoder.up_blocks.{i}.upsamplers.0.conv"] = f"decoder.up.{n - 1 - i}.upsample.conv"
    for s in ("encoder", "decoder"):
        table |= {f"{s}.mid_block.resnets.{k}": f"{s}.mid.block_{k + 1}" for k in range(2)}
        table[f"{s}.mid_block.attentions.0"] = f"{s}.mid.attn_1"
    inner = {k: ({"conv_shortcut": "nin_shortcut"} if ".resnets." in k else VAE_ATTN) for k in table if ".resnets." in k or "attentions" in k}
    out = {}
    for k, v in vae.state_dict().items():
        new = _rename(k, table, inner)
        # the original attention projections are 1x1 convolutions
        out[VAE + new] = v[:, :, None, None] if ".mid.attn_1." in new and v.ndim == 2 else v
    return out


def clip_to_ldm(encoder, prefix: str) -> dict[str, torch.Tensor]:
    """OpenAI CLIP keeps the transformers names under `<prefix>transformer.text_model.`."""
    return {f"{prefix}transformer.text_model.{k.removeprefix('text_model.')}": v
            for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}


def open_clip_to_ldm(encoder, prefix: str) -> dict[str, torch.Tensor]:
    """OpenCLIP's names, q/k/v fused into in_proj, the projection transposed (diffusers' convert_open_clip_checkpoint, inverted)."""
    p, out, qkv = prefix + "model.", {}, {}
    fixed = {"embeddings.token_embedding.weight": "token_embedding.weight", "embeddings.position_embedding.weight": "positional_embedding",
             "final_layer_norm.weight": "ln_final.weight", "final_layer_norm.bias": "ln_final.bias"}
    for k, v in encoder.state_dict().items():
        k = k.removeprefix("text_model.")
        if k in fixed:
            out[p + fixed[k]] = v
        elif k == "text_projection.weight":
            out[p + "text_projection"] = v.T.contiguous()
        elif k.startswith("encoder.layers."):
            layer, rest = k.split(".")[2], ".".join(k.split(".")[3:])
            if rest.split(".")[:2] in (["self_attn", "q_proj"], ["self_attn", "k_proj"], ["self_attn", "v_proj"]):
                qkv.setdefault((layer, rest.split(".")[-1]), {})[rest.split(".")[1]] = v
                continue
            for old, new in (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"),
                             ("self_attn.out_proj", "attn.out_proj")):
                rest = rest.replace(old, new)
            out[f"{p}transformer.resblocks.{layer}.{rest}"] = v
        elif not k.endswith("position_ids"):
            raise ValueError(f"no original-layout name for {k!r}")
    for (layer, kind), d in qkv.items():
        out[f"{p}transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat([d["q_proj"], d["k_proj"], d["v_proj"]])
    return out


def to_ldm_state_dict(models) -> dict[str, torch.Tensor]:
    """All parts of `models` under their original single-file names."""
    sd = unet_to_ldm(models.unet) | vae_to_ldm(models.vae)
    if models.family == "sdxl":
        return sd | clip_to_ldm(models.text_encoder, "conditioner.embedders.0.") | open_clip_to_ldm(models.text_encoder_2, "conditioner.embedders.1.")
    layout = text_layout(models.preset) if models.preset else ("open_clip" if models.tokenizer.pad_token == "!" else "clip")
    writer = open_clip_to_ldm if layout == "open_clip" else clip_to_ldm
    return sd | writer(models.text_encoder, "cond_stage_model.")


def save_single_file(models, path: str | Path) -> Path:
    """Write `models` as one checkpoint in the original layout: .safetensors, or a tensors-only .ckpt under "state_dict"."""
    path = Path(path)
    sd = {k: v.detach().contiguous() for k, v in to_ldm_state_dict(models).items()}
    if path.suffix == ".safetensors":
        import safetensors.torch

        safetensors.torch.save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd}, path)
    return path
