"""The cost harness on the tiny preset on CPU: rows, ratios, memory, modes, the CLI.

The GPU-only paths (CUDA events, graph capture, allocator and NVML memory)
run at tiny scale in the gpu-marked test at the end, skipped without a GPU.
"""
import csv
import json

import pytest
import torch

from bench.cli import main
from bench.cost.memory import measure_peak, nvml_used_gib, running_peak
from bench.cost.run import CostRunConfig, outputs_finite, run
from bench.cost.step_modes import Prepared, prepare


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "timing" / "cpu-tiny"
    cfg = CostRunConfig(model="tiny", warmup=0, rounds=2, steps=1, profile_steps=1, threads=None)
    run(cfg, [1, 2], [None], ["midu", "midu-hook"], ["eager", "graph"], out, "python -m bench cost-run ...", log=lambda s: None)
    with (out / "steps.csv").open() as f:
        return out, list(csv.DictReader(f))


def test_rows_hold_config_ratios_and_memory(tiny_run):
    out, rows = tiny_run
    assert {(r["backend"], r["mode"], r["batch"]) for r in rows} == {
        (b, m, n) for b in ("none", "midu", "midu-hook") for m in ("eager", "graph") for n in ("1", "2")}
    for r in rows:  # the full configuration, provenance and the command in every row
        assert r["model"] == "tiny" and r["dtype"] == "fp32" and r["height"] == "32" and r["random_weights"] == "True"
        assert r["command"] == "python -m bench cost-run ..." and r["git_commit"] and r["torch_version"]
    eager = {(r["backend"], r["batch"]): r for r in rows if r["mode"] == "eager"}
    ref = eager[("none", "2")]
    assert float(ref["step_ms_ratio"]) == 1.0 and float(ref["extra_peak_mem_gib"]) == 0.0
    hook, midu = eager[("midu-hook", "2")], eager[("midu", "2")]
    assert float(hook["step_ms"]) > 0 and float(hook["step_ms_ratio_lo"]) <= float(hook["step_ms_ratio"]) <= float(hook["step_ms_ratio_hi"])
    # the naive hook keeps the up path's activations: more memory than the split forward, by construction
    assert float(hook["peak_alloc_gib"]) > float(midu["peak_alloc_gib"]) > 0
    assert hook["mem_source"] == "cpu_profiler" and hook["outputs_finite"] == "True" and hook["clock"] == "perf_counter"
    assert hook["gpu_busy_ms"] == "" and float(hook["profiled_cpu_ms"]) > 0


def test_graph_mode_is_skipped_on_cpu_with_its_reason(tiny_run):
    _, rows = tiny_run
    graph = [r for r in rows if r["mode"] == "graph"]
    assert graph and all(r["status"] == "skipped: CUDA graphs need a CUDA device" and r["step_ms"] == "" for r in graph)


def test_breakdown_kernels_and_run_json(tiny_run):
    out, _ = tiny_run
    with (out / "breakdown.csv").open() as f:
        parts = {(r["backend"], r["component"], r["phase"]) for r in csv.DictReader(f)}
    assert ("midu", "unet_down", "bwd") in parts and ("midu", "unet_up", "bwd") not in parts
    with (out / "kernels.csv").open() as f:
        kernels = list(csv.DictReader(f))
    assert {k["backend"] for k in kernels} == {"none", "midu", "midu-hook"} and kernels[0]["rank"] == "1"
    meta = json.loads((out / "run.json").read_text())
    assert meta["random_weights"] and "random weights" in meta["note"] and len(meta["configs_done"]) == 2


def test_report_reads_a_real_run(tiny_run, tmp_path):
    from bench.report.cost import write_report

    out, _ = tiny_run
    results = out.parent.parent
    written = write_report(results, tmp_path / "reports")
    md = (tmp_path / "reports" / "cost.md").read_text()
    assert "Run `cpu-tiny`" in md and "python -m bench cost-run ..." in md and "skipped: CUDA graphs need a CUDA device" in md
    assert all(p.exists() for p in written)


def test_compile_mode_runs_or_says_why():
    x = torch.randn(8)
    ok = prepare("compile", lambda: (x * 2).sum(), torch.device("cpu"), "eager")
    assert ok.status == "ok (torch.compile backend=eager)" and float(ok.fn()) == pytest.approx(float((x * 2).sum()))

    def broken(gm, inputs):
        raise RuntimeError("no compiler here")

    bad = prepare("compile", lambda: (x + 1).sum(), torch.device("cpu"), broken)
    assert bad.fn is None and bad.status.startswith("failed: torch.compile:") and "no compiler here" in bad.status
    torch._dynamo.reset()  # leave no compiled code behind for other tests


def test_graph_mode_on_cpu_is_skipped_not_failed():
    p = prepare("graph", lambda: None, torch.device("cpu"))
    assert p == Prepared(None, "skipped: CUDA graphs need a CUDA device")


def test_cpu_peak_memory_counts_what_the_step_allocates():
    def step():
        a = torch.empty(1 << 20)  # 4 MiB, freed before the next one: the peak is one of them
        del a
        return torch.empty(1 << 20)

    m = measure_peak(step, "cpu")
    assert m.peak_alloc_gib * 2**30 == pytest.approx(4 * 2**20, rel=0.01)
    assert m.peak_reserved_gib is None and m.nvml_used_gib is None and nvml_used_gib(torch.device("cpu")) is None
    assert running_peak([5, -5, 3, 4, -7]) == 7 and running_peak([-1]) == 0


def test_outputs_finite():
    from guidance import StepOut

    x = torch.ones(2)
    assert outputs_finite(StepOut(x, x, x, x)) and not outputs_finite(StepOut(x, x, torch.tensor([1.0, float("nan")])))


@pytest.mark.parametrize("args, message", [
    (["--backends", "mid-u"], "unknown backend 'mid-u'"),
    (["--modes", "warp"], "unknown mode 'warp'; valid: eager, graph, compile"),
    (["--dtype", "fp8"], "unknown dtype 'fp8'"),
    (["--rounds", "0"], "rounds=0: expected an integer >= 1"),
    (["--model-config", "sd3"], "unknown model preset 'sd3'"),
])
def test_cli_bad_input_one_line(args, message, tmp_path, capsys):
    assert main(["cost-run", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_cli_command_is_reproducible():
    import argparse

    from bench.commands.cost_run import add_parser, command_of

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    for extra in ([], ["--variant", "fp16", "--model-config", "tiny-sd21"]):
        a = parser.parse_args(["cost-run", "--model", "tiny", *extra, "--batch", "1", "4", "--modes", "eager", "graph", "--threads", "1",
                               "--out", "x y"])
        again = parser.parse_args(__import__("shlex").split(command_of(a))[3:])
        assert vars(again) == vars(a)


def test_users_checkpoints_by_variant_and_model_config(tmp_path, capsys):
    """A folder holding only fp16-variant files read with --variant, a single file read as the named preset; a variant
    the folder lacks is refused in one line."""
    from sdmodels import load_models, save_models, save_single_file

    save_models(load_models("tiny", "random", dtype=torch.float16, seed=0), tmp_path / "folder", variant="fp16")
    save_single_file(load_models("tiny-sd21", "random", seed=0), tmp_path / "one.safetensors")
    fast = ["--weights", "pretrained", "--backends", "none", "--warmup", "0", "--rounds", "1", "--steps", "1", "--profile-steps", "0"]
    for source, extra in ((tmp_path / "folder", ["--variant", "fp16"]), (tmp_path / "one.safetensors", ["--model-config", "tiny-sd21"])):
        out = tmp_path / source.stem
        assert main(["cost-run", "--model", str(source), *extra, *fast, "--out", str(out)]) == 0
        with (out / "steps.csv").open() as f:
            row = next(csv.DictReader(f))
        assert row["status"] == "ok" and " ".join(extra) in row["command"]
        assert (row["variant"], row["model_config"]) == (("fp16", "") if extra[0] == "--variant" else ("", "tiny-sd21"))
    capsys.readouterr()
    assert main(["cost-run", "--model", str(tmp_path / "folder"), "--variant", "bf16", *fast, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "bf16" in err, err


@pytest.mark.gpu
def test_graph_replay_matches_eager_on_cuda(tmp_path):
    """CUDA events, capture, replay and allocator memory at tiny scale (runs where a GPU is)."""
    cfg = CostRunConfig(model="tiny", device="cuda", warmup=1, rounds=2, steps=2, profile_steps=1)
    out = run(cfg, [2], [None], ["midu", "midu-overlap", "pixel"], ["eager", "graph"], tmp_path, "test", log=lambda s: None)
    with (out / "steps.csv").open() as f:
        rows = {(r["backend"], r["mode"]): r for r in csv.DictReader(f)}
    for b in ("none", "midu", "midu-overlap", "pixel"):
        assert rows[(b, "eager")]["clock"] == "cuda_events" and float(rows[(b, "eager")]["gpu_busy_ms"]) > 0
        assert rows[(b, "eager")]["mem_source"] == "cuda_allocator" and rows[(b, "eager")]["nvml_used_gib"] != ""
        assert rows[(b, "graph")]["status"] == "ok", rows[(b, "graph")]["status"]
