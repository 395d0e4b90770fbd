"""`python -m bench uplift`: run an uplift sweep (bench/uplift/run.py says what it measures).

    python -m bench uplift --world toy --backends none midu --scales -1 0.5 1 --seeds 16 --out /tmp/u
    python -m bench uplift --world toy --backends none midu --scales 0.05 0.36 --knobs every_k=1,12 reuse_grad=0,1 --out /tmp/u-k
    python -m bench uplift --model tiny --weights random --backends none midu --scales -1 1 --seeds 4 --out /tmp/u-tiny
"""
from __future__ import annotations

import argparse

from bench.commands.executor import add_executor_args, ray_options
from bench.commands.options import add_clip_text_options, add_image_scorer_options, add_model_options, add_tracker_options
from guidance import BACKENDS, check_backend
from guidance.registry import HEAD_KINDS


def add_parser(sub) -> None:
    p = sub.add_parser("uplift", help="uplift sweep: backends x scales x prompts x seeds, judged by every scorer", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default=None,
                   help="add a world's own judges: toy (ground truth, caption checks); its committed model, heads, "
                        "pixel scorer and prompts fill every option not given")
    p.add_argument("--model", default=None, help="preset, local diffusers folder or hub id (default: the world's, else tiny)")
    p.add_argument("--weights", default=None, help="pretrained or random (default: the world's, else random)")
    add_model_options(p)
    p.add_argument("--backends", nargs="+", default=["none", "latent", "midu", "pixel"], help=f"from: {', '.join(BACKENDS)}, or your own (README: your own backend)")
    p.add_argument("--scales", type=float, nargs="+", default=[-1.0, 1.0], help="guidance scales (0 is the unguided baseline)")
    p.add_argument("--scales-for", action="append", default=[], metavar="BACKEND=S1,S2,...",
                   help="scales for one backend instead of --scales, e.g. pixel=-1,0.5,1")
    p.add_argument("--knobs", nargs="+", default=[], metavar="FIELD=V1,V2,...",
                   help="vary sampler or guidance fields per guided cell, every combination at every scale, "
                        "e.g. every_k=1,4,12 reuse_grad=0,1 (a knob at the base value is that plain arm)")
    p.add_argument("--prompt", action="append", dest="prompts", help="prompt (repeat for several; default: the world's)")
    p.add_argument("--window", type=float, nargs=2, default=(0.0, 1.0), metavar=("START", "END"),
                   help="fractions of the steps that get guidance, for every backend")
    p.add_argument("--recurrence", type=int, default=1,
                   help="redo each guided step N times, taking the sample back to the step's timestep with fresh noise (single-step schedulers)")
    p.add_argument("--iterations", type=int, default=1, help="gradient updates of x_t per guided step, each re-running the backend (target latent)")
    p.add_argument("--seeds", type=int, default=8, help="seeds per prompt")
    p.add_argument("--chunk", type=int, default=16, help="seeds per sampling call")
    p.add_argument("--steps", type=int, default=25, help="sampling steps")
    p.add_argument("--cfg-scale", type=float, default=5.0, help="classifier-free guidance scale")
    p.add_argument("--cfg-scales", type=float, nargs="+", default=[],
                   help="CFG-only baselines: the unguided sampler at each of these CFG scales, chosen and compared like a backend")
    p.add_argument("--best-of", type=int, default=1, metavar="N",
                   help="best-of-N baseline: N-1 more unguided draws per held-out (prompt, seed) pair from reserved seeds, "
                        "N a power of two (e.g. 8); the report sets each backend against best-of-1..N at its own cost (default 1: none)")
    p.add_argument("--scheduler", default="ddim", help="ddim, euler or dpmpp")
    p.add_argument("--head", action="append", default=[], metavar="KIND=STEM",
                   help=f"trained head for one of {', '.join(HEAD_KINDS)}, e.g. midblock=heads/aesthetic (latent_x0: a head on clean latents, "
                        "which guides latent-x0)")
    p.add_argument("--transfer-head", action="store_true",
                   help="guide with heads trained on another model's features (refused otherwise; recorded in the sweep)")
    add_image_scorer_options(p)
    add_clip_text_options(p)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="fp32", help="fp32, fp16 or bf16")
    p.add_argument("--out", required=True, help="sweep folder (rows.jsonl, config.json, images/)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep in --out")
    p.add_argument("--keep-images", default="grid", choices=["grid", "all"],
                   help="whose images to keep: the grid seeds (default) or every seed, so `rate` can offer held-out seeds too; "
                        "not part of the sweep's identity, applies to the cells this run samples")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it is also off when stderr is not a terminal)")
    add_tracker_options(p)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's; 1 is fastest on a shared small machine)")
    add_executor_args(p, cell_gpus=True)
    p.set_defaults(func=run)


def _heads(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        kind, sep, stem = item.partition("=")
        if not sep or kind not in HEAD_KINDS:
            raise ValueError(f"--head {item!r}: expected " + ", ".join(f"{k}=STEM" for k in HEAD_KINDS[:-1]) + f" or {HEAD_KINDS[-1]}=STEM")
        out.append((kind, stem))
    return tuple(out)


def _scales_for(items: list[str]) -> tuple[tuple[str, tuple[float, ...]], ...]:
    out = []
    for item in items:
        backend, sep, values = item.partition("=")
        try:
            scales = tuple(float(v) for v in values.split(","))
        except ValueError:
            scales = ()
        if not sep or not scales:
            raise ValueError(f"--scales-for {item!r}: expected BACKEND=S1,S2,... with numbers, e.g. pixel=-1,0.5,1")
        try:
            check_backend(backend)
        except ValueError as e:
            raise ValueError(f"--scales-for {item!r}: {e}") from None
        out.append((backend, scales))
    return tuple(out)


def _value(field: str, text: str, like):
    """`text` read as the type of `like` (the field's base value); booleans as 0/1/true/false."""
    if isinstance(like, bool):
        if text.lower() not in ("0", "1", "true", "false"):
            raise ValueError
        return text.lower() in ("1", "true")
    return type(like)(text)


def _knobs(items: list[str], sampler, guidance) -> tuple[tuple[str, tuple], ...]:
    """(field, values) per --knobs item, each value checked against the base configs it would change."""
    import dataclasses

    from bench.uplift.config import GUIDANCE_FIELDS, SAMPLER_FIELDS

    allowed = sorted((SAMPLER_FIELDS | GUIDANCE_FIELDS) - {"scale"})
    out = []
    for item in items:
        name, sep, values = item.partition("=")
        if name not in allowed:
            raise ValueError(f"--knobs {item!r}: {name!r} is not a knob; expected FIELD=V1,V2,... with FIELD one of {', '.join(allowed)} "
                             "(scales: --scales)")
        if name in dict(out):
            raise ValueError(f"--knobs {item!r}: {name} is given twice; list its values once, e.g. {name}=V1,V2")
        base = sampler if name in SAMPLER_FIELDS else guidance
        like = getattr(base, name)
        try:
            vals = tuple(_value(name, v, like) for v in values.split(",")) if sep and values else ()
        except ValueError:
            vals = ()
        if not vals or len(set(vals)) != len(vals):
            raise ValueError(f"--knobs {item!r}: expected {name}=V1,V2,... with distinct {type(like).__name__} values"
                             + (" (0 or 1)" if isinstance(like, bool) else ""))
        for v in vals:
            try:
                dataclasses.replace(base, **{name: v})
            except ValueError as e:
                raise ValueError(f"--knobs {item!r}: {e}") from None
        out.append((name, vals))
    return tuple(out)


def config_from_args(a):
    """UpliftConfig from the command line (the world's defaults fill what is not given: bench/uplift/resolve.py)."""
    from bench.commands.options import clip_text_from_args
    from bench.uplift.config import make_arms
    from bench.uplift.resolve import resolve_config
    from guidance import GuidanceConfig, SamplerConfig

    sampler = SamplerConfig(steps=a.steps, cfg_scale=a.cfg_scale, scheduler=a.scheduler)
    guidance = GuidanceConfig(window_start=a.window[0], window_end=a.window[1], recurrence=a.recurrence, iterations=a.iterations)
    knobs = _knobs(a.knobs, sampler, guidance)
    base = {"every_k": guidance.every_k, **{k: getattr(sampler if hasattr(sampler, k) else guidance, k) for k, _ in knobs}}
    arms = make_arms(a.backends, a.scales, _scales_for(a.scales_for), [c for c in a.cfg_scales if c != a.cfg_scale],
                     best_of=a.best_of, knobs=knobs, base=base)
    return resolve_config(a.world, arms=arms, prompts=tuple(a.prompts or ()), source=a.model, weights=a.weights, dtype=a.dtype,
                          device=a.device, heads=dict(_heads(a.head)), transfer=a.transfer_head,
                          variant=a.variant, model_config=a.model_config,
                          image={"clip_arch": a.clip_arch, "clip_checkpoint": a.clip_checkpoint, "aesthetic_mlp": a.aesthetic_mlp,
                                 "clip_text": clip_text_from_args(a)},
                          sampler=sampler, guidance=guidance, seeds=a.seeds, chunk=a.chunk)


def run(a) -> int:
    from bench.tracker import check_tracker
    from bench.uplift.run import run_uplift
    from scorers.setup import check_scorer_for_model, check_scorer_files

    if a.threads is not None and a.threads < 1:
        raise ValueError(f"--threads {a.threads}: expected an integer >= 1")
    opts = ray_options(a)
    check_tracker(a.wandb)
    cfg = config_from_args(a)
    for scorer in cfg.judges:  # files, the head's base model and (for presets) its feature shape, before any model loads
        check_scorer_files(scorer)
        check_scorer_for_model(scorer.kind, scorer, cfg.model.source, cfg.sampler.height, cfg.sampler.width)
    if a.threads is not None:
        import torch

        torch.set_num_threads(a.threads)
    executor = None
    if opts is not None:  # workers get this process's torch thread count, so cells compute as they would here
        import dataclasses

        import torch

        from bench.uplift.remote import RayCells

        executor = RayCells.with_options(dataclasses.replace(opts, threads=torch.get_num_threads()))
    run_uplift(cfg, a.out, resume=a.resume, progress=not a.quiet, executor=executor, tracker=a.wandb, keep_images=a.keep_images)
    return 0
