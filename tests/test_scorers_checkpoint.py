"""Head checkpoints: round trips, and the errors that stop a wrong head from scoring."""

import json

import pytest
import torch

from scorers import HEADS, FeatureShapeMismatch, HeadMeta, LatentHead, MidBlockHead, build_head, load_head, save_head

CLASSES = tuple(range(1, 11))


def meta_for(kind, shape, **kw):
    return HeadMeta(kind=kind, feature_shape=shape, base_model="tiny-unet", classes=CLASSES, **kw)


@pytest.mark.parametrize("kind, shape, cls", [("midblock", (32, 4, 4), MidBlockHead), ("latent", (4, 8, 8), LatentHead)])
def test_round_trip_gives_identical_outputs(tmp_path, kind, shape, cls):
    torch.manual_seed(0)
    head = build_head(kind, shape).eval()
    meta = meta_for(kind, shape, timesteps=(0, 999), extra={"data_sha256": "abc"})
    stem = tmp_path / "nested" / "head.v1"  # dots in the stem, a directory that does not exist yet
    save_head(stem, head, meta)
    loaded, loaded_meta = load_head(stem, expect_feature_shape=shape)
    assert type(loaded) is cls and not loaded.training
    assert loaded_meta == meta
    h = torch.randn(2, *shape)
    assert torch.equal(loaded(h), head(h))


def test_architecture_comes_from_json_not_file_name(tmp_path):
    save_head(tmp_path / "midblock_head", build_head("latent", (4, 8, 8)), meta_for("latent", (4, 8, 8)))
    head, _ = load_head(tmp_path / "midblock_head")
    assert isinstance(head, LatentHead)


def test_feature_shape_mismatch_names_both_shapes(tmp_path):
    stem = tmp_path / "x"
    save_head(stem, build_head("midblock", (1280, 8, 8)), meta_for("midblock", (1280, 8, 8)))
    with pytest.raises(FeatureShapeMismatch) as err:
        load_head(stem, expect_feature_shape=(64, 4, 4))
    assert isinstance(err.value, ValueError)
    assert str(err.value) == f"scorer checkpoint {stem} was trained on features (1280, 8, 8) but this model gives (64, 4, 4)"


def test_unknown_kind_lists_valid_kinds(tmp_path):
    with pytest.raises(ValueError, match=r"unknown head kind 'pixel'; expected one of \['latent', 'latent_x0', 'midblock'\]"):
        build_head("pixel", (4, 8, 8))
    save_head(tmp_path / "h", build_head("latent", (4, 8, 8)), meta_for("latent", (4, 8, 8)))
    meta_path = tmp_path / "h.json"
    meta_path.write_text(meta_path.read_text().replace('"latent"', '"pixel"'))
    with pytest.raises(ValueError, match="unknown head kind 'pixel'"):
        load_head(tmp_path / "h")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        load_head(tmp_path / "nope")
    save_head(tmp_path / "h", build_head("latent", (4, 8, 8)), meta_for("latent", (4, 8, 8)))
    (tmp_path / "h.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"h\.safetensors"):
        load_head(tmp_path / "h")


def test_save_refuses_meta_that_does_not_rebuild_the_head(tmp_path):
    head = build_head("midblock", (32, 4, 4))
    with pytest.raises(ValueError, match="head does not match meta"):
        save_head(tmp_path / "h", head, meta_for("midblock", (64, 4, 4)))
    with pytest.raises(ValueError, match="head does not match meta"):
        save_head(tmp_path / "h", head, meta_for("latent", (32, 8, 8)))
    assert not list(tmp_path.iterdir())


def test_meta_json_with_unknown_fields_is_refused(tmp_path):
    save_head(tmp_path / "h", build_head("latent", (4, 8, 8)), meta_for("latent", (4, 8, 8)))
    raw = json.loads((tmp_path / "h.json").read_text())
    (tmp_path / "h.json").write_text(json.dumps({**raw, "lr": 1e-3}))
    with pytest.raises(ValueError, match=r"unknown fields \['lr'\]"):
        load_head(tmp_path / "h")


def test_build_head_checks_feature_shape():
    with pytest.raises(ValueError, match=r"H, W >= 8, got \(4, 4, 4\)"):
        build_head("latent", (4, 4, 4))
    assert sorted(HEADS) == ["latent", "latent_x0", "midblock"]
    assert HEADS["latent_x0"] is HEADS["latent"]  # one architecture; the kind says what it was trained on (clean latents)
