"""`python -m bench report` on synthetic results: headline choice and merge, tables, plots, cost model."""
import json

import pytest

from bench.cost.run import write_csv
from bench.report.cost import LATENCY_SOURCES, headline, load_runs, write_report

GPU = "NVIDIA H100 80GB HBM3"
BACKENDS = ("none", "midu", "midu-hook", "pixel", "pixel-x0")


def steps_rows(run_id, batches=(1, 4), midu_graph_ratio=1.35, gpu=GPU, device="cuda", model="sd21-base"):
    rows = []
    for batch in batches:
        for name in BACKENDS:
            k = BACKENDS.index(name)
            for mode in ("eager", "graph"):
                base = 25.0 * batch ** 0.7 * (1.8 if mode == "eager" else 1.0)
                ratio = {"none": 1.0, "midu": midu_graph_ratio, "midu-hook": 1.47, "pixel": 11.0, "pixel-x0": 9.9}[name]
                ok = not (mode == "graph" and name in ("pixel", "pixel-x0"))  # as if the big graphs did not fit
                rows.append({
                    "run_id": run_id, "command": f"python -m bench cost-run --out results/timing/{run_id}", "model": model,
                    "weights": "random", "dtype": "fp16", "device": device, "batch": batch, "height": 512, "width": 512,
                    "backend": name, "mode": mode, "status": "ok" if ok else "failed: out of memory capturing",
                    "step_ms": base * ratio if ok else None, "step_ms_iqr": 0.1 if ok else None,
                    "step_ms_ratio": ratio if ok else None, "step_ms_ratio_lo": ratio * 0.99 if ok else None,
                    "step_ms_ratio_hi": ratio * 1.01 if ok else None,
                    "gpu_busy_ms": 20.0 * ratio * batch if mode == "eager" and name != "pixel-x0" else None,
                    "gpu_busy_frac": 0.6 if mode == "eager" else None,
                    "gpu_busy_ratio": ratio * 1.02 if mode == "eager" and name != "pixel-x0" else None,
                    "peak_alloc_gib": 0.5 * batch + k, "extra_peak_mem_gib": float(k), "peak_reserved_gib": 0.6 * batch + k,
                    "nvml_used_gib": 10.0, "random_weights": True, "gpu_name": gpu, "platform": "Linux", "torch_threads": 16,
                    "git_commit": "abc", "torch_version": "2.11.0", "diffusers_version": "0.42.1", "cuda_version": "13.0",
                    "driver_version": "580.159.04",
                })
    return rows


def make_results(root, gpu=True, costmodel=True):
    runs = {"h100-old": steps_rows("20260101-000000", midu_graph_ratio=1.9),
            "h100-sd21": steps_rows("20260102-000000", batches=(1, 2, 4))} if gpu else {}
    for name, rows in runs.items():
        (root / "timing" / name).mkdir(parents=True)
        write_csv(root / "timing" / name / "steps.csv", rows)
        (root / "timing" / name / "run.json").write_text(json.dumps({"command": rows[0]["command"]}))
        write_csv(root / "timing" / name / "breakdown.csv", [
            {"run_id": rows[0]["run_id"], "model": "sd21-base", "dtype": "fp16", "device": "cuda", "batch": 4, "height": 512,
             "width": 512, "backend": b, "mode": "eager", "component": c, "phase": p, "cpu_ms": 1.0, "device_ms": ms, "share": 0.5}
            for b, c, p, ms in (("none", "unet_up", "fwd", 15.0), ("midu", "unet_up", "fwd", 15.0), ("midu", "unet_down", "bwd", 6.0))])
        write_csv(root / "timing" / name / "kernels.csv", [
            {"run_id": rows[0]["run_id"], "model": "sd21-base", "dtype": "fp16", "device": "cuda", "batch": 4, "height": 512,
             "width": 512, "backend": "midu", "mode": "eager", "rank": 1, "kernel": "sm90_xmma_fprop_implicit_gemm_f16f16",
             "component": "unet_down", "phase": "bwd", "calls_per_step": 12, "kernel_ms": 3.0, "share": 0.1}])
    cpu = steps_rows("20260103-000000", batches=(1,), gpu=None, device="cpu", model="tiny")
    (root / "timing" / "cpu-tiny").mkdir(parents=True)
    write_csv(root / "timing" / "cpu-tiny" / "steps.csv", cpu)
    if costmodel:
        (root / "costmodel").mkdir()
        write_csv(root / "costmodel" / "costmodel.csv", [
            {"model": "sd21-base", "backend": b, "batch": 4, "height": 512, "width": 512, "dtype": "fp16", "attention": "fused",
             "fwd_flops": 6.4e12, "bwd_flops": bwd, "total_flops": 6.4e12 + bwd, "flops_ratio": 1 + bwd / 6.4e12, "saved_gib": 1.0}
            for b, bwd in (("none", 0.0), ("midu", 1.34e12))])
        (root / "costmodel" / "costmodel.json").write_text(json.dumps({"command": "python -m bench costmodel --out results/costmodel"}))


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """One report over synthetic GPU and CPU runs and a cost model, onto an existing headline.json."""
    root = tmp_path_factory.mktemp("full")
    make_results(root / "results")
    reports = root / "reports"
    reports.mkdir()
    (reports / "headline.json").write_text(json.dumps(
        {"backends": {"midu": {"gt_uplift": 1.1, "latency_ratio": 99.0}}, "sources": {"toyworld": {"report": "toy.md"}}}))
    return reports, write_report(root / "results", reports)


def test_headline_takes_graph_replay_then_busy_time_and_merges(full_report):
    reports, _ = full_report
    head = json.loads((reports / "headline.json").read_text())
    midu = head["backends"]["midu"]
    assert midu["gt_uplift"] == 1.1 and head["sources"]["toyworld"] == {"report": "toy.md"}  # other reports' keys stay
    assert midu["latency_ratio"] == pytest.approx(1.35) and midu["latency_source"] == "graph"  # newest run, graph replay
    assert midu["extra_peak_mem_gib"] == 1.0
    assert head["backends"]["pixel"]["latency_source"] == "busy" and head["backends"]["pixel"]["latency_ratio"] == pytest.approx(11.22)
    assert head["backends"]["pixel-x0"]["latency_source"] == "eager"
    about = head["sources"]["cost"]
    assert about["gpu_name"] == GPU and about["random_weights"] and about["latency_sources"] == LATENCY_SOURCES
    assert about["reference"] == {"model": "sd21-base", "height": 512, "width": 512, "dtype": "fp16", "batch": 4}


def test_cost_md_names_gpu_commands_and_draws_plots(full_report):
    reports, written = full_report
    md = (reports / "cost.md").read_text()
    assert f"on **{GPU}**" in md and "Weights are random" in md
    assert "Command: `python -m bench cost-run --out results/timing/20260102-000000`" in md
    assert "python -m bench costmodel --out results/costmodel" in md and "| midu | 1.209 / 1 | 1.35 |" in md
    assert "failed: out of memory capturing" in md and "sm90_xmma_fprop_implicit_gemm_f16f16" in md
    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.name for p in pngs} >= {"cost_scaling.png", "cost_h100-sd21_latency.png", "cost_h100-sd21_breakdown.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_without_gpu_or_cost_model_the_report_says_so(tmp_path):
    make_results(tmp_path / "results", gpu=False, costmodel=False)
    write_report(tmp_path / "results", tmp_path / "reports")
    md = (tmp_path / "reports" / "cost.md").read_text()
    assert "No GPU figures yet" in md and "scripts/gpu_cost.sh" in md and "No cost-model results" in md
    head = json.loads((tmp_path / "reports" / "headline.json").read_text())
    assert head["backends"] == {} and "no GPU cost run" in head["sources"]["cost"]["status"]


def test_a_later_partial_run_does_not_displace_the_full_one(tmp_path):
    """The compile phase re-measures the reference configuration for two backends only, later."""
    root = tmp_path / "results"
    make_results(root)
    partial = [r for r in steps_rows("20260109-000000", batches=(4,), midu_graph_ratio=1.2) if r["backend"] in ("none", "midu")]
    for r in partial:
        r["mode"] = "compile" if r["mode"] == "graph" else r["mode"]
    (root / "timing" / "h100-compile").mkdir()
    write_csv(root / "timing" / "h100-compile" / "steps.csv", partial)
    per, about = headline(load_runs(root))
    assert set(per) == set(BACKENDS) and per["midu"]["latency_ratio"] == pytest.approx(1.35)
    assert about["run"].endswith("h100-sd21")


def test_run_tables_show_the_cost_models_flop_ratio_beside_the_measured_one(full_report):
    reports, _ = full_report
    md = (reports / "cost.md").read_text()
    section = md.split("## Run `h100-sd21`")[1].split("## Run")[0]
    batch4 = section.split("### batch 4, 512x512 px")[1].split("###")[0]
    header = next(line for line in batch4.splitlines() if line.startswith("| backend"))
    assert "FLOP ratio" in header.split("|")[6]  # after eager and graph ms and ratio
    midu = next(line for line in batch4.splitlines() if line.startswith("| midu |")).split(" | ")
    assert midu[5] == "1.21"
    assert "| none |" in batch4 and next(line for line in batch4.splitlines() if line.startswith("| pixel |")).split(" | ")[5] == "-"
    batch1 = section.split("### batch 1, 512x512 px")[1].split("###")[0]
    assert "FLOP ratio" not in batch1  # the cost model has no batch-1 rows here


def test_cpu_runs_are_described_by_their_scale(tmp_path):
    root = tmp_path / "results"
    make_results(root, gpu=False, costmodel=False)
    full = steps_rows("20260104-000000", batches=(1,), gpu=None, device="cpu", model="sd21-base")
    (root / "timing" / "cpu-sd21-base-fp32").mkdir(parents=True)
    write_csv(root / "timing" / "cpu-sd21-base-fp32" / "steps.csv", full)
    write_report(root, tmp_path / "reports")
    md = (tmp_path / "reports" / "cost.md").read_text()
    full_section = md.split("## Run `cpu-sd21-base-fp32`")[1].split("## Run")[0]
    tiny_section = md.split("## Run `cpu-tiny`")[1].split("## ")[0]
    assert "*CPU, full architecture:*" in full_section and "tiny preset" not in full_section
    assert "*CPU, tiny preset" in tiny_section


def test_flop_rate_is_cost_model_flops_over_profiled_time_per_part():
    import pandas as pd

    from bench.report.cost import flop_rate_table

    cfg = dict(model="sd21-base", height=512, width=512, batch=1)
    cm = pd.DataFrame([{**cfg, "backend": "midu", "attention": "fused", "total_flops": 6e12,
                        "unet_down_mid_fwd_flops": 2e12, "unet_down_mid_bwd_flops": 1e12, "unet_up_fwd_flops": 3e12,
                        "head_fwd_flops": 0, "head_bwd_flops": 0},
                       {**cfg, "backend": "midu", "attention": "math", "total_flops": 9e12,
                        "unet_down_mid_fwd_flops": 9e12, "unet_down_mid_bwd_flops": 9e12, "unet_up_fwd_flops": 9e12,
                        "head_fwd_flops": 0, "head_bwd_flops": 0}])
    b = pd.DataFrame([{**cfg, "backend": "midu", "component": c, "phase": ph, "cpu_ms": ms}
                      for c, ph, ms in (("unet_down", "fwd", 15000), ("unet_mid", "fwd", 5000), ("unet_down", "bwd", 10000),
                                        ("unet_up", "fwd", 30000), ("head", "fwd", 5))])
    table = flop_rate_table(b, cm, "cpu_ms")
    lines = table.splitlines()
    assert lines[0] == "| backend | unet_down_mid fwd | unet_down_mid bwd | unet_up fwd | head fwd | whole step |"
    # down+mid: 2e12 FLOPs over 20 s = 100 GFLOP/s (fused-attention row, not the math one); the head counts no FLOPs
    assert lines[2] == "| midu | 100 | 100 | 100 |  | 100 |"
    assert flop_rate_table(b.assign(batch=4), cm, "cpu_ms") is None  # no cost-model row for that configuration
