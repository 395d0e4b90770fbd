"""Class and CLIP-embedding heads: one head interface, trained from the same shards, guiding the sampler."""

import json

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from scorers import HeadMeta, build_head, load_head, save_head
from scorers.data import read_records
from scorers.features import FeatureConfig, extract_features
from scorers.objectives import (
    ClassLogProbScorer,
    clip_image_target,
    clip_text_target,
    get_objective,
    load_clip_model,
    make_objective_scorer,
)
from scorers.tiny_clip import TINY_CLIP_CONFIG
from scorers.train import TrainConfig, train_head

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
ARCH = "tiny-vit-text-test"  # the tiny tower with a full-size vocabulary, so text targets tokenise




@pytest.fixture(scope="module")
def features(tiny_models, tmp_path_factory):
    """15 flat-colour images with noise, labelled by colour, with random-weight tiny CLIP embeddings."""
    root = tmp_path_factory.mktemp("objectives")
    cfg = json.loads(json.dumps(TINY_CLIP_CONFIG))
    cfg["text_cfg"]["vocab_size"] = 49408
    (root / f"{ARCH}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(root / f"{ARCH}.json")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(15):
        label, name = i % 3, list(COLOURS)[i % 3]
        pixels = np.clip(np.array(COLOURS[name]) + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"{i}.png")
        rows.append((f"{i}.png", f"a {name} picture", int(rng.integers(1, 11)), label))
    pd.DataFrame(rows, columns=["image_path", "prompt", "rating", "label"]).to_csv(root / "r.csv", index=False)
    out = root / "features"
    run = extract_features(tiny_models, read_records(root / "r.csv"), out,
                           FeatureConfig(repeats=2, shard_rows=10, batch=10, clip_arch=ARCH, workers=1),
                           label_names=list(COLOURS), progress=False)
    assert run.manifest["num_labels"] == 3 and run.manifest["clip"]["random_weights"]
    return out


def guide(models, scorer, steps=3):
    from guidance import GuidanceConfig, build_backend, sample
    from sdmodels import encode_prompts

    backend = build_backend("midu", models, scorer)
    sched = models.scheduler("ddim")
    sched.set_timesteps(steps)
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)) * sched.init_noise_sigma
    cond = encode_prompts(models, ["a red picture", "a blue picture"])
    return sample(backend, sched, x, cond, GuidanceConfig(scale=1.0), cfg_scale=2.0), backend, cond


def test_class_head_end_to_end(tiny_models, features, tmp_path):
    head, meta, m = train_head(features, "midblock", TrainConfig(objective="class", batch=8, val_fraction=0.3))
    assert meta.objective == "class" and meta.classes == (0, 1, 2) and meta.extra["class_names"] == list(COLOURS)
    assert m["n_train"] + m["n_val"] == 30 and 0 <= m["val_accuracy"] <= 1 and 0 <= m["val_accuracy_baseline"] <= 1
    save_head(tmp_path / "colour", head, meta)
    head, meta = load_head(tmp_path / "colour", expect_feature_shape=tiny_models.mid_feature_shape(32, 32))
    scorer = make_objective_scorer(head, meta, target="red")
    res, backend, cond = guide(tiny_models, scorer)
    assert all(s.guided and s.score_mean <= 0 for s in res.steps)  # a log-probability
    assert (backend.score(res.x0, cond) <= 0).all()


def test_clip_head_end_to_end(tiny_models, features, tmp_path):
    head, meta, m = train_head(features, "midblock", TrainConfig(objective="clip", batch=8, val_fraction=0.3))
    d = TINY_CLIP_CONFIG["embed_dim"]
    assert meta.objective == "clip" and meta.classes == tuple(range(d)) and meta.extra["clip"]["arch"] == ARCH
    assert -1 <= m["val_cosine"] <= 1 and -1 <= m["val_cosine_baseline"] <= 1
    save_head(tmp_path / "clip", head, meta)
    head, meta = load_head(tmp_path / "clip")
    model = load_clip_model(ARCH)  # the same random tower the features used (seed 0)
    target = clip_text_target(model, ARCH, ["a red picture"])
    assert target.shape == (d,) and torch.isclose(target.norm(), torch.tensor(1.0))
    res, backend, cond = guide(tiny_models, make_objective_scorer(head, meta, target=target))
    assert all(s.guided and -1 <= s.score_mean <= 1 for s in res.steps)
    image_target = clip_image_target(model, torch.rand(2, 3, 32, 32) * 2 - 1)
    assert image_target.shape == (d,)


def test_shards_carry_labels_and_unit_embeddings(features):
    from safetensors import safe_open

    with safe_open(str(features / "shard-00000.safetensors"), framework="pt") as f:
        label, emb = f.get_tensor("label"), f.get_tensor("clip_embedding")
    ids = sorted(f"{i}.png" for i in range(15))  # records are sorted by image id (a string: "1.png" < "10.png")
    assert label.tolist() == [int(i.split(".")[0]) % 3 for i in ids for _ in range(2)][:10]  # two copies of each
    assert emb.shape == (10, TINY_CLIP_CONFIG["embed_dim"])
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(10))
    torch.testing.assert_close(emb[0], emb[1])  # copies of one image share its embedding


def meta(objective, classes, **extra):
    return HeadMeta(kind="midblock", feature_shape=(8, 4, 4), base_model="t", classes=classes,
                    objective=objective, extra=extra)


def test_scorer_values_and_target_errors():
    torch.manual_seed(0)
    head = build_head("midblock", (8, 4, 4), 3).eval()
    h = torch.randn(2, 8, 4, 4)
    cls = meta("class", (0, 1, 2), class_names=["red", "green", "blue"])
    s = make_objective_scorer(head, cls, target="blue")
    assert isinstance(s, ClassLogProbScorer) and s.target == 2
    torch.testing.assert_close(s(h), torch.log_softmax(head(h), -1)[:, 2])
    with pytest.raises(ValueError, match=r"unknown class 'pink'; this head knows \['red', 'green', 'blue'\]"):
        make_objective_scorer(head, cls, target="pink")
    with pytest.raises(ValueError, match="class target must be an index in 0..2"):
        make_objective_scorer(head, cls, target=3)
    clip = meta("clip", (0, 1, 2))
    target = torch.tensor([1.0, 0.0, 0.0])
    torch.testing.assert_close(make_objective_scorer(head, clip, target=target)(h), F.normalize(head(h), dim=-1)[:, 0])
    with pytest.raises(ValueError, match=r"target embedding of size 3, got \(4,\)"):
        make_objective_scorer(head, clip, target=torch.ones(4))
    with pytest.raises(ValueError, match="an aesthetic head takes no target"):
        make_objective_scorer(head, meta("aesthetic", (1, 2, 3)), target="red")


def test_objective_targets():
    rating = get_objective("aesthetic")
    r = torch.tensor([0.2, 1.49, 1.5, 5.5, 9.7, 12.0])
    assert rating.target(r, tuple(range(1, 11))).tolist() == [0, 0, 1, 5, 9, 9]  # round half up, clipped to 1..10
    with pytest.raises(ValueError, match=r"labels must lie in 0..2, got 0..3"):
        get_objective("class").target(torch.tensor([0, 3]), (0, 1, 2))
    with pytest.raises(ValueError, match="unknown objective 'style'"):
        get_objective("style")


def _real_vs_generated(root):
    """A folder of 'real' images (red) and one of 'generated' images (blue), as a records table with a `real` column."""
    rng, rows = np.random.default_rng(1), []
    for kind, colour in (("real", COLOURS["red"]), ("generated", COLOURS["blue"])):
        (root / kind).mkdir()
        for i in range(8):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / kind / f"{i}.png")
            rows.append((f"{kind}/{i}.png", "a picture", int(kind == "real")))
    pd.DataFrame(rows, columns=["image_path", "prompt", "real"]).to_csv(root / "r.csv", index=False)  # unrated: no rating column
    return root / "r.csv"


def test_discriminator_head_end_to_end(tiny_models, tmp_path):
    """Real vs generated images -> scorers.features -> scorers.train --objective discriminator -> a mid-U guide."""
    from safetensors import safe_open

    from scorers.train import main as train_main

    records = read_records(_real_vs_generated(tmp_path))
    assert records.real.tolist().count(1) == 8 and records.rating_count.eq(0).all()
    extract_features(tiny_models, records, tmp_path / "feats", FeatureConfig(repeats=2, shard_rows=16, batch=16, workers=1),
                     progress=False)
    real = []
    for shard in ("shard-00000", "shard-00001"):  # sorted by image id: the generated images, then the real ones
        with safe_open(str(tmp_path / "feats" / f"{shard}.safetensors"), framework="pt") as f:
            real += f.get_tensor("real").tolist()
    assert real == [0] * 16 + [1] * 16
    assert train_main(["--features", str(tmp_path / "feats"), "--out", str(tmp_path / "disc"), "--objective", "discriminator",
                       "--batch", "8", "--epochs", "3", "--val-fraction", "0.3", "--quiet"]) == 0
    head, meta = load_head(tmp_path / "disc", expect_feature_shape=tiny_models.mid_feature_shape(32, 32))
    assert meta.objective == "discriminator" and meta.classes == (0, 1) and meta.extra["class_names"] == ["generated", "real"]
    m = meta.extra["metrics"]
    assert m["n_train"] + m["n_val"] == 32 and 0 <= m["val_accuracy"] <= 1
    scorer = make_objective_scorer(head, meta)
    h = torch.randn(3, *meta.feature_shape)
    logits = head(h)
    torch.testing.assert_close(scorer(h), torch.log_softmax(logits, -1)[:, 1] - torch.log_softmax(logits, -1)[:, 0])  # log D/(1-D)
    res, backend, cond = guide(tiny_models, scorer)
    assert all(s.guided for s in res.steps) and torch.isfinite(backend.score(res.x0, cond)).all()
    with pytest.raises(ValueError, match="a discriminator head takes no target"):
        make_objective_scorer(head, meta, target="real")
    from scorers.setup import ScorerConfig, check_scorer_files

    with pytest.raises(ValueError, match=r"--objective-target 'real': .*disc is a discriminator head, which takes no target"):
        check_scorer_files(ScorerConfig("midblock", head=str(tmp_path / "disc"), objective_target="real"))  # before any model loads


def test_real_column_must_be_zero_or_one(tmp_path):
    path = _real_vs_generated(tmp_path)
    df = pd.read_csv(path)
    df.loc[3, "real"] = 2
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"the `real` column must be 1 \(a real image\) or 0 \(the model's own sample\), got 2"):
        read_records(path)
    with pytest.raises(ValueError, match=r"the `real` column must be 1 \(real\) or 0 \(generated\)"):
        get_objective("discriminator").target(torch.tensor([0, 1, 2]), (0, 1))
