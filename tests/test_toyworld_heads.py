"""Toy head build at test size: PNGs + CSV -> feature shards -> seed-recipe heads -> truth check, through the real workflow."""
import json

from scorers import load_head
from sdmodels import save_models
from toyworld.build_discriminator import DiscriminatorConfig
from toyworld.build_heads import HEADS, HeadBuildConfig, build_discriminator_only, build_heads


def test_build_heads_small(tmp_path, tiny_models):
    ldm = save_models(tiny_models, tmp_path / "ldm")
    disc = DiscriminatorConfig(n_generated=12, steps=2, sample_batch=8, repeats=2, epochs=2, batch=8)
    rec = build_heads(ldm, tmp_path / "heads", HeadBuildConfig(n_images=48, n_check=24, repeats=1, batch=16), log=lambda s: None,
                      disc=disc)
    assert set(rec["spearman_truth_fresh"]) == set(HEADS)
    for name, (kind, _) in HEADS.items():
        head, meta = load_head(tmp_path / "heads" / name)
        assert meta.kind == kind and meta.objective == "aesthetic" and "spearman_truth_fresh" in meta.extra
    saved = json.loads((tmp_path / "heads" / "heads.json").read_text())
    assert saved["config"]["n_images"] == 48 and saved["discriminator"]["config"]["n_generated"] == 12
    head, meta = load_head(tmp_path / "heads" / "discriminator")  # 12 real renders against 12 of the model's own samples
    assert meta.kind == "midblock" and meta.objective == "discriminator" and meta.extra["class_names"] == ["generated", "real"]
    m = saved["discriminator"]["metrics"]
    assert m["n_train"] + m["n_val"] == 48 and 0 <= m["val_accuracy"] <= 1 and "val_accuracy_t_500_up" in m

    # alone (--only discriminator): the same bytes as in the full build, its record merged into the existing heads.json
    before = {n: (tmp_path / "heads" / f"{n}.safetensors").read_bytes() for n in (*HEADS, "discriminator")}
    build_discriminator_only(ldm, tmp_path / "alone", disc, log=lambda s: None)
    assert (tmp_path / "alone" / "discriminator.safetensors").read_bytes() == before["discriminator"]
    (tmp_path / "alone" / "heads.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "discriminator"}))
    build_discriminator_only(ldm, tmp_path / "alone", disc, log=lambda s: None)
    assert json.loads((tmp_path / "alone" / "heads.json").read_text()) == saved
