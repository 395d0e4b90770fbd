"""Truth score: range, spread, blank/noise low, good high, and each part answers to its name."""
import numpy as np
import pytest

from toyworld.render import render
from toyworld.scene import BACKGROUNDS, Scene, sample_scenes
from toyworld.truth import TRUTH_PARTS, combine, truth_parts, truth_score

GOOD = dict(shape="star", colour="orange", background="dark blue", cx=1 / 3, cy=1 / 3, radius=0.18)


def _parts(*scenes):
    return truth_parts(render(list(scenes)))


def _good(**kw):
    return Scene(**{**GOOD, **kw})


def test_score_spans_the_range_on_random_scenes():
    scenes = sample_scenes(2000, np.random.default_rng(1))
    s = truth_score(render(scenes))
    assert s.dtype == np.float32 and s.min() >= 1 and s.max() <= 10
    p5, p95 = np.percentile(s, [5, 95])
    assert p5 < 4 and p95 > 7, (p5, p95)
    assert np.all(np.histogram(s, bins=np.arange(1, 11))[0] > 20)  # every integer band populated


def test_parts_are_named_and_bounded():
    parts = truth_parts(render(sample_scenes(200, np.random.default_rng(2))))
    assert tuple(parts) == TRUTH_PARTS
    for v in parts.values():
        assert v.shape == (200,) and v.min() >= 0 and v.max() <= 1


def test_hand_made_good_scene_scores_high():
    assert truth_score(render([_good(), _good(shape="circle", cx=2 / 3)])).min() > 9


def test_blank_and_noise_score_low():
    rng = np.random.default_rng(0)
    blank = np.stack([np.full((3, 32, 32), v, np.float32) for v in np.linspace(-1, 1, 5)])
    noise = rng.uniform(-1, 1, (5, 3, 32, 32)).astype(np.float32)
    gauss = np.clip(rng.normal(0, 0.4, (5, 3, 32, 32)), -1, 1).astype(np.float32)
    assert truth_score(np.concatenate([blank, noise, gauss])).max() < 2


def test_composition_prefers_thirds_and_punishes_cuts_and_pairs():
    c = _parts(_good(), _good(cx=0.5, cy=0.5), _good(cx=0.05))["composition"]
    assert c[0] > 0.9 and 0.2 < c[1] < 0.6 and c[2] < 0.1
    # Two small discs whose joint centre of mass sits on a thirds point: not one compact mass.
    a, b, one = render([_good(shape="circle", cx=0.2, cy=0.2, radius=0.08),
                        _good(shape="circle", cx=0.47, cy=0.47, radius=0.08),
                        _good(shape="circle", radius=0.113)])
    ground = np.array(BACKGROUNDS[GOOD["background"]], np.float32)[:, None, None] * 2 - 1
    pair = np.clip(a + b - ground, -1, 1)
    c = truth_parts(np.stack([pair, one]))["composition"]
    assert c[0] < 0.1 and c[1] > 0.9


def test_size_peaks_in_the_band():
    s = _parts(*[_good(shape="circle", radius=r) for r in (0.04, 0.1, 0.18, 0.3, 0.45)])["size"]
    assert s[2] == pytest.approx(1.0) and s[0] < 0.05 and s[4] < 0.1
    assert s[0] < s[1] < s[2] and s[2] > s[3] > s[4]


def test_harmony_ranks_complement_neutral_clash():
    h = _parts(*[_good(background=b) for b in ("dark blue", "black", "dark green")])["harmony"]
    assert h[0] > 0.85 and h[1] == pytest.approx(0.6, abs=0.05) and h[2] < 0.3


def test_contrast_falls_on_a_similar_ground():
    c = _parts(*[_good(colour="yellow", background=b) for b in ("black", "white", "pale yellow")])["contrast"]
    assert c[0] > 0.95 and c[0] > c[1] > c[2] and c[2] < 0.5


def test_sharpness_falls_with_blur_only():
    p = _parts(*[_good(blur=b) for b in (0.0, 0.5, 1.0, 1.5, 2.0)])
    assert np.all(np.diff(p["sharpness"]) <= 1e-6) and p["sharpness"][0] > 0.95 and p["sharpness"][-1] < 0.1
    assert p["clean"].min() > 0.95 and np.ptp(p["harmony"]) < 0.05


def test_clean_falls_with_grain_only():
    p = _parts(*[_good(grain=g, seed=3) for g in (0.0, 0.01, 0.03, 0.06, 0.1)])
    assert np.all(np.diff(p["clean"]) <= 1e-6) and p["clean"][0] == 1 and p["clean"][-1] < 0.05
    assert p["composition"].min() > 0.9 and p["size"].min() > 0.9


def test_one_zero_part_caps_the_score():
    parts = {k: np.ones(len(TRUTH_PARTS), np.float32) for k in TRUTH_PARTS}
    for i, k in enumerate(TRUTH_PARTS):
        parts[k][i] = 0.0
    assert combine(parts).max() < 4
    assert combine({k: np.ones(1) for k in TRUTH_PARTS})[0] == pytest.approx(10)


def test_bad_inputs_fail_loudly():
    with pytest.raises(ValueError, match="expected \\(N, 3, H, W\\)"):
        truth_score(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match="expected \\[-1, 1\\]"):
        truth_score(np.full((1, 3, 8, 8), 255.0, np.float32))
    with pytest.raises(TypeError, match="uint8"):
        truth_score(np.zeros((1, 3, 8, 8), np.uint8))
    with pytest.raises(KeyError, match="clean"):
        combine({"composition": np.ones(1)})


def test_shading_is_not_mistaken_for_blur_or_a_smaller_object():
    scenes = [_good(shape=sh, colour=c, shading=sd) for sh in ("square", "star")
              for c in ("purple", "green", "yellow") for sd in (0.0, 1.0)]
    p = _parts(*scenes)
    for k in ("composition", "size", "sharpness"):
        flat, lit = p[k][0::2], p[k][1::2]
        assert np.abs(flat - lit).max() < 0.08, k
