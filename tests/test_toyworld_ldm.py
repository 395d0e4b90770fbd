"""The toy LDM: training smoke runs, the colour folding, and the committed weights (hashes, loading, sampling, backends)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from toyworld.arch import build_tokenizer, build_vae
from toyworld.build_record import file_table, mismatches, read_record
from toyworld.dataset import make_dataset
from toyworld.train_tiny_decoder import TinyDecoderTrainConfig, train_tiny_decoder
from toyworld.train_unet import UnetTrainConfig, train_unet
from toyworld.train_vae import VaeTrainConfig, apply_colour, colour_whitening, encode_latents, fold_colour, train_vae
from toyworld.training import batch_indices, lr_at

WEIGHTS = Path(__file__).resolve().parents[1] / "toyworld" / "weights" / "ldm"


@pytest.fixture(scope="module")
def toy():
    from sdmodels import load_models

    return load_models(str(WEIGHTS), "pretrained")


def test_schedule_and_batches():
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1) and lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, 10) == pytest.approx(0.05)
    idx = batch_indices(10, 4, 5, seed=0)
    assert idx.shape == (5, 4) and sorted(idx.ravel()[:10]) == list(range(10))  # each epoch a permutation


def test_fold_colour_turns_a_whitened_vae_into_the_same_rgb_vae():
    images = make_dataset(8, seed=3)["images"]
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1)
    t = colour_whitening(images)
    vae = build_vae(0).eval()
    with torch.no_grad():
        y_white = vae.decode(vae.encode(apply_colour(t, x)).latent_dist.mean).sample
        fold_colour(vae, t)
        y = vae.decode(vae.encode(x).latent_dist.mean).sample
    torch.testing.assert_close(apply_colour(t, y), y_white, rtol=1e-4, atol=1e-4)


def test_training_smoke_runs_are_deterministic():
    images = make_dataset(16, seed=5)["images"]
    captions = make_dataset(16, seed=5)["captions"]
    vae, log = train_vae(images, VaeTrainConfig(steps=2, batch=4, log_every=1))
    again, _ = train_vae(images, VaeTrainConfig(steps=2, batch=4, log_every=1))
    for a, b in zip(vae.parameters(), again.parameters()):
        assert torch.equal(a, b)
    assert len(log.rows) == 2 and vae.config.scaling_factor > 0
    mean, std = encode_latents(vae, images)
    assert mean.shape == (16, 4, 8, 8)
    unet, te, ulog = train_unet(mean, std, captions, build_tokenizer(), vae.config.scaling_factor, UnetTrainConfig(steps=2, batch=4, log_every=1))
    assert np.isfinite(ulog.rows[-1]["loss"]) and not unet.training
    tiny, tlog = train_tiny_decoder(vae, mean, std, TinyDecoderTrainConfig(steps=2, batch=4, log_every=1))
    assert np.isfinite(tlog.rows[-1]["loss"])


def test_committed_files_match_build_record():
    record = read_record(WEIGHTS)
    assert mismatches(record["files"], file_table(WEIGHTS)) == []
    assert record["total_bytes"] <= 25_000_000
    assert record["caption_check"]["colour_match"] >= 0.75


def test_committed_model_has_the_shapes_heads_need(toy):
    assert toy.resolution == 32 and toy.vae_scale_factor == 2
    assert toy.latent_shape(32, 32) == (4, 16, 16)  # latent head needs >= 8x8
    c, h, w = toy.mid_feature_shape(32, 32)
    assert (h, w) == (8, 8)  # as SD 2.1-base's at 512 px (mid-U head needs >= 2x2)
    assert toy.unet.mid_block is not None and toy.dtype == torch.float32  # stored fp16, loaded as fp32


def test_committed_model_samples(toy):
    from toyworld.caption_check import CheckConfig, generate

    images = generate(toy, ["a red circle on a dark green background", "a blue star on a black background"], CheckConfig(steps=3))
    assert images.shape == (2, 3, 32, 32) and np.isfinite(images).all()
    x0 = torch.randn(2, 4, 16, 16)
    from guidance.pixel import decode

    assert decode(toy.tiny_decoder(), x0).shape == (2, 3, 32, 32)


def test_every_backend_runs_on_the_committed_model(toy):
    from guidance import BACKENDS, GuidanceConfig, build_backend, sample, scorer_kind
    from scorers.setup import ScorerConfig, make_scorer
    from scorers.tiny_clip import TINY_CLIP_ARCH
    from sdmodels import encode_prompts

    cond = encode_prompts(toy, ["a red circle on a dark green background"])
    for name in BACKENDS:
        scorer, _ = make_scorer(scorer_kind(name), toy, ScorerConfig(clip_arch=TINY_CLIP_ARCH), 32, 32)
        sched = toy.scheduler("ddim")
        sched.set_timesteps(2)
        x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
        res = sample(build_backend(name, toy, scorer), sched, x, cond, GuidanceConfig(scale=1.0), cfg_scale=5.0)
        assert torch.isfinite(res.x0).all(), name
