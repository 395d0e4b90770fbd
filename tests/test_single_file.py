"""Single-file checkpoints in the original (LDM) layout, written here for the tiny presets, read through diffusers' converters offline."""
import json
import pickle

import pytest
import safetensors.torch
import torch

from bench.cli import main
from sdmodels import WeightsUnavailable, encode_prompts, load_models, save_single_file


@pytest.fixture(scope="module", params=["tiny", "tiny-sd21", "tiny-sdxl"])
def written(request, tmp_path_factory):
    """(preset, its random models, the .safetensors file they were written to): SD 1.x, SD 2.x and SDXL key layouts."""
    m = load_models(request.param, "random", seed=0)
    return request.param, m, save_single_file(m, tmp_path_factory.mktemp("ckpt") / f"{request.param}.safetensors")


def _parts(m):
    return [p for p in ("unet", "vae", "text_encoder", "text_encoder_2") if getattr(m, p) is not None]


def test_the_writer_uses_the_original_key_names(written):
    name, _, path = written
    keys = set(safetensors.torch.load_file(str(path)))
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys and "first_stage_model.decoder.up.0.block.0.conv1.weight" in keys
    text = {"tiny": "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
            "tiny-sd21": "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight",
            "tiny-sdxl": "conditioner.embedders.1.model.text_projection"}[name]
    assert text in keys


def test_round_trip_infers_the_architecture_and_keeps_every_weight(written):
    name, m, path = written
    loaded = load_models(str(path), "pretrained")
    assert loaded.describe() | {"source": None} == {"source": None, "weights": "pretrained", "layout": "single-file", "dtype": "float32",
                                                    "variants": None, "config_from": name, "default_size": 32}
    assert loaded.family == m.family and _parts(loaded) == _parts(m)
    for part in _parts(m):
        a, b = getattr(m, part).state_dict(), getattr(loaded, part).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    a, b = encode_prompts(m, ["a red circle"]), encode_prompts(loaded, ["a red circle"])
    torch.testing.assert_close(a.cond, b.cond, rtol=0, atol=0)


def test_loads_at_the_asked_dtype_with_the_named_config(written):
    name, m, path = written
    loaded = load_models(str(path), "pretrained", dtype=torch.float16, model_config=name)
    for part in _parts(m):
        assert getattr(loaded, part).dtype == torch.float16, part
    w = "conv_in.weight"
    assert torch.equal(loaded.unet.state_dict()[w], m.unet.state_dict()[w].half())


def test_a_config_for_another_architecture_is_refused_in_one_line(written):
    name, _, path = written
    other = "tiny-sdxl" if name != "tiny-sdxl" else "tiny"
    with pytest.raises(WeightsUnavailable, match=r"(could not be (loaded|read) as|lacks \d+ unet weights).* name another with --model-config") as e:
        load_models(str(path), "pretrained", model_config=other)
    assert f"is it a {other} checkpoint?" in str(e.value) and "\n" not in str(e.value)


def test_unknown_architecture_asks_for_model_config(tiny_models, tmp_path):
    path = save_single_file(tiny_models, tmp_path / "m.safetensors")
    sd = {k: v for k, v in safetensors.torch.load_file(str(path)).items() if not k.startswith("cond_stage_model.")}
    safetensors.torch.save_file(sd, str(path))
    with pytest.raises(WeightsUnavailable, match=r"matches no preset: pass --model-config PRESET, one of sd15, sd21-base, tiny"):
        load_models(str(path), "pretrained")


def test_a_partial_checkpoint_names_the_part(tiny_models, tmp_path):
    path = save_single_file(tiny_models, tmp_path / "m.safetensors")
    sd = {k: v for k, v in safetensors.torch.load_file(str(path)).items() if not k.startswith("first_stage_model.decoder.")}
    safetensors.torch.save_file(sd, str(path))
    with pytest.raises(WeightsUnavailable, match=r"lacks \d+ vae weights \(e.g. decoder\."):
        load_models(str(path), "pretrained", model_config="tiny")


def test_a_truncated_file_is_named(tiny_models, tmp_path):
    path = save_single_file(tiny_models, tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(WeightsUnavailable, match="is not a readable safetensors file"):
        load_models(str(path), "pretrained")


def test_the_extra_keys_real_checkpoints_carry_are_ignored(tiny_models, tmp_path):
    path = save_single_file(tiny_models, tmp_path / "m.safetensors")
    sd = safetensors.torch.load_file(str(path))
    sd |= {"cond_stage_model.transformer.text_model.embeddings.position_ids": torch.arange(77)[None],
           "alphas_cumprod": torch.ones(1000), "model_ema.decay": torch.tensor(0.9999)}
    safetensors.torch.save_file(sd, str(path))
    assert load_models(str(path), "pretrained").config_from == "tiny"


def test_a_tensors_only_ckpt_loads_with_weights_only(tiny_models, tmp_path, monkeypatch):
    path = save_single_file(tiny_models, tmp_path / "m.ckpt")
    torch.save({**torch.load(path, weights_only=True), "global_step": 470000, "epoch": 3}, path)  # as Lightning saves them
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: calls.append(kw.get("weights_only")) or real(*a, **kw))
    loaded = load_models(str(path), "pretrained")
    assert calls == [True] and loaded.config_from == "tiny"
    assert torch.equal(loaded.vae.state_dict()["decoder.conv_out.weight"], tiny_models.vae.state_dict()["decoder.conv_out.weight"])


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_a_ckpt_with_code_is_refused_with_how_to_convert(tmp_path):
    target = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.target = target
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "callbacks": exploit}, path)
    with pytest.raises(WeightsUnavailable, match=r"refused .*convert it to safetensors once.*\.safetensors") as e:
        load_models(str(path), "pretrained")
    assert "\n" not in str(e.value) and not target.exists()
    with pytest.raises(pickle.UnpicklingError):  # the refusal is torch's own, from weights_only=True
        torch.load(path, weights_only=True)


def test_cli_samples_from_a_single_file_and_records_how_it_loaded(tiny_models, tmp_path, capsys):
    path = save_single_file(tiny_models, tmp_path / "tiny.safetensors")
    out = tmp_path / "run"
    assert main(["sample", "--model", str(path), "--weights", "pretrained", "--steps", "2", "--out", str(out)]) == 0
    rec = json.loads((out / "run.json").read_text())
    assert rec["model"]["layout"] == "single-file" and rec["model"]["config_from"] == "tiny" and rec["random_weights"] is False
    assert main(["sample", "--model", str(path), "--steps", "2", "--out", str(out)]) == 2  # default --weights random
    assert "single-file checkpoint: pass --weights pretrained" in capsys.readouterr().err
    assert main(["sample", "--model", str(path), "--weights", "pretrained", "--model-config", "sd3", "--out", str(out)]) == 2
    assert "unknown model preset 'sd3'" in capsys.readouterr().err
