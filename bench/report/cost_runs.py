"""The cost report's inputs: the timing runs under results/timing, the cost model's rows, and which run speaks for a configuration."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from guidance import BACKENDS

REFERENCE = {"model": "sd21-base", "height": 512, "width": 512, "dtype": "fp16", "batch": 4}


ORDER = {name: i for i, name in enumerate(BACKENDS)}


MODES = ("eager", "graph", "compile")


LATENCY_SOURCES = {
    "graph": "CUDA-graph replay: median of per-round step-time ratios (no launch overhead)",
    "busy": "GPU busy time from the profiler, eager (kernel time only; the graph could not be captured)",
    "eager": "eager wall clock between CUDA events (may be launch-bound: read with GPU busy time)",
}


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
    return df.assign(_o=df["backend"].map(ORDER)).sort_values("_o", kind="stable").drop(columns="_o")  # users' own backends last


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


def reference_rows(runs: list[dict], reference: dict = REFERENCE, gpu_only: bool = True) -> tuple[pd.DataFrame | None, dict | None]:
    """The reference configuration's rows from the GPU run that speaks for it, and that run.

    `reference` and `gpu_only=False` let the GPU script's CPU rehearsal check that its first phases
    make a complete headline at tiny scale; reports always use the defaults."""
    found = None
    for run in runs:
        s = run["steps"]
        if (gpu_only and run["gpu"] is None) or s.empty:
            continue
        sel = s[(s.model == reference["model"]) & (s.height == reference["height"]) & (s.width == reference["width"])
                & (s.dtype == reference["dtype"]) & (s.batch == reference["batch"])]
        if sel.empty:
            continue
        sel = best_run(sel)
        if found is None or run_rank(sel) > run_rank(found[0]):
            found = (sel, run)
    return found if found else (None, None)


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
