"""Feature shards: contents, manifest, the forward process, the clean variant, and resumption."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

import scorers.features as features
from guidance import unet_split
from scorers.data_sac import write_sac
from scorers.data import read_records
from scorers.features import FeatureConfig, extract_features, load_image, row_noise

CFG = FeatureConfig(shard_rows=4, batch=3, t_min=100, t_max=900, noise_seed=7, workers=2)
N_IMAGES = 10




@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("sac")
    rng = np.random.default_rng(0)
    gens = []
    for g in range(N_IMAGES // 2):
        images = []
        for i in range(2):
            name = f"{g}_{i}.png"
            Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(root / name)
            images.append((name, [int(r) for r in rng.integers(1, 11, size=1 + i)]))
        gens.append((f"a shape number {g}", images))
    return read_records(write_sac(root / "sac.sqlite", gens))


@pytest.fixture(scope="module")
def reference(tiny_models, records, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    run = extract_features(tiny_models, records, out, CFG, progress=False)
    return out, run


def columns(path):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def test_manifest_and_shards(reference, records, tiny_models):
    out, run = reference
    m = json.loads((out / "manifest.json").read_text())
    assert m == run.manifest and run.rows_computed == N_IMAGES
    assert m["complete"] and m["num_shards"] == 3 and m["shards_done"] == [f"shard-0000{k}.safetensors" for k in range(3)]
    assert m["feature_shape"] == [64, 8, 8] and m["latent_shape"] == [4, 16, 16]
    assert m["timesteps"] == [100, 900] and m["noise_seed"] == 7 and m["model"] == "tiny" and m["weights"] == "random"
    assert len(m["data_sha256"]) == 64 and m["rows"] == N_IMAGES and m["clip"] is None
    rows = []
    for k, n in enumerate([4, 4, 2]):
        cols, meta = columns(out / m["shards_done"][k])
        assert set(cols) == {"features", "latents", "timestep", "row", "rating_mean", "rating_count", "image_key"}
        assert cols["features"].shape == (n, 64, 8, 8) and cols["features"].dtype == torch.float16
        assert cols["latents"].shape == (n, 4, 16, 16)
        assert ((cols["timestep"] >= 100) & (cols["timestep"] <= 900)).all()
        ids = json.loads(meta["image_ids"])
        rec = records.set_index("image_id").loc[ids]
        assert cols["rating_mean"].tolist() == pytest.approx(rec.rating_mean.tolist())
        assert cols["rating_count"].tolist() == rec.rating_count.tolist()
        rows += cols["row"].tolist()
    assert rows == list(range(N_IMAGES))
    assert not list(out.glob("*.tmp"))


def test_latents_follow_the_forward_process(reference, records, tiny_models):
    """Row r: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with (t, eps) from the row's own seed."""
    out, _ = reference
    cols, _ = columns(out / "shard-00001.safetensors")
    r = 5
    t, eps = row_noise(CFG.noise_seed, r, (4, 16, 16), CFG.t_min, CFG.t_max)
    x0 = features.encode_latents(tiny_models.vae, load_image(records.image_path.iat[r], 32)[None])[0]
    ab = tiny_models.scheduler("ddim").alphas_cumprod[t]
    assert cols["timestep"][1] == t
    expected = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    torch.testing.assert_close(cols["latents"][1].float(), expected, rtol=2e-3, atol=2e-3)  # stored as fp16


def test_resume_after_interruption_gives_identical_shards(reference, records, tiny_models, tmp_path, monkeypatch):
    ref_out, _ = reference
    real_save = features.save_file
    calls = []

    def dies_on_second_shard(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as f:
                f.write(b"half a shard")  # the kill lands mid-write
            raise KeyboardInterrupt
        real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(features, "save_file", dies_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        extract_features(tiny_models, records, tmp_path, CFG, progress=False)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["shards_done"] == ["shard-00000.safetensors"] and not m["complete"]
    assert (tmp_path / "shard-00001.safetensors.tmp").exists() and not (tmp_path / "shard-00001.safetensors").exists()

    monkeypatch.setattr(features, "save_file", real_save)
    run = extract_features(tiny_models, records, tmp_path, CFG, progress=False)
    assert run.rows_computed == N_IMAGES - 4  # the first shard was kept
    assert not list(tmp_path.glob("*.tmp"))
    for k in range(3):
        name = f"shard-0000{k}.safetensors"
        assert (tmp_path / name).read_bytes() == (ref_out / name).read_bytes(), name
    assert json.loads((tmp_path / "manifest.json").read_text()) == json.loads((ref_out / "manifest.json").read_text())


def test_other_settings_are_refused_in_a_used_folder(reference, records, tiny_models):
    out, _ = reference
    with pytest.raises(ValueError, match=r"holds features of a different run \(noise_seed: 7 there, 8 now\)"):
        extract_features(tiny_models, records, out, FeatureConfig(**{**CFG.__dict__, "noise_seed": 8}), progress=False)


def test_clean_variant_is_what_the_midu_score_reads(records, tiny_models, tmp_path):
    """No noise: t = 0, latents = x0, and the features are the mid block at t = 0 with the prompt."""
    from sdmodels import encode_prompts

    few = records.iloc[:3].reset_index(drop=True)
    run = extract_features(tiny_models, few, tmp_path, FeatureConfig(clean=True, feature_dtype="fp32", workers=1),
                           progress=False)
    assert run.manifest["timesteps"] == [0, 0] and run.manifest["noise"] == "none"
    cols, _ = columns(tmp_path / "shard-00000.safetensors")
    assert (cols["timestep"] == 0).all()
    pixels = torch.stack([load_image(p, 32) for p in few.image_path])
    torch.testing.assert_close(cols["latents"], features.encode_latents(tiny_models.vae, pixels))
    cond = encode_prompts(tiny_models, few.prompt.tolist())
    with torch.no_grad():
        h = unet_split.down_mid(tiny_models.unet, cols["latents"], torch.zeros((), dtype=torch.long), cond.cond).h
    torch.testing.assert_close(cols["features"], h, rtol=1e-4, atol=1e-5)


def test_cli_writes_shards_and_reports_throughput(records, tmp_path, capsys):
    table = records.assign(rating=records.rating_mean)[["image_path", "prompt", "rating"]].iloc[:2]
    table.to_csv(tmp_path / "r.csv", index=False)
    assert features.main(["--model", "tiny", "--weights", "random", "--data", str(tmp_path / "r.csv"),
                          "--out", str(tmp_path / "f"), "--shard-rows", "1", "--workers", "1"]) == 0
    assert "images/s" in capsys.readouterr().out
    assert json.loads((tmp_path / "f" / "manifest.json").read_text())["shards_done"] == [
        "shard-00000.safetensors", "shard-00001.safetensors"]
