"""results/ -> reports/cost.md, reports/cost_*.png and the cost keys of reports/headline.json.

Reads every cost run under results/timing/<run>/ (steps.csv, breakdown.csv,
kernels.csv, run.json; see bench/cost/run.py) and the cost model's CSVs under
results/costmodel/ when they are there. Every table names the command that
made its figures; headline.json gains, for the reference configuration
(SD 2.1-base architecture, 512 px, fp16, batch 4, on a GPU), per backend
`latency_ratio` and `extra_peak_mem_gib`, merged beside other reports' keys.

    python -m bench report
    python -m bench report --results results --reports reports
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report import cost_text as text
from bench.report.cost_plots import plot_breakdown, plot_latency_memory, plot_scaling
from bench.report.cost_runs import (
    LATENCY_SOURCES,
    REFERENCE,
    _row,
    _sorted,
    flop_ratios,
    load_costmodel,
    load_runs,
    reference_latency,
    reference_rows,
)
from bench.report.cost_tables import (
    breakdown_table,
    config_table,
    costmodel_section,
    flop_rate_table,
    fmt,
    kernels_table,
    md_table,
)
from bench.report.headline import merge_headline
from sdmodels.files import write_atomic


def _plain(v):
    """numpy scalars -> Python floats for JSON; strings and None unchanged."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def headline(runs: list[dict], reference: dict = REFERENCE, gpu_only: bool = True) -> tuple[dict, dict]:
    ref, run = reference_rows(runs, reference, gpu_only)
    if ref is None:
        return {}, {"status": "no GPU cost run of the reference configuration yet: bash scripts/gpu_cost.sh on a GPU",
                    "reference": reference}
    per = {}
    for name in _sorted(ref[ref["mode"] == "eager"])["backend"]:
        ratio, lo, hi, source = reference_latency(ref, name)
        e = _row(ref, backend=name, mode="eager")
        per[name] = {"latency_ratio": ratio, "latency_ratio_lo": lo, "latency_ratio_hi": hi, "latency_source": source,
                     "extra_peak_mem_gib": e["extra_peak_mem_gib"] if e is not None and pd.notna(e["extra_peak_mem_gib"]) else None}
    per = {k: {kk: _plain(vv) for kk, vv in v.items()} for k, v in per.items()}
    about = {"reference": reference, "gpu_name": run["gpu"], "run": str(run["path"]), "command": run["meta"].get("command"),
             "random_weights": bool(ref["random_weights"].iloc[0]), "latency_sources": LATENCY_SOURCES,
             "extra_peak_mem": "eager peak allocated above the weights, minus the unguided step's"}
    return per, about


def _spread(v: dict) -> str:
    if v["latency_ratio_lo"] is None:
        return "-"
    return f"{fmt(v['latency_ratio_lo'], '.2f')}-{fmt(v['latency_ratio_hi'], '.2f')}"


def write_report(results: str | Path = "results", reports: str | Path = "reports") -> list[Path]:
    results, reports = Path(results), Path(reports)
    if not results.is_dir():
        raise FileNotFoundError(f"--results {results}: no such folder (expected one holding timing/<run>/steps.csv or costmodel/*.csv)")
    runs = load_runs(results)
    cm, cm_commands = load_costmodel(results)
    if not runs and cm is None:  # an empty report would replace the committed one
        raise ValueError(f"--results {results} holds no cost runs (timing/<run>/steps.csv) and no cost model (costmodel/*.csv): nothing to report")
    reports.mkdir(parents=True, exist_ok=True)
    per, about = headline(runs)
    written = []
    random = any(bool(r["steps"]["random_weights"].any()) for r in runs if "random_weights" in r["steps"]) or (
        cm is not None and "weights" in cm and bool((cm["weights"] == "random").any()))
    lines = ["# What classifier guidance costs per sampling step", "", text.INTRO, ""] + ([text.RANDOM_WEIGHTS, ""] if random else [])
    lines += ["## Headline: the reference configuration", ""]
    if per:
        lines += [f"SD 2.1-base architecture, 512 px, fp16, batch 4 (per CFG half), on **{about['gpu_name']}**.",
                  f"Command: `{about['command']}`", "",
                  md_table(["backend", "latency ratio to none", "spread (per-round min-max)", "measured by", "extra peak memory GiB"],
                           [[n, fmt(v["latency_ratio"], ".2f"), _spread(v), v["latency_source"] or "-",
                             fmt(v["extra_peak_mem_gib"], ".2f")] for n, v in per.items()]), "",
                  "Measured by: " + "; ".join(f"*{k}*: {v}" for k, v in LATENCY_SOURCES.items()), ""]
    else:
        lines += [text.NO_GPU, ""]
    for run in runs:
        lines += run_section(run, cm, reports, written)
    scaling = plot_scaling(runs, reports / "cost_scaling.png", REFERENCE)
    lines += ["## Scaling with batch and image size (GPU)", ""]
    if scaling:
        written.append(scaling)
        lines += [f"![scaling]({scaling.name})", "", text.SCALING_NOTE, ""]
    else:
        lines += ["No GPU run with several batch sizes of the reference model yet (scripts/gpu_cost.sh makes one).", ""]
    lines += costmodel_section(cm, cm_commands, runs)
    lines += [text.METHOD, "", text.FORMULATIONS, ""]
    md = reports / "cost.md"
    write_atomic(md, "\n".join(lines).rstrip() + "\n")
    head = reports / "headline.json"
    merge_headline(head, "cost", per, about)
    return [md, head, *written]


def run_section(run: dict, cm: pd.DataFrame | None, reports: Path, written: list) -> list[str]:
    s, meta = run["steps"], run["meta"]
    where = f"**{run['gpu']}**" if run["gpu"] else f"CPU ({s['platform'].iloc[0]}, {int(s['torch_threads'].iloc[0])} torch thread(s))"
    first = s.iloc[0]
    lines = [f"## Run `{run['name']}`: {first['model']} ({'random' if first['random_weights'] else 'pretrained'} weights), "
             f"{first['dtype']}, {where}", "",
             f"Command: `{meta.get('command', first['command'])}`  ",
             f"Code {first['git_commit']}, torch {first['torch_version']}, diffusers {first['diffusers_version']}"
             + (f", CUDA {first.get('cuda_version')}, driver {first.get('driver_version')}" if run["gpu"] else "")
             + f"; results in `{run['path']}`.", ""]
    if not run["gpu"]:
        lines += [text.CPU_NOTE if first["model"].startswith("tiny") else text.CPU_FULL_NOTE, ""]
    for (batch, h, w), g in s.groupby(["batch", "height", "width"], sort=True):
        lines += [f"### batch {batch}, {h}x{w} px", "", config_table(g, flop_ratios(cm, first["model"], h, w, batch)), ""]
        b = run["breakdown"]
        if not b.empty:
            b = b[(b.batch == batch) & (b.height == h)]
        if not b.empty:
            col = "device_ms" if b["device_ms"].notna().any() else "cpu_ms"
            lines += [f"Where the time goes ({'kernel' if col == 'device_ms' else 'host op'} ms per step, profiled eager steps):", "",
                      breakdown_table(b, col), ""]
            rates = flop_rate_table(b, cm, col)
            if rates:
                lines += ["Achieved GFLOP/s (the cost model's FLOPs of each part over its time above; low where the time "
                          "goes to work the FLOP count leaves out: normalisation, elementwise ops, copies, launches):", "",
                          rates, ""]
    tag = run["name"]
    for path in (plot_latency_memory(s, reports / f"cost_{tag}_latency.png", run),
                 plot_breakdown(run["breakdown"], reports / f"cost_{tag}_breakdown.png", run)):
        if path:
            written.append(path)
            lines += [f"![{path.stem}]({path.name})", ""]
    k = run["kernels"]
    if not k.empty:
        top = k[(k.batch == k.batch.max()) & (k.height == k.height.max())]
        lines += [f"Top kernels per backend (batch {top.batch.iloc[0]}, {top.height.iloc[0]} px; all in `{run['path']}/kernels.csv`):", "",
                  kernels_table(top), ""]
    return lines
