"""A grid of the toy model's unguided samples: rows are prompts, columns are seeds.

Each tile is titled with what the caption check reads off it (colour/shape),
so a person can see the checker and the model at once.

    python -m toyworld.samples_grid --model toyworld/weights/ldm --out reports/toyworld_samples.png
"""
from __future__ import annotations

import argparse
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from toyworld.caption_check import CheckConfig, colour_names, generate

GRID_PROMPTS = (
    "a red circle on a dark green background",
    "an orange star on a dark blue background",
    "a yellow triangle on a dark purple background",
    "a green square on a black background",
    "a blue star on a pale orange background",
    "a purple circle on a pale yellow background",
    "a red triangle on a white background",
    "a yellow square on a grey background",
)


def sample_grid(models, shape_net, out: str | Path, prompts=GRID_PROMPTS, seeds: int = 8,
                cfg: CheckConfig = CheckConfig()) -> Path:
    """Generate len(prompts) x seeds samples (column j uses noise seed cfg.seed + j) and save the labelled grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toyworld.shape_classifier import predict_shapes

    columns = [generate(models, list(prompts), replace(cfg, seed=cfg.seed + j, batch=len(prompts))) for j in range(seeds)]
    fig, axes = plt.subplots(len(prompts), seeds + 1, figsize=(1.2 * (seeds + 1) + 1.4, 1.3 * len(prompts)), squeeze=False,
                             gridspec_kw={"width_ratios": [2.4] + [1] * seeds})
    for i, prompt in enumerate(prompts):
        axes[i, 0].axis("off")
        axes[i, 0].text(0.0, 0.5, "\n".join(textwrap.wrap(prompt, 24)), fontsize=7, va="center")
        for j, images in enumerate(columns):
            img = images[i:i + 1]
            ax = axes[i, j + 1]
            ax.imshow((img[0].transpose(1, 2, 0) + 1) / 2, interpolation="nearest")
            ax.set_title(f"{colour_names(img)[0]}/{predict_shapes(shape_net, img)[0]}", fontsize=5, pad=1.5)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"unguided samples: {cfg.scheduler} {cfg.steps} steps, CFG {cfg.cfg_scale}; tile titles = colour/shape read by toyworld.caption_check",
                 fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    from sdmodels import load_models
    from toyworld.shape_classifier import load_shape_classifier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toyworld/weights/ldm", help="toy model folder")
    ap.add_argument("--out", type=Path, default=Path("reports/toyworld_samples.png"), help="PNG to write")
    ap.add_argument("--seeds", type=int, default=8, help="columns (noise seeds)")
    ap.add_argument("--steps", type=int, default=CheckConfig.steps, help="sampler steps")
    ap.add_argument("--cfg-scale", type=float, default=CheckConfig.cfg_scale, help="classifier-free guidance scale")
    args = ap.parse_args(argv)
    models = load_models(str(args.model), "pretrained")
    net = load_shape_classifier(Path(args.model) / "shape_classifier")
    print(sample_grid(models, net, args.out, seeds=args.seeds, cfg=CheckConfig(steps=args.steps, cfg_scale=args.cfg_scale)))


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the build: one thread is fastest on a shared 2-core machine
    main()


__all__ = ["GRID_PROMPTS", "sample_grid", "np"]
