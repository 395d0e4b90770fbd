"""`make demo` at reduced size: a toy-world sweep on the committed weights, its report and headline."""
import json

from bench.cli import main
from bench.jobs.demo_toy import toy_demo


def test_toy_demo_writes_report_and_headline(tmp_path):
    report = toy_demo(tmp_path, seeds=2, steps=2, backends=("none", "midu", "pixel"), scales=(-1.0, 1.0), n_prompts=1, log=lambda s: None,
                      best_of=1)
    text = report.read_text()
    for section in ("## The world's model and scorers", "## Chosen scale per backend", "## Caption following", "## Ground truth by part",
                    "## Negative scales", "grid_midu.png"):
        assert section in text
    assert "Random weights" not in text  # the committed toy model is trained
    assert "This sweep has no best-of-N draws" in text and "--best-of 8" in text  # how to get them, not a silent gap
    head = json.loads((tmp_path / "headline.json").read_text())["backends"]
    assert {"gt_uplift", "win_rate", "colour_match", "colour_match_unguided", "shape_match"} <= set(head["midu"])
    assert {"gt_uplift", "colour_match"} <= set(head["pixel"]) and "above_best_of_n" not in head["midu"]


def test_demo_rejects_one_seed(capsys):
    assert main(["demo", "--seeds", "1", "--out", "/tmp/never"]) == 2
    assert "--seeds 1: expected at least 2" in capsys.readouterr().err
