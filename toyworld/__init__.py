"""A synthetic captioned image world with a ground-truth aesthetic score (see README.md).

Flat shapes on flat backgrounds, rendered at 32 px, captioned, judged by a
pixel-only truth score and rated by simulated people, so that a tiny latent
diffusion model can be trained here and classifier guidance judged against
the truth rather than against another model.
"""
from toyworld.caption import caption, caption_background, caption_colour, caption_shape, parse_caption
from toyworld.dataset import dataset_scenes, load_dataset, make_dataset, save_dataset
from toyworld.ratings import rate
from toyworld.render import from_uint8, render, to_uint8
from toyworld.scene import Scene, sample_scenes
from toyworld.truth import TRUTH_PARTS, TRUTH_WEIGHTS, truth_parts, truth_score

__all__ = [
    "Scene", "sample_scenes", "render", "to_uint8", "from_uint8", "caption", "parse_caption",
    "caption_colour", "caption_shape", "caption_background", "TRUTH_PARTS", "TRUTH_WEIGHTS",
    "truth_parts", "truth_score", "rate", "make_dataset", "save_dataset", "load_dataset", "dataset_scenes",
]
