"""Scenes: validation, seeded sampling, column round trip."""
import numpy as np
import pytest

from toyworld.scene import BACKGROUNDS, COLOURS, SHAPES, Scene, sample_scenes, scenes_from_columns, scenes_to_columns


def test_sampling_is_seeded_and_covers_the_vocabulary():
    a = sample_scenes(400, np.random.default_rng(0))
    assert a == sample_scenes(400, np.random.default_rng(0))
    assert a != sample_scenes(400, np.random.default_rng(1))
    assert {s.shape for s in a} == set(SHAPES)
    assert {s.colour for s in a} == set(COLOURS)
    assert len({s.background for s in a}) == len(BACKGROUNDS)


def test_columns_round_trip():
    scenes = sample_scenes(20, np.random.default_rng(2))
    cols = scenes_to_columns(scenes)
    assert cols["shape"].dtype.kind == "U" and cols["cx"].dtype == np.float64
    assert scenes_from_columns(cols) == scenes


@pytest.mark.parametrize(
    "bad, match",
    [({"shape": "hexagon"}, "shape='hexagon'"), ({"colour": "teal"}, "colour='teal'"),
     ({"background": "navy"}, "background='navy'"), ({"cx": 1.5}, "cx=1.5"),
     ({"radius": 0.9}, "radius=0.9"), ({"blur": -1.0}, "blur=-1.0"), ({"grain": 2.0}, "grain=2.0")],
)
def test_bad_fields_fail_loudly(bad, match):
    kw = dict(shape="circle", colour="red", background="black", cx=0.5, cy=0.5, radius=0.2)
    with pytest.raises(ValueError, match=match):
        Scene(**{**kw, **bad})
