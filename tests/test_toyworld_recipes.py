"""Recipes and stages: the default recipe (v2) is the committed build's config, v2's parts fit the heads, the auxiliary text
loss reads the right tokens, and a stage folder made for another recipe is refused."""
import json
from pathlib import Path

import pytest
import torch

from toyworld.arch import build_tokenizer, build_unet, build_vae
from toyworld.recipes import DEFAULT_RECIPE, RECIPES
from toyworld.stages import StageConfigMismatch, open_stages, run_stage
from toyworld.train_unet import aux_labels, tokenize

WEIGHTS = Path(__file__).resolve().parents[1] / "toyworld" / "weights"


def test_the_default_recipe_is_the_committed_build_config():
    """The default recipe (v2) reproduces the committed weights, so its config must be theirs: every key
    the committed record has is equal, and its architectures equal the committed parts' configs."""
    assert DEFAULT_RECIPE == "v2" == json.loads((WEIGHTS / "BUILD.json").read_text())["recipe"]
    rec = RECIPES[DEFAULT_RECIPE].as_dict()
    committed = json.loads((WEIGHTS / "ldm" / "BUILD.json").read_text())["config"]

    def restrict(new, old):
        return {k: restrict(new[k], old[k]) if isinstance(old[k], dict) else new[k] for k in old}

    assert restrict(rec["ldm"], committed) == committed
    assert rec["ldm"]["unet"]["aux_weight"] == 0.05 and RECIPES["v1"].ldm.unet.aux_weight == 0.0
    for part, key in (("unet", "unet_arch"), ("vae", "vae_arch"), ("text_encoder", "text_arch"), ("tiny_decoder", "tiny_arch")):
        saved = json.loads((WEIGHTS / "ldm" / part / "config.json").read_text())
        for k, v in rec["ldm"][key].items():
            if k != "scaling_factor":  # set by training
                assert saved[k] == (list(v) if isinstance(v, tuple) else v), (part, k)
    assert json.loads((WEIGHTS / "heads" / "heads.json").read_text())["config"] == rec["heads"]
    assert json.loads((WEIGHTS / "pixel_scorer" / "pixel_scorer.json").read_text())["config"] == rec["pixel_scorer"]


def test_v2_parts_have_the_shapes_heads_need():
    cfg = RECIPES["v2"].ldm
    vae, unet = build_vae(0, cfg.vae_arch), build_unet(0, cfg.unet_arch)
    z = vae.encode(torch.zeros(1, 3, 32, 32)).latent_dist.mean
    assert z.shape == (1, 4, 16, 16)  # the latent head needs >= 8x8
    feats = {}
    unet.mid_block.register_forward_hook(lambda m, i, o: feats.update(mid=o))
    unet(z, torch.tensor([10]), encoder_hidden_states=torch.zeros(1, 16, cfg.text_arch["hidden_size"]))
    assert feats["mid"].shape[-2:] == (8, 8)  # the mid-U head needs >= 2x2
    assert cfg.unet.aux_weight > 0 and cfg.unet.steps > RECIPES["v1"].ldm.unet.steps


def test_aux_labels_point_at_the_caption_words():
    tok = build_tokenizer()
    caps = ["a red circle on a dark blue background", "an orange star on a pale yellow background",
            "a small purple triangle at the top left on a grey background"]
    lab = aux_labels(tok, caps)
    ids = tokenize(tok, caps)
    words = [[tok.decode([int(ids[i, lab[k][i]])]) for k in ("colour_pos", "shape_pos")] for i in range(3)]
    assert words == [["red", "circle"], ["orange", "star"], ["purple", "triangle"]]
    assert all(int(ids[i, lab["eos_pos"][i]]) == tok.eos_token_id for i in range(3))
    assert lab["background"].tolist()[1] != lab["background"].tolist()[0]


def test_stage_folder_refuses_another_recipe_and_publishes_atomically(tmp_path):
    root = open_stages(tmp_path / "s", "v2", {"a": 1})
    assert open_stages(tmp_path / "s", "v2", {"a": 1}) == root  # the same build reopens it
    with pytest.raises(StageConfigMismatch, match="another build"):
        open_stages(tmp_path / "s", "v1", {"a": 1})
    with pytest.raises(StageConfigMismatch):
        open_stages(tmp_path / "s", "v2", {"a": 2})

    def boom(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run_stage(root, "vae", boom)
    assert not (root / "vae").exists()  # only a .partial-<pid> folder, which the next run ignores
    done = run_stage(root, "vae", lambda folder: {"ok": 1})
    assert done["result"] == {"ok": 1} and (root / "vae" / "rng.pt").is_file() and not (root / "vae" / "half.txt").exists()
