"""Toy head build at test size: PNGs + CSV -> feature shards -> seed-recipe heads -> truth check, through the real workflow."""
import json

from scorers import load_head
from sdmodels import save_models
from toyworld.build_heads import HEADS, HeadBuildConfig, build_heads


def test_build_heads_small(tmp_path, tiny_models):
    ldm = save_models(tiny_models, tmp_path / "ldm")
    rec = build_heads(ldm, tmp_path / "heads", HeadBuildConfig(n_images=48, n_check=24, repeats=1, batch=16), log=lambda s: None)
    assert set(rec["spearman_truth_fresh"]) == set(HEADS)
    for name, (kind, _) in HEADS.items():
        head, meta = load_head(tmp_path / "heads" / name)
        assert meta.kind == kind and meta.objective == "aesthetic" and "spearman_truth_fresh" in meta.extra
    assert json.loads((tmp_path / "heads" / "heads.json").read_text())["config"]["n_images"] == 48
