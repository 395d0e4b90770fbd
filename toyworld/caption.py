"""Captions: what a person would type, and parsers the evaluation needs.

The default caption names the object's colour and shape and the background,
nothing about placement, size, focus or grain, as Simulacra Aesthetic
Captions' prompts name content rather than quality. That leaves most of the
aesthetic variance unexplained by the prompt, so guidance has room to act.
`full=True` adds size and position words for conditioning experiments.

    caption(scene)             # "a red circle on a dark blue background"
    caption(scene, full=True)  # "a small red circle at the top left on a dark blue background"
"""
from __future__ import annotations

import re

from toyworld.scene import BACKGROUNDS, COLOURS, SHAPES, Scene

SIZE_WORDS = ((0.10, "tiny"), (0.16, "small"), (0.26, "medium"), (float("inf"), "large"))
_ROWS = ("top", "middle", "bottom")
_COLS = ("left", "centre", "right")


def _alt(words) -> str:
    """Regex alternation, longest first so "dark blue" wins over "blue"."""
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_PATTERN = re.compile(
    rf"^an? (?:(?P<size>{_alt(w for _, w in SIZE_WORDS)}) )?(?P<colour>{_alt(COLOURS)}) (?P<shape>{_alt(SHAPES)})"
    rf"(?: (?:at|in) the (?P<position>[a-z ]+?))? on an? (?P<background>{_alt(BACKGROUNDS)}) background$"
)


def size_word(radius: float) -> str:
    return next(word for limit, word in SIZE_WORDS if radius < limit)


def position_words(cx: float, cy: float) -> str:
    """A 3x3 grid; the middle band is 0.4..0.6 so thirds points read as corners."""
    row = _ROWS[0 if cy < 0.4 else 2 if cy > 0.6 else 1]
    col = _COLS[0 if cx < 0.4 else 2 if cx > 0.6 else 1]
    if row == "middle" and col == "centre":
        return "centre"
    if row == "middle":
        return col
    return row if col == "centre" else f"{row} {col}"


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def caption(scene: Scene, full: bool = False) -> str:
    """Caption of one scene; see the module docstring for what it leaves out."""
    ground = f"on {_a(scene.background)} background"
    if not full:
        return f"{_a(scene.colour)} {scene.shape} {ground}"
    where = position_words(scene.cx, scene.cy)
    prep = "in the" if where == "centre" else "at the"
    return f"{_a(size_word(scene.radius))} {scene.colour} {scene.shape} {prep} {where} {ground}"


def parse_caption(text: str) -> dict[str, str | None]:
    """colour, shape, background (always) and size, position (None unless full)."""
    m = _PATTERN.match(text.strip().lower())
    if m is None:
        raise ValueError(f"caption {text!r}: expected 'a [size] <colour> <shape> [at the <where>] on a <background> background'")
    return m.groupdict()


def caption_colour(text: str) -> str:
    """The object colour a caption asks for."""
    return parse_caption(text)["colour"]


def caption_shape(text: str) -> str:
    """The shape a caption asks for."""
    return parse_caption(text)["shape"]


def caption_background(text: str) -> str:
    """The background a caption asks for."""
    return parse_caption(text)["background"]
