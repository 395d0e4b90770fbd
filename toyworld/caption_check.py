"""Do a model's samples follow their captions? Colour and shape-type checks on generated images.

- colour: the object colour that `figure.estimate_figure` reads off the pixels
  (mean of the pixels furthest from the background), named by the palette
  colour of nearest hue, against the caption's colour word (hue, not RGB
  distance: shading and blur move a colour's brightness and saturation far
  more than its hue; on real renders hue is right 98% of the time, RGB 93%);
- sharpness: the ground truth's sharpness part (truth.py), samples beside renders;
- shape: the silhouette classifier of `shape_classifier.py` (trained on the
  world's renders; its accuracy on real renders is reported beside it)
  against the caption's shape word.

Both checks are run on real renders too, so a reader can tell the checker's
own error from the generator's. Prompts are the captions of random scenes of a
held-out seed, i.e. the world's caption distribution.

    python -m toyworld.caption_check --model toyworld/weights/ldm --n 256
    python -m toyworld.caption_check --model toyworld/weights/ldm --n 64 --steps 25 --cfg-scale 5 --out reports
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from toyworld.caption import caption, caption_colour, caption_shape
from toyworld.figure import estimate_figure, to_unit
from toyworld.render import render
from toyworld.scene import COLOURS, sample_scenes
from toyworld.truth import combine, hue_chroma, truth_parts

PALETTE_NAMES = tuple(COLOURS)
_PALETTE_HUE = hue_chroma(np.array([COLOURS[c] for c in PALETTE_NAMES], dtype=np.float32))[0]
PROMPT_SEED = 4242  # scenes whose captions are the evaluation prompts; no training set uses it


@dataclass(frozen=True)
class CheckConfig:
    n: int = 256
    steps: int = 25
    cfg_scale: float = 5.0
    scheduler: str = "ddim"
    seed: int = 0
    batch: int = 64


def colour_names(images: np.ndarray) -> list[str]:
    """Palette colour of nearest hue to each image's estimated object colour; (N, 3, H, W) in [-1, 1]."""
    hue = hue_chroma(estimate_figure(to_unit(images))["fg"])[0]
    d = np.abs((hue[:, None] - _PALETTE_HUE[None] + 180) % 360 - 180)
    return [PALETTE_NAMES[i] for i in d.argmin(1)]


def matches(images: np.ndarray, captions: list[str], shape_net=None) -> dict:
    """Per image: the colour (and, given the shape classifier, the shape) read off it, and whether it matches its caption."""
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images for {len(captions)} captions: expected one each")
    colours = colour_names(images)
    out = {"colours": colours, "colour_ok": np.array([c == caption_colour(t) for c, t in zip(colours, captions)])}
    if shape_net is not None:
        from toyworld.scene import SHAPES
        from toyworld.shape_classifier import shape_probs

        probs = shape_probs(shape_net, images)
        shapes = [SHAPES[i] for i in probs.argmax(1)]
        conf = probs[np.arange(len(captions)), [SHAPES.index(caption_shape(t)) for t in captions]]
        out.update(shapes=shapes, shape_ok=np.array([s == caption_shape(t) for s, t in zip(shapes, captions)]), shape_conf=conf)
    return out


def match_rates(images: np.ndarray, captions: list[str], shape_net) -> dict:
    """Per-image matches and their rates for images against the captions they were made from."""
    m = matches(images, captions, shape_net)
    colour_ok, shape_ok = m["colour_ok"], m["shape_ok"]
    return {"colour_match": float(colour_ok.mean()), "shape_match": float(shape_ok.mean()),
            "both_match": float((colour_ok & shape_ok).mean()), "n": len(captions), **m}


def eval_prompts(n: int, seed: int = PROMPT_SEED) -> tuple[list[str], np.ndarray]:
    """n captions of the world's distribution, and the renders they describe."""
    scenes = sample_scenes(n, np.random.default_rng(seed))
    return [caption(s) for s in scenes], render(scenes)


@torch.no_grad()
def generate(models, prompts: list[str], cfg: CheckConfig) -> np.ndarray:
    """Unguided samples, one per prompt, seed cfg.seed + batch index; (N, 3, H, W) in [-1, 1]."""
    from guidance import GuidanceConfig, build_backend, sample
    from guidance.pixel import decode
    from sdmodels import encode_prompts

    backend = build_backend("none", models, None)
    shape = models.latent_shape(models.resolution, models.resolution)
    out = []
    for k, start in enumerate(range(0, len(prompts), cfg.batch)):
        chunk = prompts[start:start + cfg.batch]
        sched = models.scheduler(cfg.scheduler)
        sched.set_timesteps(cfg.steps)
        g = torch.Generator().manual_seed(cfg.seed + k)
        x = torch.randn(len(chunk), *shape, generator=g).to(models.device, models.dtype) * sched.init_noise_sigma
        res = sample(backend, sched, x, encode_prompts(models, chunk), GuidanceConfig(), cfg.cfg_scale)
        out.append(decode(models.vae, res.x0).float().clamp(-1, 1).cpu().numpy())
    return np.concatenate(out)


def check_model(models, shape_net, cfg: CheckConfig = CheckConfig()) -> dict:
    """Caption-following rates of unguided samples, beside the same checks on real renders."""
    prompts, real = eval_prompts(cfg.n)
    fake = generate(models, prompts, cfg)
    gen, ref = match_rates(fake, prompts, shape_net), match_rates(real, prompts, shape_net)
    parts_gen, parts_ref = truth_parts(fake), truth_parts(real)
    summary = {
        "colour_match": gen["colour_match"], "shape_match": gen["shape_match"], "both_match": gen["both_match"],
        "n": cfg.n, "real_colour_match": ref["colour_match"], "real_shape_match": ref["shape_match"],
        # the truth score's sharpness part (edge width of the figure mask) and the whole score, samples beside renders
        "sharpness_mean": float(parts_gen["sharpness"].mean()), "real_sharpness_mean": float(parts_ref["sharpness"].mean()),
        "truth_mean": float(combine(parts_gen).mean()), "real_truth_mean": float(combine(parts_ref).mean()),
        "sampler": asdict(cfg), "prompt_seed": PROMPT_SEED,
    }
    return {"summary": summary, "images": fake, "prompts": prompts, "generated": gen}


def main(argv: list[str] | None = None) -> dict:
    from sdmodels import load_models
    from toyworld.shape_classifier import load_shape_classifier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toyworld/weights/ldm", help="toy model folder (diffusers layout, with shape_classifier/)")
    ap.add_argument("--n", type=int, default=CheckConfig.n, help="number of prompts (one sample each)")
    ap.add_argument("--steps", type=int, default=CheckConfig.steps, help="sampler steps")
    ap.add_argument("--cfg-scale", type=float, default=CheckConfig.cfg_scale, help="classifier-free guidance scale")
    ap.add_argument("--scheduler", default=CheckConfig.scheduler, help="ddim, euler or dpmpp")
    ap.add_argument("--seed", type=int, default=CheckConfig.seed, help="noise seed of the first batch")
    ap.add_argument("--out", type=Path, help="directory to write caption_check.json into")
    args = ap.parse_args(argv)
    cfg = CheckConfig(args.n, args.steps, args.cfg_scale, args.scheduler, args.seed)
    models = load_models(args.model, "pretrained")
    summary = check_model(models, load_shape_classifier(Path(args.model) / "shape_classifier"), cfg)["summary"]
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "caption_check.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the build: one thread is fastest on a shared 2-core machine
    main()
