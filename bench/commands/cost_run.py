"""`python -m bench cost-run`: per-step latency, peak memory and breakdown of every backend.

Writes steps.csv, breakdown.csv, kernels.csv, run.json and command.txt to --out (see
bench/cost/run.py for what each measures); every row holds the full
configuration and the exact command, with every option spelled out.

    python -m bench cost-run --model tiny --batch 1 4 --threads 1 --out results/timing/cpu-tiny-fp32
    python -m bench cost-run --model sd21-base --dtype fp16 --device cuda --batch 1 4 --modes eager graph --out results/timing/h100-sd21-base-fp16-512
    python -m bench cost-run --model sd21-base --dtype fp16 --device cuda --batch 4 --backends none midu --modes compile --out results/timing/h100-compile
"""
from __future__ import annotations

import argparse
import shlex

from bench.commands.executor import add_executor_args, ray_options
from bench.commands.options import add_model_options
from guidance import BACKENDS
from sdmodels import PRESETS, TORCH_DTYPES, WEIGHTS


def add_parser(sub) -> None:
    p = sub.add_parser("cost-run", help="per-step latency, peak memory and breakdown of each backend",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny", help=f"preset ({', '.join(PRESETS)}), local diffusers folder or single-file checkpoint")
    p.add_argument("--weights", default="random", help=f"one of {', '.join(WEIGHTS)}; cost does not depend on weights")
    add_model_options(p)
    p.add_argument("--dtype", default="fp32", help=f"one of {', '.join(TORCH_DTYPES)}")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes (samples per CFG half)")
    p.add_argument("--size", type=int, nargs="+", default=None, help="square image sizes in pixels (default: the model's)")
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), help=f"backends to run (none is always added): {', '.join(BACKENDS)}, or your own")
    p.add_argument("--modes", nargs="+", default=["eager"], help="eager, graph (CUDA graph replay), compile (torch.compile)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per backend before the rounds")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument("--steps", type=int, default=5, help="timed steps per backend per round")
    p.add_argument("--profile-steps", type=int, default=2, help="profiled steps per backend (0: no profile)")
    p.add_argument("--timestep", type=int, default=500, help="UNet timestep of the step (cost does not depend on it)")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend for --modes compile")
    p.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cuDNN's autotuner off")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 on CPU, which steadies a shared machine; torch's own on GPU)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the latents")
    p.add_argument("--out", required=True, help="output folder (results/timing/<name> for committed results)")
    add_executor_args(p, cell_gpus=False)  # a timing task always holds a whole GPU
    p.set_defaults(func=_run)


def command_of(a) -> str:
    """The invocation with every option written out, so the row says exactly what made it (where it ran is not one: rows say)."""
    parts = ["python", "-m", "bench", "cost-run", "--model", a.model, "--weights", a.weights]
    if a.variant:
        parts += ["--variant", a.variant]
    if a.model_config:
        parts += ["--model-config", a.model_config]
    parts += ["--dtype", a.dtype, "--device", a.device, "--batch", *map(str, a.batch)]
    if a.size:
        parts += ["--size", *map(str, a.size)]
    parts += ["--backends", *a.backends, "--modes", *a.modes, "--warmup", str(a.warmup), "--rounds", str(a.rounds),
              "--steps", str(a.steps), "--profile-steps", str(a.profile_steps), "--timestep", str(a.timestep),
              "--compile-backend", a.compile_backend, "--seed", str(a.seed)]
    if a.no_cudnn_benchmark:
        parts.append("--no-cudnn-benchmark")
    if a.threads:
        parts += ["--threads", str(a.threads)]
    return shlex.join(parts + ["--out", a.out])


def _run(a) -> int:
    from bench.cost.run import CostRunConfig, measure_here, run

    opts = ray_options(a)

    base = CostRunConfig(model=a.model, weights=a.weights, variant=a.variant, model_config=a.model_config, dtype=a.dtype,
                      device=a.device, timestep=a.timestep,
                      warmup=a.warmup, rounds=a.rounds, steps=a.steps, profile_steps=a.profile_steps,
                      compile_backend=a.compile_backend, cudnn_benchmark=not a.no_cudnn_benchmark, threads=a.threads, seed=a.seed)
    if opts is None:
        measure_with = measure_here
    else:
        from bench.cost.remote import measure_with_ray

        measure_with = measure_with_ray(opts)
    out = run(base, a.batch, a.size or [None], a.backends, a.modes, a.out, command_of(a), measure_with=measure_with)
    print(f"wrote {out}/steps.csv, breakdown.csv, kernels.csv, run.json, command.txt")
    return 0
