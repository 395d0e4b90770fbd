"""results/ -> reports/cost.md, reports/cost_*.png and the cost keys of reports/headline.json.

Reads every cost run under results/timing/<run>/ (steps.csv, breakdown.csv,
kernels.csv, run.json; see bench/cost_run.py) and the cost model's CSVs under
results/costmodel/ when they are there. Every table names the command that
made its figures; headline.json gains, for the reference configuration
(SD 2.1-base architecture, 512 px, fp16, batch 4, on a GPU), per backend
`latency_ratio` and `extra_peak_mem_gib`, merged beside other reports' keys.

    python -m bench report
    python -m bench report --results results --reports reports
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from guidance import BACKENDS

from . import report_text as text
from .breakdown import COMPONENTS
from .headline import merge_headline

REFERENCE = {"model": "sd21-base", "height": 512, "width": 512, "dtype": "fp16", "batch": 4}
ORDER = {name: i for i, name in enumerate(BACKENDS)}
MODES = ("eager", "graph", "compile")
LATENCY_SOURCES = {
    "graph": "CUDA-graph replay: median of per-round step-time ratios (no launch overhead)",
    "busy": "GPU busy time from the profiler, eager (kernel time only; the graph could not be captured)",
    "eager": "eager wall clock between CUDA events (may be launch-bound: read with GPU busy time)",
}


def fmt(x, spec: str = ".3g") -> str:
    """A table cell: "-" for missing; three significant digits without exponents for large values."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if spec == ".3g" and abs(x) >= 1000:
        return f"{x:.0f}"
    return format(x, spec)


def md_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def load_runs(results: Path) -> list[dict]:
    """One dict per run folder: its name, run.json, and its three tables (empty frames where absent)."""
    runs = []
    for folder in sorted(p for p in (results / "timing").glob("*") if (p / "steps.csv").is_file()):
        tables = {k: _read(folder / f"{k}.csv") for k in ("steps", "breakdown", "kernels")}
        meta = json.loads((folder / "run.json").read_text()) if (folder / "run.json").is_file() else {}
        steps = tables["steps"]
        on_gpu = "gpu_name" in steps and steps["device"].astype(str).str.startswith("cuda").any()
        gpu = steps["gpu_name"].dropna().iloc[0] if on_gpu else None
        runs.append({"name": folder.name, "path": folder, "meta": meta, "gpu": gpu, **tables})
    return sorted(runs, key=lambda r: (r["gpu"] is None, r["name"]))  # GPU runs first


def _read(path: Path) -> pd.DataFrame:
    """A CSV, or an empty frame where the file is missing or empty (a run cut off before its first profile)."""
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def load_costmodel(results: Path) -> tuple[pd.DataFrame | None, list[str]]:
    files = sorted((results / "costmodel").glob("**/*.csv"))
    if not files:
        return None, []
    commands = []
    for f in files:
        js = f.with_suffix(".json")
        if js.is_file():
            commands.append(json.loads(js.read_text()).get("command", ""))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True), commands


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(_o=df["backend"].map(ORDER)).sort_values("_o").drop(columns="_o")


def _row(df: pd.DataFrame, **eq) -> pd.Series | None:
    sel = df
    for k, v in eq.items():
        sel = sel[sel[k] == v]
    return None if sel.empty else sel.iloc[-1]


def reference_latency(steps: pd.DataFrame, backend: str) -> tuple[float | None, float | None, float | None, str | None]:
    """(ratio, lo, hi, source) for one backend: graph replay where captured, else GPU busy time, else eager."""
    g = _row(steps, backend=backend, mode="graph")
    if g is not None and pd.notna(g["step_ms_ratio"]):
        return g["step_ms_ratio"], g["step_ms_ratio_lo"], g["step_ms_ratio_hi"], "graph"
    e = _row(steps, backend=backend, mode="eager")
    if e is None:
        return None, None, None, None
    if pd.notna(e.get("gpu_busy_ratio")):
        return e["gpu_busy_ratio"], None, None, "busy"
    if pd.notna(e["step_ms_ratio"]):
        return e["step_ms_ratio"], e["step_ms_ratio_lo"], e["step_ms_ratio_hi"], "eager"
    return None, None, None, None


def run_rank(rows: pd.DataFrame) -> tuple:
    """Which of several runs of one configuration speaks for it: one with graph replay, then the one
    with most backends (a compile-only run of two backends does not), then the latest."""
    return (bool((rows["mode"] == "graph").any() and rows.loc[rows["mode"] == "graph", "step_ms"].notna().any()),
            rows["backend"].nunique(), str(rows["run_id"].max()))


def best_run(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the run (run_id) that `run_rank` prefers."""
    return max((g for _, g in rows.groupby("run_id")), key=run_rank)


def reference_rows(runs: list[dict]) -> tuple[pd.DataFrame | None, dict | None]:
    """The reference configuration's rows from the GPU run that speaks for it, and that run."""
    found = None
    for run in runs:
        s = run["steps"]
        if run["gpu"] is None or s.empty:
            continue
        sel = s[(s.model == REFERENCE["model"]) & (s.height == REFERENCE["height"]) & (s.width == REFERENCE["width"])
                & (s.dtype == REFERENCE["dtype"]) & (s.batch == REFERENCE["batch"])]
        if sel.empty:
            continue
        sel = best_run(sel)
        if found is None or run_rank(sel) > run_rank(found[0]):
            found = (sel, run)
    return found if found else (None, None)


def _plain(v):
    """numpy scalars -> Python floats for JSON; strings and None unchanged."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def headline(runs: list[dict]) -> tuple[dict, dict]:
    ref, run = reference_rows(runs)
    if ref is None:
        return {}, {"status": "no GPU cost run of the reference configuration yet: bash scripts/gpu_cost.sh on a GPU",
                    "reference": REFERENCE}
    per = {}
    for name in _sorted(ref[ref["mode"] == "eager"])["backend"]:
        ratio, lo, hi, source = reference_latency(ref, name)
        e = _row(ref, backend=name, mode="eager")
        per[name] = {"latency_ratio": ratio, "latency_ratio_lo": lo, "latency_ratio_hi": hi, "latency_source": source,
                     "extra_peak_mem_gib": e["extra_peak_mem_gib"] if e is not None and pd.notna(e["extra_peak_mem_gib"]) else None}
    per = {k: {kk: _plain(vv) for kk, vv in v.items()} for k, v in per.items()}
    about = {"reference": REFERENCE, "gpu_name": run["gpu"], "run": str(run["path"]), "command": run["meta"].get("command"),
             "random_weights": bool(ref["random_weights"].iloc[0]), "latency_sources": LATENCY_SOURCES,
             "extra_peak_mem": "eager peak allocated above the weights, minus the unguided step's"}
    return per, about


def costmodel_rows(cm: pd.DataFrame | None, model: str, height: int, width: int, batch: int) -> pd.DataFrame:
    """The cost model's rows for one configuration, one per backend (FLOPs do not depend on dtype or
    device; fused attention, as the runs use); empty where the cost model has none."""
    if cm is None:
        return pd.DataFrame()
    sel = cm[(cm["model"] == model) & (cm["height"] == height) & (cm["width"] == width) & (cm["batch"] == batch)]
    if "attention" in sel:
        sel = sel[sel["attention"] == "fused"]
    return sel.drop_duplicates("backend", keep="last")


def flop_ratios(cm: pd.DataFrame | None, model: str, height: int, width: int, batch: int) -> dict[str, float]:
    """The cost model's FLOP ratio to `none` per backend for one configuration; empty where it has none."""
    return {r.backend: float(r.flops_ratio) for r in costmodel_rows(cm, model, height, width, batch).itertuples()}


def config_table(s: pd.DataFrame, flops: dict[str, float] | None = None) -> str:
    """One row per backend, the modes side by side; a mode no backend could run is one line instead.
    `flops`: the cost model's FLOP ratio per backend, shown beside the measured ratios where given."""
    modes, lines = [], []
    for m in (m for m in MODES if m in set(s["mode"])):
        rows = s[s["mode"] == m]
        if rows["step_ms"].isna().all() and rows["status"].nunique() == 1 and m != "eager":
            lines.append(f"*{m} mode, every backend: {rows['status'].iloc[0]}.*")
        else:
            modes.append(m)
    return "\n\n".join([_modes_table(s, modes, flops or {}), *lines])


def _modes_table(s: pd.DataFrame, modes: list[str], flops: dict[str, float]) -> str:
    on_gpu = s["gpu_busy_ms"].notna().any()
    headers = ["backend"] + [h for m in modes for h in (f"{m} ms (IQR)", f"{m} ratio (lo-hi)")]
    headers += ["FLOP ratio"] if flops else []
    unit, scale = ("GiB", 1) if s["peak_alloc_gib"].max() >= 0.5 else ("MiB", 1024)  # tiny CPU runs: MiB
    headers += (["GPU busy ms", "busy/wall"] if on_gpu else []) + [f"peak {unit}", f"extra {unit}"]
    headers += ([f"reserved {unit}", "NVML GiB"] if on_gpu else []) + ["notes"]
    rows = []
    for name in _sorted(s[s["mode"] == modes[0]])["backend"]:
        cells, notes = [name], []
        for m in modes:
            r = _row(s, backend=name, mode=m)
            if r is None or pd.isna(r["step_ms"]):
                cells += ["-", "-"]
                notes += [f"{m}: {r['status']}"] if r is not None else []
                continue
            cells += [f"{fmt(r['step_ms'])} ({fmt(r['step_ms_iqr'])})",
                      f"{fmt(r['step_ms_ratio'], '.2f')} ({fmt(r['step_ms_ratio_lo'], '.2f')}-{fmt(r['step_ms_ratio_hi'], '.2f')})"]
        if flops:
            cells.append(fmt(flops.get(name), ".2f"))
        e = _row(s, backend=name, mode=modes[0])
        if on_gpu:
            cells += [fmt(e["gpu_busy_ms"]), fmt(e["gpu_busy_frac"], ".2f")]
            if pd.notna(e["gpu_busy_frac"]) and e["gpu_busy_frac"] > 1.05:  # busy time cannot exceed the wall
                notes.append("busy > wall: check the profile")
        cells += [fmt(e["peak_alloc_gib"] * scale, ".3g"), fmt(e["extra_peak_mem_gib"] * scale, ".3g")]
        if on_gpu:
            cells += [fmt(e["peak_reserved_gib"] * scale, ".3g"), fmt(e["nvml_used_gib"], ".3g")]
        rows.append(cells + ["; ".join(notes)])
    return md_table(headers, rows)


def breakdown_table(b: pd.DataFrame, time_col: str) -> str:
    cols = [(c, p) for c in COMPONENTS for p in ("fwd", "bwd") if ((b.component == c) & (b.phase == p)).any()]
    rows = []
    for name in _sorted(b.drop_duplicates("backend"))["backend"]:
        g = b[b.backend == name]
        vals = {(r.component, r.phase): r[time_col] for _, r in g.iterrows()}
        rows.append([name] + [fmt(vals.get(k), ".3g") if k in vals else "" for k in cols] + [fmt(sum(vals.values()), ".3g")])
    return md_table(["backend"] + [f"{c} {p}" for c, p in cols] + ["total"], rows)


def _part(component: str) -> str:
    """A profiled component -> the cost model's part (its unet_down_mid is the profile's down and mid)."""
    return "unet_down_mid" if component in ("unet_down", "unet_mid") else component


def flop_rate_table(b: pd.DataFrame, cm: pd.DataFrame | None, time_col: str) -> str | None:
    """Achieved GFLOP/s per backend and part: the cost model's FLOPs over the profiled time, for the
    configuration of `b` (one batch and size). Low rates mark parts whose time goes to work FLOPs do
    not count (normalisation, elementwise, copies, launches). None where the cost model lacks it."""
    if b.empty:
        return None
    first = b.iloc[0]
    sel = costmodel_rows(cm, first["model"], first["height"], first["width"], first["batch"])
    if sel.empty:
        return None
    ms = b.assign(part=b["component"].map(_part)).groupby(["backend", "part", "phase"])[time_col].sum()
    present = set(ms.index.droplevel("backend"))
    cols = [(q, ph) for q in dict.fromkeys(map(_part, COMPONENTS)) for ph in ("fwd", "bwd")
            if (q, ph) in present and f"{q}_{ph}_flops" in sel]
    rows = []
    for name in _sorted(b.drop_duplicates("backend"))["backend"]:
        c = _row(sel, backend=name)
        if c is None:  # every profiled backend has a breakdown row, so `ms` holds it
            continue
        per = ms.xs(name, level="backend")
        cells = [name]
        for q, ph in cols:
            t, f = per.get((q, ph)), c[f"{q}_{ph}_flops"]
            cells.append(fmt(f / t / 1e6, ".3g") if t and pd.notna(t) and f else "")
        cells.append(fmt(c["total_flops"] / per.sum() / 1e6, ".3g"))
        rows.append(cells)
    return md_table(["backend"] + [f"{q} {ph}" for q, ph in cols] + ["whole step"], rows) if rows else None


def kernels_table(k: pd.DataFrame, n: int = 5) -> str:
    rows = []
    for name in _sorted(k.drop_duplicates("backend"))["backend"]:
        for _, r in k[k.backend == name].sort_values("rank").head(n).iterrows():
            kernel = str(r.kernel)
            rows.append([name, f"`{kernel[:70]}{'...' if len(kernel) > 70 else ''}`", f"{r.component} {r.phase}",
                         fmt(r.calls_per_step, ".3g"), fmt(r.kernel_ms, ".3g"), fmt(100 * r.share, ".1f")])
    return md_table(["backend", "kernel", "where", "calls/step", "ms/step", "% of step"], rows)


def costmodel_section(cm: pd.DataFrame | None, commands: list[str], runs: list[dict]) -> list[str]:
    out = ["## Cost model: FLOPs and bytes saved for backward (exact, CPU)", ""]
    if cm is None:
        return out + ["No cost-model results under results/costmodel/ yet (made by `python -m bench costmodel ...`); "
                      "this section fills in when they are there.", ""]
    out += [f"Command: `{c}`" for c in commands] + ["", text.COSTMODEL_NOTE, ""]
    cm = cm[cm["attention"] == "fused"] if "attention" in cm else cm
    ref, _ = reference_rows(runs)
    for (model, h, dtype), g in cm.groupby(["model", "height", "dtype"], sort=True):
        batches = sorted(g["batch"].unique())
        is_ref = (model, h, dtype) == (REFERENCE["model"], REFERENCE["height"], REFERENCE["dtype"])
        headers = ["backend"] + [f"batch {b}" for b in batches] + (["measured, batch 4 (GPU)"] if is_ref and ref is not None else [])
        rows = []
        for name in _sorted(g.drop_duplicates("backend"))["backend"]:
            cells = [name]
            for b in batches:
                r = _row(g, backend=name, batch=b)
                cells.append("-" if r is None else f"{fmt(r.flops_ratio, '.3f')} / {fmt(r.saved_gib, '.3g')}")
            if is_ref and ref is not None:
                cells.append(fmt(reference_latency(ref, name)[0], ".2f"))
            rows.append(cells)
        out += [f"**{model}, {h} px, {dtype}** (cells: FLOP ratio to none / GiB saved for backward)", "", md_table(headers, rows), ""]
    return out


def _spread(v: dict) -> str:
    if v["latency_ratio_lo"] is None:
        return "-"
    return f"{fmt(v['latency_ratio_lo'], '.2f')}-{fmt(v['latency_ratio_hi'], '.2f')}"


def write_report(results: str | Path = "results", reports: str | Path = "reports") -> list[Path]:
    from .report_plots import plot_breakdown, plot_latency_memory, plot_scaling

    results, reports = Path(results), Path(reports)
    reports.mkdir(parents=True, exist_ok=True)
    runs = load_runs(results)
    cm, cm_commands = load_costmodel(results)
    per, about = headline(runs)
    written = []
    lines = ["# What classifier guidance costs per sampling step", "", text.INTRO, "", text.RANDOM_WEIGHTS, ""]
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
        lines += run_section(run, cm, reports, written, plot_latency_memory, plot_breakdown)
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
    md.write_text("\n".join(lines).rstrip() + "\n")
    head = reports / "headline.json"
    merge_headline(head, "cost", per, about)
    return [md, head, *written]


def run_section(run: dict, cm: pd.DataFrame | None, reports: Path, written: list, plot_latency_memory,
                plot_breakdown) -> list[str]:
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
