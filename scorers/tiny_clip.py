"""A tiny open_clip architecture for tests: real code paths, random weights, no downloads.

open_clip builds models by architecture name from JSON configs in a registry;
`register_tiny_clip` writes one small ViT config (32 px images, 2 layers of
width 32, 16-dim embedding, a 1-layer text tower over a 64-token vocabulary)
and adds it (or, as `TINY_CLIP_TEXT_ARCH`, the same with a full-size vocabulary), so tests can save a checkpoint the way open_clip does
(`torch.save(model.state_dict())`) and load it back by name like a real one.
"""

import json
from pathlib import Path

import open_clip

TINY_CLIP_ARCH = "tiny-vit-test"

TINY_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 1},
}


# the same towers reading open_clip's full 49408-token vocabulary, so a caption tokenises (CLIP-text guidance, clip targets)
TINY_CLIP_TEXT_ARCH = "tiny-vit-text"
TINY_CLIP_TEXT_CONFIG = {**TINY_CLIP_CONFIG, "text_cfg": {**TINY_CLIP_CONFIG["text_cfg"], "vocab_size": 49408}}


def register_tiny_clip(directory: str | Path, name: str = TINY_CLIP_ARCH, config: dict = TINY_CLIP_CONFIG) -> Path:
    """Write `<directory>/<name>.json` and register it with open_clip; returns the JSON path.

    open_clip keys architectures by file stem, so `name` is the arch to pass to `create_model`.
    """
    path = Path(directory) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    open_clip.add_model_config(path)
    return path
