"""Captions: wording and parse round trip."""
import numpy as np
import pytest

from toyworld.caption import caption, caption_background, caption_colour, caption_shape, parse_caption, position_words, size_word
from toyworld.scene import Scene, sample_scenes


def test_short_and_full_wording():
    s = Scene("star", "orange", "dark blue", cx=0.3, cy=0.3, radius=0.12)
    assert caption(s) == "an orange star on a dark blue background"
    assert caption(s, full=True) == "a small orange star at the top left on a dark blue background"
    assert caption(Scene("circle", "red", "grey", 0.5, 0.5, 0.3), full=True) == \
        "a large red circle in the centre on a grey background"


@pytest.mark.parametrize("full", [False, True])
def test_parse_round_trip(full):
    for s in sample_scenes(300, np.random.default_rng(0)):
        text = caption(s, full=full)
        assert (caption_colour(text), caption_shape(text), caption_background(text)) == \
            (s.colour, s.shape, s.background)
        got = parse_caption(text)
        assert got["size"] == (size_word(s.radius) if full else None)
        assert got["position"] == (position_words(s.cx, s.cy) if full else None)


def test_dark_blue_is_not_read_as_blue():
    assert caption_background("a blue square on a dark blue background") == "dark blue"
    assert caption_colour("a blue square on a dark blue background") == "blue"


@pytest.mark.parametrize("bad", ["a teal circle on a black background", "a red blob on a black background", ""])
def test_unparseable_captions_fail_loudly(bad):
    with pytest.raises(ValueError, match="caption"):
        caption_colour(bad)
