"""`python -m bench sample`: one guided sampling run, images and run.json.

    python -m bench sample --model tiny --backend midu --scale 5 --prompt "a horse on a beach" --out out/horse
    python -m bench sample --model sd21-base --weights random --backend pixel --device cuda --dtype fp16 --out out/x
"""
from __future__ import annotations

import argparse

from bench.commands.options import add_clip_text_options, add_image_scorer_options, add_model_options, add_tracker_options
from guidance import BACKENDS
from guidance.config import GRAD_NORMS, TARGETS
from sdmodels import PRESETS, SCHEDULERS, TORCH_DTYPES, WEIGHTS


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="one guided sampling run: images + run.json", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help=f"preset ({', '.join(PRESETS)}), local diffusers folder, single-file checkpoint "
                   "(.safetensors, original layout), or hub id")
    p.add_argument("--weights", default="random", help=f"one of {', '.join(WEIGHTS)}; random builds the full architecture with no download")
    add_model_options(p)
    p.add_argument("--backend", default="midu", help=f"guidance backend: {', '.join(BACKENDS)}, an installed plugin, or module:attribute (README: your own backend)")
    p.add_argument("--prompt", action="append", dest="prompts", help="prompt (repeat for several)")
    p.add_argument("--negative-prompt", default="", help="prompt of the unconditional CFG half")
    p.add_argument("--scale", type=float, default=0.0, help="guidance scale; negative pushes the scorer down")
    p.add_argument("--window", type=float, nargs=2, default=(0.0, 1.0), metavar=("START", "END"), help="fractions of the steps that get guidance")
    p.add_argument("--every-k", type=int, default=1, help="guide every k-th step inside the window")
    p.add_argument("--reuse-grad", action="store_true", help="apply the last guided update again on the window steps --every-k skips (no extra call)")
    p.add_argument("--grad-norm", default="rms", help=f"gradient normalisation: {', '.join(GRAD_NORMS)}")
    p.add_argument("--recurrence", type=int, default=1,
                   help="redo each guided step N times, taking the sample back to the step's timestep with fresh noise (single-step schedulers)")
    p.add_argument("--iterations", type=int, default=1, help="gradient updates of x_t per guided step, each re-running the backend (target latent)")
    p.add_argument("--target", default="latent", help=f"where the gradient lands: {', '.join(TARGETS)}")
    p.add_argument("--steps", type=int, default=50, help="sampling steps")
    p.add_argument("--cfg-scale", type=float, default=7.5, help="classifier-free guidance scale")
    p.add_argument("--scheduler", default="ddim", help=f"one of {', '.join(SCHEDULERS)}")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    p.add_argument("--batch", type=int, default=1, help="samples per prompt")
    p.add_argument("--height", type=int, default=None, help="image height in pixels (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="image width in pixels (default: the model's)")
    p.add_argument("--dtype", default="fp32", help=f"one of {', '.join(TORCH_DTYPES)}")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--head", default=None, help="scorer checkpoint stem (<stem>.safetensors + <stem>.json) for midu/latent/latent-x0")
    p.add_argument("--transfer-head", action="store_true",
                   help="guide with a head trained on another model's features (refused otherwise; recorded in run.json)")
    add_image_scorer_options(p)
    add_clip_text_options(p)
    p.add_argument("--objective-target", default=None, help="class head: class name or index; clip-embedding head: text to steer towards")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar over the sampling steps (it is also off when stderr is not a terminal)")
    add_tracker_options(p)
    p.set_defaults(func=run)


def run(a) -> int:
    from bench.commands.options import clip_text_from_args
    from bench.jobs.sample import SampleJob
    from bench.jobs.sample import run as run_job
    from guidance import GuidanceConfig, SamplerConfig
    from scorers.setup import ScorerConfig
    from sdmodels import ModelSpec

    job = SampleJob(
        prompts=tuple(a.prompts or ["a photo of a cat"]), out=a.out, backend=a.backend, negative_prompt=a.negative_prompt,
        model=ModelSpec(source=a.model, weights=a.weights, dtype=a.dtype, device=a.device, variant=a.variant, config=a.model_config),
        sampler=SamplerConfig(steps=a.steps, cfg_scale=a.cfg_scale, scheduler=a.scheduler, seed=a.seed,
                              height=a.height, width=a.width, batch=a.batch),
        guidance=GuidanceConfig(scale=a.scale, window_start=a.window[0], window_end=a.window[1], every_k=a.every_k,
                                grad_norm=a.grad_norm, target=a.target, recurrence=a.recurrence, iterations=a.iterations,
                                reuse_grad=a.reuse_grad),
        scorer=ScorerConfig(head=a.head, clip_arch=a.clip_arch, clip_checkpoint=a.clip_checkpoint, aesthetic_mlp=a.aesthetic_mlp,
                            objective_target=a.objective_target, transfer=a.transfer_head, clip_text=clip_text_from_args(a)),
    )
    rec = run_job(job, progress=not a.quiet, tracker=a.wandb)
    print(f"wrote {len(rec['images'])} image(s) and run.json to {a.out} "
          f"({job.backend}, scale {job.guidance.scale}, {rec['sample_wall_s']} s; final score {rec['final_score']})")
    return 0
