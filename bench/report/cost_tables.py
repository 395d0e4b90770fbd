"""The cost report's markdown tables: modes side by side, breakdowns, achieved FLOP rates, top kernels, the cost model."""
from __future__ import annotations

import math

import pandas as pd

from bench.cost.breakdown import COMPONENTS
from bench.report import cost_text as text
from bench.report.cost_runs import MODES, REFERENCE, _row, _sorted, costmodel_rows, reference_latency, reference_rows


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
