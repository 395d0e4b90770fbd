"""What one guided step costs per backend: latency, peak memory, where the time goes.

The unit is the backend call the sampler makes on a guided step
(`StepIn(..., want_grad=True)`): the UNet over both CFG halves plus the
guidance gradient. The sampler's own arithmetic around it (CFG combine,
gradient normalisation, scheduler update) is a few elementwise ops on the
latents, the same for every backend, and is left out.

Per configuration (model, dtype, batch, image size) and mode:

- eager:   the call as the sampler runs it;
- graph:   the call captured once as a CUDA graph (static inputs, no host
           syncs) and replayed: launch overhead gone, so ratios are GPU work
           alone. CUDA only; a backend that cannot be captured says why;
- compile: `torch.compile` of the call (graph breaks allowed).

(bench/cost/step_modes.py.) Each mode measures peak memory per backend alone (flushed between backends),
then times all its backends in interleaved rounds (bench/cost/timing.py), so every
ratio to `none` comes from the same rounds. Eager mode then profiles each
backend (bench/cost/breakdown.py): per-component split, GPU busy time, top kernels.
Results go to `<out>/steps.csv`, `breakdown.csv`, `kernels.csv`, `run.json`
and `command.txt`, rewritten after every configuration so a cut-off run keeps
what it finished.

    python -m bench cost-run --model tiny --batch 1 4 --threads 1 --out results/timing/cpu-tiny-fp32
    python -m bench cost-run --model sd21-base --dtype fp16 --device cuda --batch 1 4 --modes eager graph --out results/timing/h100-sd21-base-fp16
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import torch

from bench.cost import breakdown as bd
from bench.cost.memory import flush
from bench.cost.step_modes import MODES, Prepared, prepare
from bench.cost.tables import format_table, write_csv
from bench.cost.timing import TimingConfig, interleaved_rounds, make_clock, ratio_stats, summary
from bench.store.provenance import machine_info
from guidance import StepIn, build_backend, check_backend, ran_as, scorer_kind
from guidance.prediction import alpha_bar_at
from scorers.setup import ScorerConfig, make_scorer
from sdmodels import DTYPES, ModelSpec, check_image_size, encode_prompts, load_models, preset_vae_factor

REFERENCE = "none"
PROMPT = "a photo of a cat"
RANDOM_NOTE = "random weights: cost figures only (FLOPs, memory and time do not depend on weight values)"


@dataclass(frozen=True)
class CostRunConfig:
    model: str = "tiny"
    weights: str = "random"
    variant: str | None = None  # as ModelSpec's: a diffusers weights variant of a folder
    model_config: str | None = None  # as ModelSpec's config: the preset a single-file checkpoint holds
    dtype: str = "fp32"
    device: str = "cpu"
    batch: int = 1
    height: int | None = None  # pixels; None = the model's default
    width: int | None = None
    timestep: int = 500  # cost does not depend on it; recorded anyway
    warmup: int = 3
    rounds: int = 5
    steps: int = 5
    profile_steps: int = 2  # 0 = no profile
    compile_backend: str = "inductor"
    cudnn_benchmark: bool = True  # all backends get cuDNN's fastest conv algorithms alike
    threads: int | None = None  # torch CPU threads; None = 1 on CPU (steady on a shared machine), torch's own on GPU
    seed: int = 0

    def timing(self) -> TimingConfig:
        return TimingConfig(warmup=self.warmup, rounds=self.rounds, steps=self.steps)


def model_spec(cfg: CostRunConfig) -> ModelSpec:
    return ModelSpec(source=cfg.model, weights=cfg.weights, dtype=cfg.dtype, device=cfg.device, variant=cfg.variant,
                     config=cfg.model_config)


def validate(cfg: CostRunConfig, backends: list[str], modes: list[str]) -> None:
    model_spec(cfg).check()  # source, weights, device, dtype and the named preset, before anything loads
    for b in backends:
        check_backend(b)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; valid: {', '.join(MODES)}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ValueError(f"--threads {cfg.threads}: expected an integer >= 1")
    if cfg.batch < 1 or cfg.profile_steps < 0:
        raise ValueError(f"batch={cfg.batch}, profile_steps={cfg.profile_steps}: expected batch >= 1 and profile_steps >= 0")
    cfg.timing()
    if preset_vae_factor(cfg.model) and cfg.height:  # a preset's VAE factor is known before anything loads
        check_image_size(cfg.height, cfg.width, preset_vae_factor(cfg.model))


def step_input(models, cfg: CostRunConfig, height: int, width: int) -> StepIn:
    """The UNet input of a guided step, as the sampler builds it (seeded, on the device)."""
    device, dtype = models.device, models.dtype
    sched = models.scheduler("ddim")
    g = torch.Generator("cpu").manual_seed(cfg.seed)
    x = torch.randn(cfg.batch, *models.latent_shape(height, width), generator=g).to(device, dtype)
    cond = encode_prompts(models, [PROMPT] * cfg.batch, "", height, width)
    t = torch.tensor(cfg.timestep, device=device)  # on the device: a host tensor would copy inside a graph
    return StepIn(x=x, t=t, alpha_bar=alpha_bar_at(sched.alphas_cumprod, cfg.timestep),
                  prediction_type=sched.config.prediction_type, cond=cond, want_grad=True)


def build_backends(models, names: list[str], height: int, width: int, cache: dict) -> dict[str, object]:
    """Backends with their scorers (random unless checkpoints are given elsewhere); scorers are
    shared through `cache`: heads depend on the feature shape, an image scorer resizes any image."""
    out = {}
    for name in names:
        kind = scorer_kind(name)
        key = (kind,) if kind in (None, "image") else (kind, height, width)
        if key not in cache:
            cache[key] = make_scorer(kind, models, ScorerConfig(), height, width)
        out[name] = build_backend(name, models, cache[key][0])
    return out


def guidance_weights_gib(backend) -> float:
    """Weights a backend holds beyond the pipeline's own: its scorer, and a tiny decoder if it uses one."""
    mods = [getattr(backend, "scorer", None)]
    if "tiny" in backend.name:
        mods.append(backend.decoder)
    return sum(p.numel() * p.element_size() for m in mods if m is not None for p in m.parameters()) / 2**30


def run_config(models, cfg: CostRunConfig, backends: dict[str, object], modes: list[str], context: dict,
               log: Callable[[str], None] = print) -> tuple[list, list, list]:
    """Rows of steps.csv, breakdown.csv and kernels.csv for one configuration."""
    device = models.device
    height, width = cfg.height or models.resolution, cfg.width or models.resolution
    step = step_input(models, cfg, height, width)
    clock = make_clock(device)
    base = {**context, **asdict(replace(cfg, height=height, width=width)), "clock": clock.name,
            "random_weights": models.random_weights}
    step_rows, comp_rows, kernel_rows = [], [], []
    for mode in modes:
        if mode == "compile":
            torch._dynamo.reset()  # code compiled for other shapes stays out of this configuration
        prepared = {}
        for name, b in backends.items():
            prepared[name] = prepare(mode, (lambda b=b: b(step)), device, cfg.compile_backend)
            flush(device)
            log(f"  {mode:<8}{name:<14}{prepared[name].status}")
        ok = {n: p.fn for n, p in prepared.items() if p.fn is not None}
        finite = {n: outputs_finite(backends[n](step)) for n in ok} if mode == "eager" else {}
        try:
            times = interleaved_rounds(ok, cfg.timing(), clock) if ok else {}
        except torch.OutOfMemoryError:  # steps that fit alone can fail beside the others' cached blocks
            flush(device)
            for p in prepared.values():
                p.fn, p.status = None, p.status if p.fn is None else "failed: out of memory in interleaved rounds"
            ok, times = {}, {}
        profiles = {}
        if cfg.profile_steps:
            for name in ok:
                if mode == "eager":
                    profiles[name] = bd.profile_step(ok[name], backends[name], cfg.profile_steps, device)
                elif device.type == "cuda":
                    profiles[name] = bd.busy_only(ok[name], cfg.profile_steps, device)
        rows = [{**_step_row(base, mode, n, backends[n], prepared[n], times.get(n), profiles.get(n)),
                 "outputs_finite": finite.get(n)} for n in backends]
        _relative_to_reference(rows, times)
        step_rows += rows
        for name, prof in profiles.items():
            if mode != "eager":
                continue
            keys = ("run_id", "model", "dtype", "device", "batch", "height", "width")
            tag = {**{k: base[k] for k in keys}, "backend": name, "mode": mode}
            comp_rows += [{**tag, **r} for r in bd.component_rows(prof)]
            kernel_rows += [{**tag, "rank": i + 1, **k} for i, k in enumerate(prof.kernels)]
        del prepared, ok
        flush(device)
    return step_rows, comp_rows, kernel_rows


def outputs_finite(out) -> bool:
    """Whether a step's outputs are all finite: NaN/inf can take other kernel paths, so timings say."""
    parts = [out.out_uncond, out.out_cond] + [t for t in (out.grad, out.score) if t is not None]
    return all(bool(torch.isfinite(t).all()) for t in parts)


def _step_row(base: dict, mode: str, name: str, backend, p: Prepared, rounds, prof) -> dict:
    row = {**base, "backend": name, "ran_as": ran_as(backend), "mode": mode, "status": p.status}
    stats = summary(rounds) if rounds else {}
    for k in ("step_ms", "step_ms_iqr", "step_ms_min", "round_ms_lo", "round_ms_hi", "n_steps", "n_rounds"):
        row[k] = stats.get(k)
    m = p.memory
    row.update(peak_alloc_gib=m and m.peak_alloc_gib, peak_reserved_gib=m and m.peak_reserved_gib,
               nvml_used_gib=m and m.nvml_used_gib, mem_source=m and m.mem_source)
    busy = getattr(prof, "gpu_busy_ms", None)
    row.update(gpu_busy_ms=busy, gpu_busy_frac=busy / row["step_ms"] if busy and row["step_ms"] else None,
               profiled_cpu_ms=getattr(prof, "cpu_ms", None), profiled_device_ms=getattr(prof, "device_ms", None),
               guidance_weights_gib=guidance_weights_gib(backend))
    return row


def _relative_to_reference(rows: list[dict], times: dict) -> None:
    """Ratios to `none` of the same mode and rounds; memory above `none`'s peak."""
    ref = next((r for r in rows if r["backend"] == REFERENCE), None)
    for r in rows:
        r.update(step_ms_ratio=None, step_ms_ratio_lo=None, step_ms_ratio_hi=None, gpu_busy_ratio=None,
                 extra_peak_mem_gib=None, extra_peak_reserved_gib=None)
        if ref is None or r["step_ms"] is None or ref["step_ms"] is None:
            continue
        r["step_ms_ratio"], r["step_ms_ratio_lo"], r["step_ms_ratio_hi"] = ratio_stats(times[r["backend"]], times[REFERENCE])
        if r["gpu_busy_ms"] and ref["gpu_busy_ms"]:
            r["gpu_busy_ratio"] = r["gpu_busy_ms"] / ref["gpu_busy_ms"]
        if r["peak_alloc_gib"] is not None and ref["peak_alloc_gib"] is not None:
            r["extra_peak_mem_gib"] = r["peak_alloc_gib"] - ref["peak_alloc_gib"]
        if r["peak_reserved_gib"] is not None and ref["peak_reserved_gib"] is not None:
            r["extra_peak_reserved_gib"] = r["peak_reserved_gib"] - ref["peak_reserved_gib"]


def setup_torch(base: CostRunConfig) -> None:
    """cuDNN's autotuner and the thread count, as every process that measures sets them."""
    if base.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = base.cudnn_benchmark
    threads = base.threads or (1 if torch.device(base.device).type == "cpu" else None)
    if threads:  # on CPU one thread by default: OpenMP's spin-waiting on a shared 2-core machine costs 40x
        torch.set_num_threads(threads)


def measure(models, cfg: CostRunConfig, names: list[str], modes: list[str], context: dict, cache: dict,
            log: Callable[[str], None] = print) -> dict:
    """One configuration: its rows of steps, breakdown and kernels, with its size and time."""
    if cfg.height:
        check_image_size(cfg.height, cfg.width, models.vae_scale_factor)
    t0 = time.perf_counter()
    h, w = cfg.height or models.resolution, cfg.width or models.resolution
    log(f"{cfg.model} {cfg.dtype} {models.device.type} batch {cfg.batch} {h}x{w}: {', '.join(modes)}")
    tables = run_config(models, cfg, build_backends(models, names, h, w, cache), modes, context, log)
    return {"tables": tables, "batch": cfg.batch, "height": h, "width": w, "seconds": round(time.perf_counter() - t0, 1),
            "random_weights": models.random_weights}


def measure_here(base: CostRunConfig, configs: list[CostRunConfig], names: list[str], modes: list[str], run_id: str, command: str,
                 log: Callable[[str], None] = print) -> Iterator[tuple[int, dict]]:
    """Every configuration in this process, in order, on one model load: (index, result of `measure`)."""
    setup_torch(base)
    context = {"run_id": run_id, "command": command, "torch_threads": torch.get_num_threads(), **machine_info()}
    models = load_models(base.model, base.weights, dtype=DTYPES[base.dtype], device=torch.device(base.device), seed=base.seed,
                         variant=base.variant, model_config=base.model_config)
    for cfg in configs:  # every size checked before the first is measured
        if cfg.height:
            check_image_size(cfg.height, cfg.width, models.vae_scale_factor)
    cache: dict = {}
    for i, cfg in enumerate(configs):
        yield i, measure(models, cfg, names, modes, context, cache, log)


def run(base: CostRunConfig, batches: list[int], sizes: list[int | None], backends: list[str], modes: list[str],
        out: str | Path, command: str, log: Callable[[str], None] = print, measure_with: Callable = measure_here) -> Path:
    """Every (batch, size) configuration, measured by `measure_with` (this process, or Ray tasks:
    bench/cost/remote.py); tables and run.json are rewritten, in configuration order, as each finishes."""
    names = [REFERENCE] + [b for b in dict.fromkeys(backends) if b != REFERENCE]  # ratios need `none`
    configs = [replace(base, batch=batch, height=size, width=size) for batch in batches for size in sizes]
    for cfg in configs:
        validate(cfg, names, modes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "command.txt").write_text(command + "\n")  # beside the figures, as well as in every row
    run_id = time.strftime("%Y%m%d-%H%M%S")
    config = {k: v for k, v in asdict(base).items() if k not in ("batch", "height", "width")}  # these vary per configuration
    meta = {"run_id": run_id, "command": command, "config": config, "batches": batches, "sizes": sizes,
            "backends": names, "modes": modes, "random_weights": None, "provenance": machine_info(), "configs_done": []}
    results: dict[int, dict] = {}
    for i, res in measure_with(base, configs, names, modes, run_id, command, log):
        if "failed" in res:  # a Ray worker died beyond its retries: said, and the run goes on
            meta.setdefault("configs_failed", []).append({k: res[k] for k in ("batch", "height", "width", "failed")})
            log(f"batch {res['batch']} size {res['height']}: failed ({res['failed']})")
        else:
            results[i] = res
        done = [results[j] for j in sorted(results)]
        for k, key in enumerate(("steps", "breakdown", "kernels")):
            write_csv(out / f"{key}.csv", [r for d in done for r in d["tables"][k]])
        meta["configs_done"] = [{k: d[k] for k in d if k not in ("tables", "random_weights")} for d in done]
        meta["random_weights"] = any(d["random_weights"] for d in done)
        if meta["random_weights"]:
            meta["note"] = RANDOM_NOTE
        (out / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
        if "failed" not in res:
            log(format_table(res["tables"][0], f"{base.model} {base.dtype} {torch.device(base.device).type} batch {res['batch']} {res['height']}x{res['width']}"))
    return out
