"""The caption check: colour and shape read off pixels, on real renders, and its CLI on the committed model."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from toyworld.caption import caption
from toyworld.caption_check import colour_names, eval_prompts, main, match_rates
from toyworld.render import render
from toyworld.scene import COLOURS, Scene
from toyworld.shape_classifier import (
    READABLE_BLUR,
    READABLE_RADIUS,
    ShapeTrainConfig,
    load_shape_classifier,
    predict_shapes,
    save_shape_classifier,
    train_shape_classifier,
)

WEIGHTS = Path(__file__).resolve().parents[1] / "toyworld" / "weights" / "ldm"


@pytest.fixture(scope="module")
def committed_net():
    return load_shape_classifier(WEIGHTS / "shape_classifier")


def test_colour_of_every_palette_colour_on_every_background():
    scenes = [Scene("circle", c, bg, 0.4, 0.6, 0.18, shading=0.5) for c in COLOURS for bg in ("black", "grey", "white", "dark blue", "pale red")]
    assert colour_names(render(scenes)) == [s.colour for s in scenes]


def test_real_renders_match_their_captions_and_not_others(committed_net):
    prompts, real = eval_prompts(300, seed=11)
    ok = match_rates(real, prompts, committed_net)
    assert ok["colour_match"] >= 0.95 and ok["shape_match"] >= 0.85 and ok["n"] == 300
    shifted = prompts[1:] + prompts[:1]
    wrong = match_rates(real, shifted, committed_net)
    assert wrong["colour_match"] < 0.4 and wrong["shape_match"] < 0.5


def test_committed_shape_classifier_reads_readable_shapes(committed_net):
    rng = np.random.default_rng(12)
    shapes = ("circle", "square", "triangle", "star")
    scenes = [Scene(shapes[i % 4], "yellow", "dark purple", *rng.uniform(0.3, 0.7, 2), radius=rng.uniform(READABLE_RADIUS, 0.3),
                    blur=rng.uniform(0, READABLE_BLUR), grain=0.02, seed=i) for i in range(80)]
    got = predict_shapes(committed_net, render(scenes))
    assert np.mean([g == s.shape for g, s in zip(got, scenes)]) >= 0.95


def test_match_rates_wants_one_caption_per_image(committed_net):
    with pytest.raises(ValueError, match="3 images for 2 captions"):
        match_rates(np.zeros((3, 3, 32, 32), np.float32), ["a red star on a black background"] * 2, committed_net)


def test_shape_classifier_trains_saves_and_loads(tmp_path):
    net, acc = train_shape_classifier(ShapeTrainConfig(n_train=128, n_test=32, steps=3, batch=16))
    assert 0.0 <= acc["shape_acc_real"] <= 1.0 and acc["n_test"] == 32
    save_shape_classifier(net, tmp_path / "clf", acc)
    back = load_shape_classifier(tmp_path / "clf")
    x = torch.rand(4, 1, 32, 32)
    torch.testing.assert_close(back(x), net(x))
    with pytest.raises(FileNotFoundError, match="save_shape_classifier"):
        load_shape_classifier(tmp_path / "nothing")


def test_cli_on_committed_model(tmp_path, capsys):
    summary = main(["--model", str(WEIGHTS), "--n", "4", "--steps", "2", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "caption_check.json").read_text())
    assert saved["n"] == 4 and 0.0 <= saved["colour_match"] <= 1.0 and saved == json.loads(json.dumps(summary))
    assert saved["real_colour_match"] >= 0.75


def test_caption_of_prompt_scene_round_trip():
    prompts, _ = eval_prompts(5)
    assert all(isinstance(p, str) and p.startswith("a") for p in prompts)
    assert caption(Scene("star", "red", "black", 0.5, 0.5, 0.2)) == "a red star on a black background"
