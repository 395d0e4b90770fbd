"""Diffusers folders as users keep them: weights variants, the asked dtype, the default size, broken parts named in one line."""
import json

import pytest
import torch
from diffusers import UNet2DConditionModel

from bench.cli import main
from sdmodels import WeightsUnavailable, load_models, save_models


@pytest.fixture(scope="module")
def half_folder(tmp_path_factory):
    """The tiny model saved as fp16 weights under the fp16 variant names only, as many hub repos' fp16 branches are."""
    half = load_models("tiny", "random", dtype=torch.float16, seed=0)
    return save_models(half, tmp_path_factory.mktemp("half") / "tiny-fp16", variant="fp16"), half


@pytest.fixture(scope="module")
def plain_folder(tiny_models, tmp_path_factory):
    return save_models(tiny_models, tmp_path_factory.mktemp("plain") / "tiny")


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_only_variant_files_load_as_that_variant_at_the_asked_dtype(half_folder):
    folder, half = half_folder
    assert (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert not (folder / "unet" / "diffusion_pytorch_model.safetensors").exists()
    loaded = load_models(str(folder), "pretrained", dtype=torch.float16)
    assert loaded.variants == {"unet": "fp16", "vae": "fp16", "text_encoder": "fp16"}
    assert loaded.describe()["variants"]["unet"] == "fp16" and loaded.describe()["layout"] == "diffusers"
    for part in ("unet", "vae", "text_encoder"):
        assert getattr(loaded, part).dtype == torch.float16
        _same_weights(getattr(loaded, part), getattr(half, part))
    assert load_models(str(folder), "pretrained", dtype=torch.float32).unet.dtype == torch.float32


def test_plain_files_are_preferred_and_a_variant_can_be_asked_for(tiny_models, plain_folder, tmp_path):
    assert load_models(str(plain_folder), "pretrained").variants == {"unet": None, "vae": None, "text_encoder": None}
    both = save_models(tiny_models, tmp_path / "both")
    save_models(load_models("tiny", "random", dtype=torch.float16, seed=0), both, variant="fp16")
    assert load_models(str(both), "pretrained").variants["unet"] is None
    asked = load_models(str(both), "pretrained", dtype=torch.float16, variant="fp16")
    assert asked.variants["text_encoder"] == "fp16" and asked.unet.dtype == torch.float16
    with pytest.raises(WeightsUnavailable, match=r"has no 'bf16' variant weights; it holds: \(plain\), fp16"):
        load_models(str(both), "pretrained", variant="bf16")


def test_the_dtype_is_passed_to_from_pretrained(plain_folder, monkeypatch):
    """No fp32 copy first: diffusers and transformers get the dtype and load straight into it."""
    seen = []
    real = UNet2DConditionModel.from_pretrained.__func__

    def spy(cls, *a, **kw):
        seen.append(kw.get("torch_dtype"))
        return real(cls, *a, **kw)

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", classmethod(spy))
    assert load_models(str(plain_folder), "pretrained", dtype=torch.bfloat16).unet.dtype == torch.bfloat16
    assert seen == [torch.bfloat16]


def test_default_size_is_unet_sample_size_times_vae_factor(tiny_models, tmp_path):
    folder = save_models(tiny_models, tmp_path / "tiny")
    cfg_path = folder / "vae" / "config.json"
    cfg_path.write_text(json.dumps({**json.loads(cfg_path.read_text()), "sample_size": 512}))  # VAE configs often say 512 or 768
    for weights in ("pretrained", "random"):
        m = load_models(str(folder), weights)
        assert m.resolution == 16 * 2 and m.image_size() == (32, 32), weights  # as diffusers' pipelines compute it


@pytest.mark.parametrize("breakage, message", [
    ("no vae", "has no vae/: expected a diffusers folder"),
    ("no tokenizer", "has no tokenizer/"),
    ("no unet weights", "unet holds no weights"),
    ("truncated unet", "unet/ of model folder"),
    ("truncated text encoder", "text_encoder/ of model folder"),
])
def test_a_missing_or_broken_part_is_named_in_one_line(tiny_models, tmp_path, capsys, breakage, message):
    import shutil

    folder = save_models(tiny_models, tmp_path / "tiny")
    if breakage.startswith("no ") and breakage != "no unet weights":
        shutil.rmtree(folder / breakage[3:])
    else:
        sub, name = {"no unet weights": ("unet", "diffusion_pytorch_model.safetensors"), "truncated unet": ("unet", "diffusion_pytorch_model.safetensors"),
                     "truncated text encoder": ("text_encoder", "model.safetensors")}[breakage]
        path = folder / sub / name
        if breakage.startswith("no "):
            path.unlink()
        else:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsUnavailable, match=message) as e:
        load_models(str(folder), "pretrained")
    assert "\n" not in str(e.value)
    # the CLI: one line, exit 2, no traceback
    capsys.readouterr()  # drop the progress bars of saving
    assert main(["sample", "--model", str(folder), "--weights", "pretrained", "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
