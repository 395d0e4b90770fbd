"""`python -m toyworld.build_all` at smoke size: every part lands, the record hashes every file, a rerun is identical,
and a build stopped after a stage resumes to the same bytes."""
import pytest

from toyworld.build import BuildConfig
from toyworld.build_all import build_all, main
from toyworld.build_discriminator import DiscriminatorConfig
from toyworld.build_heads import HeadBuildConfig
from toyworld.build_record import file_table, mismatches
from toyworld.caption_check import CheckConfig
from toyworld.pixel_scorer import PixelScorerConfig
from toyworld.shape_classifier import ShapeTrainConfig
from toyworld.stages import StageConfigMismatch
from toyworld.train_tiny_decoder import TinyDecoderTrainConfig
from toyworld.train_unet import UnetTrainConfig
from toyworld.train_vae import VaeTrainConfig

SMOKE = dict(
    ldm_cfg=BuildConfig(n_images=300, n_heldout=50, vae=VaeTrainConfig(steps=2), unet=UnetTrainConfig(steps=2),
                        tiny_decoder=TinyDecoderTrainConfig(steps=2), shape=ShapeTrainConfig(n_train=100, n_test=40, steps=2),
                        check=CheckConfig(n=4, steps=2)),
    pixel_cfg=PixelScorerConfig(epochs=1, n_train=256, n_val=64),
    heads_cfg=HeadBuildConfig(n_images=256, n_check=64, repeats=1),
    disc_cfg=DiscriminatorConfig(n_generated=16, steps=2, sample_batch=16, repeats=1, epochs=1),
)


def test_build_all_writes_every_part_and_is_deterministic(tmp_path):
    rec = build_all(tmp_path / "w", tmp_path / "rep", command="smoke", **SMOKE)
    assert rec["recipe"] == "custom" and not (tmp_path / "w.stages").exists()  # removed once the build is complete
    names = {p.split("/")[0] for p in rec["files"]}
    assert names == {"ldm", "pixel_scorer", "heads"}
    assert {"heads/midblock.safetensors", "heads/latent.json", "pixel_scorer/toy_clip.pt", "ldm/unet/config.json"} <= set(rec["files"])
    assert mismatches(rec["files"], file_table(tmp_path / "w")) == []
    assert set(rec["heads"]["spearman_truth_fresh"]) == {"midblock", "midblock_clean", "latent", "latent_x0"}
    assert {"heads/discriminator.safetensors", "heads/discriminator.json"} <= set(rec["files"])
    assert 0 <= rec["heads"]["discriminator"]["val_accuracy"] <= 1
    assert rec["times"]["total_s"] > 0 and "val_spearman_truth" in rec["pixel_scorer"]
    again = build_all(tmp_path / "w2", tmp_path / "rep2", command="smoke", **SMOKE)
    assert mismatches(rec["files"], again["files"]) == []  # the same bytes, file by file


def test_a_stopped_build_resumes_to_the_same_bytes(tmp_path):
    """The smoke recipe (v2's parts and auxiliary loss at a few steps), stopped after a stage of
    each process's chain and rerun, against an uninterrupted build."""
    whole = build_all(tmp_path / "w", tmp_path / "rep", command="smoke", recipe="smoke")
    assert whole["recipe"] == "smoke" and whole["resumed_stages"] == []
    work = tmp_path / "stages"
    for stop in ("encode", "ldm"):  # after encode: the second process's queued stages are cancelled
        assert build_all(tmp_path / "r", tmp_path / "rep-r", command="smoke", recipe="smoke", stages=work, stop_after=stop) is None
        assert (work / stop / "result.json").is_file() and not (tmp_path / "r" / "BUILD.json").exists()
    with pytest.raises(StageConfigMismatch):  # the stage folder belongs to the smoke recipe
        build_all(tmp_path / "r", tmp_path / "rep-r", recipe="custom", stages=work, **SMOKE)
    resumed = build_all(tmp_path / "r", tmp_path / "rep-r", command="smoke", recipe="smoke", stages=work)
    assert {"data", "vae", "encode", "ldm"} <= set(resumed["resumed_stages"]) and "heads" not in resumed["resumed_stages"]
    assert mismatches(whole["files"], resumed["files"]) == []
    assert not work.exists()


def test_build_all_refuses_to_overwrite_without_the_flag(tmp_path, capsys):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "ldm").mkdir()
    assert main(["--out", str(tmp_path / "w")]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    (tmp_path / "w" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        build_all(tmp_path / "w", overwrite=True)
    assert (tmp_path / "w" / "notes.txt").read_text() == "mine" and (tmp_path / "w" / "ldm").is_dir()  # left alone
