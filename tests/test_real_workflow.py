"""The real-checkpoint workflow end to end on stand-ins written in the real formats:
SAC SQLite + images -> mid-block features -> seed-recipe head -> guided sweep judged by a LAION-format scorer -> report."""
import json

import numpy as np
import open_clip
import torch
from PIL import Image

from bench.report.uplift import write_report
from bench.uplift.analysis import samples, uplift_table
from bench.uplift.config import make_arms
from bench.uplift.resolve import resolve_config
from bench.uplift.run import run_uplift
from guidance import SamplerConfig
from scorers import AestheticMLP, save_head
from scorers.data_sac import write_sac
from scorers.data import read_records
from scorers.features import FeatureConfig, extract_features
from scorers.tiny_clip import TINY_CLIP_ARCH, register_tiny_clip
from scorers.train import TrainConfig, train_head
from sdmodels import save_models


def test_sac_to_features_to_head_to_guided_sweep(tmp_path, tiny_models):
    rng = np.random.default_rng(0)
    images = tmp_path / "sac"
    images.mkdir()
    gens = []
    for g in range(12):
        imgs = []
        for k in range(4):
            name = f"g{g}/{k}.png"
            (images / name).parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(images / name)
            imgs.append((name, [int(rng.integers(1, 11)) for _ in range(1 + k % 2)]))
        gens.append((f"prompt {g}", imgs))
    db = write_sac(images / "sac.sqlite", gens)
    records = read_records(db)
    assert len(records) == 48 and set(records.rating_count) == {1, 2}

    model_dir = save_models(tiny_models, tmp_path / "model")  # a local diffusers folder, as a user's checkpoint
    from sdmodels import load_models

    models = load_models(str(model_dir), "pretrained")
    extract_features(models, records, tmp_path / "feats", FeatureConfig(batch=16, shard_rows=32), progress=False)
    head, meta, metrics = train_head(tmp_path / "feats", "midblock", TrainConfig(batch=16))
    save_head(tmp_path / "heads" / "aesthetic", head, meta)
    assert meta.feature_shape == (64, 8, 8) and {"val_accuracy", "val_mae", "val_spearman"} <= set(metrics)

    # a LAION-format evaluation scorer: an open_clip checkpoint + a .pth with LAION's key names
    register_tiny_clip(tmp_path / "clip")
    clip = open_clip.create_model(TINY_CLIP_ARCH, pretrained=None)
    torch.save(clip.state_dict(), tmp_path / "clip" / "clip.pt")
    torch.save(AestheticMLP(16).state_dict(), tmp_path / "clip" / "mlp.pth")

    cfg = resolve_config(arms=make_arms(("none", "midu"), (-1.0, 1.0)), prompts=("prompt 0",), source=str(model_dir), weights="pretrained",
                         seeds=4, chunk=4, sampler=SamplerConfig(steps=3), heads={"midblock": str(tmp_path / "heads" / "aesthetic")},
                         image={"clip_arch": TINY_CLIP_ARCH, "clip_checkpoint": str(tmp_path / "clip" / "clip.pt"),
                                "aesthetic_mlp": str(tmp_path / "clip" / "mlp.pth")})
    run_uplift(cfg, tmp_path / "sweep", log=lambda s: None)
    saved = json.loads((tmp_path / "sweep" / "config.json").read_text())
    assert saved["scorers"]["midblock"]["random_weights"] is False and saved["scorers"]["image"]["random_weights"] is False
    t = uplift_table(samples(tmp_path / "sweep" / "rows.jsonl"))
    own = t[(t.judge == "judge_midblock")].set_index("scale")
    assert own.uplift[1.0] > own.uplift[-1.0]
    assert set(t.judge) >= {"judge_image", "judge_midblock", "judge_latent"}  # the cross-scorer matrix
    assert write_report(tmp_path / "sweep", tmp_path / "report.md", None, "cmd").is_file()
