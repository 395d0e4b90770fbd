"""Rendering: shapes, range, anti-aliasing, blur, per-scene grain, determinism."""
import numpy as np
import pytest

from toyworld.render import from_uint8, render, to_uint8
from toyworld.scene import BACKGROUNDS, COLOURS, SHAPES, Scene, sample_scenes


def _scene(**kw):
    return Scene(**{**dict(shape="circle", colour="orange", background="dark blue", cx=0.5, cy=0.5, radius=0.25), **kw})


def test_shape_dtype_range_and_determinism():
    scenes = sample_scenes(64, np.random.default_rng(0))
    x = render(scenes)
    assert x.shape == (64, 3, 32, 32) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(x, render(scenes))
    assert render(scenes, size=16).shape == (64, 3, 16, 16)


def test_grain_depends_on_the_scene_not_the_batch():
    scenes = sample_scenes(10, np.random.default_rng(1))
    np.testing.assert_array_equal(render(scenes)[3:5], render(scenes[3:5]))


def test_colours_land_where_they_should():
    x = (render([_scene()])[0] + 1) / 2
    np.testing.assert_allclose(x[:, 16, 16], COLOURS["orange"], atol=1e-5)
    np.testing.assert_allclose(x[:, 0, 0], BACKGROUNDS["dark blue"], atol=1e-5)


def test_shapes_have_equal_area_and_differ():
    x = (render([_scene(shape=s) for s in SHAPES]) + 1) / 2
    cov = np.abs(x - x[:, :, :1, :1]).sum(axis=1)
    cov = cov / cov.max(axis=(1, 2), keepdims=True)
    areas = cov.sum(axis=(1, 2))
    np.testing.assert_allclose(areas, np.pi * 8**2, rtol=0.06)
    flat = cov.reshape(len(SHAPES), -1)
    diffs = np.abs(flat[:, None] - flat[None]).sum(axis=2)
    assert diffs[~np.eye(len(SHAPES), dtype=bool)].min() > 25  # pixels of disagreement; circle vs square is the closest pair (~36)


def _ramp(row):
    """Pixels strictly between the row's background and object levels."""
    return np.sum((row > row.min() + 0.05) & (row < row.max() - 0.05))


def test_edges_are_antialiased_and_blur_spreads_them():
    sharp, soft = render([_scene(cx=0.52), _scene(cx=0.52, blur=2.0)])
    assert 1 <= _ramp(sharp[1, 16]) <= 2 * 2  # some, but at most ~1 px per side
    assert _ramp(soft[1, 16]) >= 2 * 4


def test_uint8_round_trip_and_errors():
    x = render(sample_scenes(4, np.random.default_rng(3)))
    np.testing.assert_allclose(from_uint8(to_uint8(x)), x, atol=1 / 127.5)
    with pytest.raises(TypeError, match="uint8"):
        from_uint8(x)
    with pytest.raises(ValueError, match="size=4"):
        render([], size=4)
