"""Write a PNG grid of random toy-world images with caption and truth score, for a person to look at.

Tiles are sorted by truth score (ugliest first) so the eye can check that the
score climbs with what it sees; the small line under the score gives the
parts (co=composition, si=size, ha=harmony, ct=contrast, sh=sharpness, cl=clean).

    python -m toyworld.preview --n 16 --out reports
    python -m toyworld.preview --n 36 --seed 3 --out /tmp/tw --no-sort
"""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np

from toyworld.caption import caption
from toyworld.render import render
from toyworld.scene import sample_scenes
from toyworld.truth import TRUTH_PARTS, combine, truth_parts

_ABBREV = {"composition": "co", "size": "si", "harmony": "ha", "contrast": "ct", "sharpness": "sh", "clean": "cl"}


def preview(n: int, out: Path, seed: int = 0, size: int = 32, sort: bool = True, name: str = "toyworld_preview.png") -> Path:
    """Render n random scenes and save the annotated grid as out/name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if n < 1:
        raise ValueError(f"n={n}: expected at least 1 image")
    scenes = sample_scenes(n, np.random.default_rng(seed))
    images = render(scenes, size=size)
    parts = truth_parts(images)
    score = combine(parts)
    order = np.argsort(score) if sort else np.arange(n)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.75 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), order):
        ax.imshow((images[i].transpose(1, 2, 0) + 1) / 2, interpolation="nearest")
        detail = " ".join(f"{_ABBREV[k]}{parts[k][i]:.1f}" for k in TRUTH_PARTS)
        title = "\n".join(textwrap.wrap(caption(scenes[i]), 26))
        ax.set_title(f"{title}\ntruth {score[i]:.1f}\n{detail}", fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="number of images in the grid")
    ap.add_argument("--out", type=Path, required=True, help="directory to write toyworld_preview.png into")
    ap.add_argument("--seed", type=int, default=0, help="seed of the scene sampler")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels")
    ap.add_argument("--no-sort", action="store_true", help="keep sampling order instead of sorting by truth score")
    args = ap.parse_args(argv)
    print(preview(args.n, args.out, seed=args.seed, size=args.size, sort=not args.no_sort))


if __name__ == "__main__":
    main()
