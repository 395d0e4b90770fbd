"""Head training: the recipe learns, is deterministic, splits by image, and its checkpoint guides the sampler."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from scorers import load_head
from scorers.data_sac import write_sac
from scorers.data import read_records
from scorers.feature_shards import FORMAT, write_manifest
from scorers.features import FeatureConfig, extract_features, image_key
from scorers.train import TrainConfig, is_val, main, train_head


def write_synthetic(out, n_images=200, repeats=2, shard_rows=64, seed=0, noise="synthetic"):
    """Shards whose features carry the rating: a rating-dependent pattern plus noise (no UNet involved)."""
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    rating = torch.randint(1, 11, (n_images,), generator=g).float()
    pattern = torch.randn(8, 4, 4, generator=g)
    rows = torch.arange(n_images * repeats)
    img = rows // repeats
    r = rating[img]
    feats = (r - 5.5).view(-1, 1, 1, 1) * pattern + 0.3 * torch.randn(len(rows), 8, 4, 4, generator=g)
    lat = (r - 5.5).view(-1, 1, 1, 1) * pattern[:4].repeat(1, 2, 2) + 0.3 * torch.randn(len(rows), 4, 8, 8, generator=g)
    cols = {"features": feats.half(), "latents": lat.half(), "rating_mean": r, "rating_count": torch.ones_like(rows),
            "timestep": rows % 1000, "row": rows, "image_key": torch.tensor([image_key(str(int(i))) for i in img])}
    names = []
    for k in range(0, len(rows), shard_rows):
        names.append(f"shard-{k // shard_rows:05d}.safetensors")
        save_file({c: v[k:k + shard_rows].contiguous() for c, v in cols.items()}, str(out / names[-1]))
    write_manifest(out, {"format": FORMAT, "model": "synthetic", "weights": "random", "feature_shape": [8, 4, 4],
                         "latent_shape": [4, 8, 8], "image_size": 64, "noise": noise, "noise_seed": seed,
                         "data_sha256": "0" * 64, "num_shards": len(names), "shards_done": names, "complete": True})
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("synthetic"))


@pytest.mark.parametrize("kind", ["midblock", "latent"])
def test_recipe_learns_ratings_carried_by_the_features(synthetic, kind):
    _, meta, m = train_head(synthetic, kind, TrainConfig(epochs=6, batch=32, lr=3e-3, val_fraction=0.2))
    assert m["n_train"] + m["n_val"] == 400 and m["steps"] == 6 * -(-m["n_train"] // 32)
    assert m["train_loss_last"] < m["train_loss_first"]
    assert m["val_accuracy"] > 0.15 and m["val_spearman"] > 0.9 and m["val_mae"] < 0.5 * m["val_mae_baseline"]
    assert meta.kind == kind and meta.classes == tuple(range(1, 11)) and 0 <= meta.timesteps[0] < meta.timesteps[1] <= 399


def test_latent_x0_head_trains_on_clean_latents_only(synthetic, tmp_path):
    """A latent_x0 head reads clean latents (the x0 estimate): features made with --clean train it, noised ones are refused."""
    with pytest.raises(ValueError, match="a latent_x0 head reads clean latents, but these features are noised"):
        train_head(synthetic, "latent_x0")
    clean = write_synthetic(tmp_path / "clean", repeats=1, noise="none")
    head, meta, m = train_head(clean, "latent_x0", TrainConfig(epochs=6, batch=32, lr=3e-3, val_fraction=0.2))
    assert meta.kind == "latent_x0" and meta.feature_shape == (4, 8, 8) and m["val_spearman"] > 0.9
    assert type(head).__name__ == "LatentHead"


def test_training_is_deterministic_for_a_seed(synthetic):
    cfg = TrainConfig(batch=64, shuffle_window=2)
    a, _, ma = train_head(synthetic, "midblock", cfg)
    b, _, mb = train_head(synthetic, "midblock", cfg)
    c, _, _ = train_head(synthetic, "midblock", TrainConfig(batch=64, shuffle_window=2, seed=1))
    assert ma == mb
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


def test_split_keeps_every_copy_of_an_image_on_one_side(synthetic):
    keys = torch.tensor([image_key(str(i)) for i in range(200)])
    val = is_val(keys, 0.2)
    assert 0.1 < float(val.float().mean()) < 0.3
    _, _, m = train_head(synthetic, "midblock", TrainConfig(batch=128, val_fraction=0.2))
    assert m["n_val"] == 2 * int(val.sum())  # both noised copies of each held-out image
    assert torch.equal(is_val(keys, 0.2), val)


def test_unfinished_features_are_refused(tmp_path):
    out = write_synthetic(tmp_path / "f", n_images=20)
    m = json.loads((out / "manifest.json").read_text())
    write_manifest(out, {**m, "complete": False})
    with pytest.raises(ValueError, match="the features run is unfinished"):
        train_head(out, "midblock")
    with pytest.raises(ValueError, match="unknown head kind 'pixel'"):
        train_head(out, "pixel")


@pytest.fixture(scope="module")
def sac_features(tiny_models, tmp_path_factory):
    """Features of 12 SAC-layout images on the tiny model, two noised copies each."""
    root = tmp_path_factory.mktemp("sac_e2e")
    rng = np.random.default_rng(1)
    gens = []
    for g in range(6):
        images = []
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{g}{i}.png")
            images.append((f"{g}{i}.png", [int(x) for x in rng.integers(1, 11, size=2)]))
        gens.append((f"a picture {g}", images))
    records = read_records(write_sac(root / "sac.sqlite", gens))
    out = root / "features"
    extract_features(tiny_models, records, out, FeatureConfig(repeats=2, shard_rows=8, batch=8, workers=1), progress=False)
    return out


@pytest.mark.parametrize("kind, backend", [("midblock", "midu"), ("latent", "latent")])
def test_features_train_guide(tiny_models, sac_features, tmp_path, capsys, kind, backend):
    """The CLI's checkpoint loads through the harness's scorer setup and guides a few sampling steps."""
    from guidance import GuidanceConfig, build_backend, sample
    from scorers.setup import ScorerConfig, make_scorer
    from sdmodels import encode_prompts

    stem = tmp_path / "heads" / "aesthetic"
    argv = ["--features", str(sac_features), "--out", str(stem), "--kind", kind, "--batch", "8", "--val-fraction", "0.3"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    head, meta = load_head(stem)
    m = meta.extra["metrics"]
    assert json.loads(printed[:printed.rindex("}") + 1]) == m
    assert meta.kind == kind and meta.objective == "aesthetic" and meta.base_model == "tiny"
    assert meta.feature_shape == {"midblock": (64, 8, 8), "latent": (4, 16, 16)}[kind]
    assert meta.classes == tuple(range(1, 11)) and 0 <= meta.timesteps[0] <= meta.timesteps[1] <= 999
    assert meta.extra["command"].startswith("python -m scorers.train --features")
    assert len(meta.extra["data_sha256"]) == 64 and meta.extra["train"]["batch"] == 8
    assert m["n_train"] + m["n_val"] == 24 and m["n_val"] % 2 == 0
    assert 0 <= m["val_accuracy"] <= 1 and 0 <= m["val_mae"] <= 9
    assert m["val_spearman"] is None or -1 <= m["val_spearman"] <= 1

    scorer, desc = make_scorer(kind, tiny_models, ScorerConfig(head=str(stem)), 32, 32)
    assert desc["random_weights"] is False
    guided = build_backend(backend, tiny_models, scorer)
    sched = tiny_models.scheduler("ddim")
    sched.set_timesteps(3)
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * sched.init_noise_sigma
    cond = encode_prompts(tiny_models, ["a picture 1", "a picture 2"])
    res = sample(guided, sched, x, cond, GuidanceConfig(scale=1.0), cfg_scale=2.0)
    assert all(s.guided and 1 <= s.score_mean <= 10 for s in res.steps)
    final = guided.score(res.x0, cond)
    assert final.shape == (2,) and ((final >= 1) & (final <= 10)).all()
