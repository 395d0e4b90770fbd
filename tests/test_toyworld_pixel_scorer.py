"""The toy pixel scorer trains, saves in open_clip + LAION formats, and loads through the pixel backends' path."""
import json

import torch

from scorers.setup import ScorerConfig, make_scorer
from toyworld.pixel_scorer import PixelScorerConfig, train


def test_train_save_and_load_as_image_scorer(tmp_path, tiny_models):
    metrics = train(PixelScorerConfig(n_train=256, n_val=128, epochs=1, batch=64), tmp_path, log=lambda s: None)
    assert -1 <= metrics["val_spearman_truth"] <= 1
    for name in ("toy-vit.json", "toy_clip.pt", "toy_aesthetic_mlp.pth", "pixel_scorer.json"):
        assert (tmp_path / name).is_file()
    cfg = ScorerConfig(clip_arch=str(tmp_path / "toy-vit.json"), clip_checkpoint=str(tmp_path / "toy_clip.pt"),
                       aesthetic_mlp=str(tmp_path / "toy_aesthetic_mlp.pth"))
    scorer, desc = make_scorer("image", tiny_models, cfg, 32, 32)
    assert desc["random_weights"] is False and desc["arch"] == "toy-vit"
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert scorer(images).shape == (2,)
    assert json.loads((tmp_path / "pixel_scorer.json").read_text())["arch"] == "toy-vit"
