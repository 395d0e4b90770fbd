"""The gate: passes identical and improved results, fails naming backend, configuration and figure."""
import csv
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.gate import compare, read_results

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "results" / "costmodel"

TIMING = [  # rows as the timing harness writes them: ratios to `none` from the same run
    {"model": "sd21-base", "backend": "none", "batch": 4, "height": 512, "width": 512, "dtype": "fp16", "mode": "graph",
     "step_ms": 25.7, "step_ms_ratio": 1.0, "extra_peak_mem_gib": 0.5},
    {"model": "sd21-base", "backend": "midu", "batch": 4, "height": 512, "width": 512, "dtype": "fp16", "mode": "graph",
     "step_ms": 35.7, "step_ms_ratio": 1.39, "extra_peak_mem_gib": 1.1},
    {"model": "sd21-base", "backend": "latent", "batch": 4, "height": 512, "width": 512, "dtype": "fp16", "mode": "graph",
     "step_ms": 26.0, "step_ms_ratio": 1.01, "extra_peak_mem_gib": 0.0},
]
COST = [
    {"model": "tiny", "backend": "none", "batch": 1, "height": 32, "width": 32, "dtype": "fp16", "attention": "fused",
     "total_flops": 398073856, "bwd_flops": 0, "saved_bytes": 0, "flops_ratio": 1.0},
    {"model": "tiny", "backend": "midu", "batch": 1, "height": 32, "width": 32, "dtype": "fp16", "attention": "fused",
     "total_flops": 546279552, "bwd_flops": 148205696, "saved_bytes": 1101956, "flops_ratio": 1.372303},
]


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    return path


def changed(rows: list[dict], backend: str, **figures) -> list[dict]:
    return [{**r, **figures} if r["backend"] == backend else dict(r) for r in rows]


def gate(tmp_path, base, cur, *extra, capsys=None):
    b = write_csv(tmp_path / "base" / "rows.csv", base)
    c = write_csv(tmp_path / "cur" / "rows.csv", cur)
    return main(["gate", "--baseline", str(b.parent), "--current", str(c), *extra])


def test_identical_results_pass(tmp_path, capsys):
    assert gate(tmp_path, COST + TIMING, COST + TIMING) == 0
    assert "gate PASS: 5 rows, 12 figures compared" in capsys.readouterr().out


def test_timing_regression_names_backend_configuration_and_figure(tmp_path, capsys):
    assert gate(tmp_path, TIMING, changed(TIMING, "midu", step_ms_ratio=1.52)) == 1
    out = capsys.readouterr().out
    assert "REGRESSION midu sd21-base b4 512px fp16 graph: step_ms_ratio 1.52 > baseline 1.39 +5%" in out
    assert "gate FAIL" in out


def test_exact_figure_regression_fails_on_one_flop(tmp_path, capsys):
    assert gate(tmp_path, COST, changed(COST, "midu", total_flops=546279553)) == 1
    assert "REGRESSION midu tiny b1 32px fp16 fused: total_flops 546279553 > baseline 546279552 (exact)" in capsys.readouterr().out


def test_within_tolerance_passes_and_improvement_is_reported(tmp_path, capsys):
    assert gate(tmp_path, TIMING, changed(TIMING, "midu", step_ms_ratio=1.44)) == 0  # +3.6%: inside the tolerance
    capsys.readouterr()
    cur = changed(changed(TIMING, "midu", step_ms_ratio=1.2, extra_peak_mem_gib=0.6), "latent", extra_peak_mem_gib=0.04)
    assert gate(tmp_path, TIMING, cur) == 0
    out = capsys.readouterr().out
    assert "IMPROVED midu sd21-base b4 512px fp16 graph: step_ms_ratio 1.2 vs baseline 1.39" in out
    assert "IMPROVED midu sd21-base b4 512px fp16 graph: extra_peak_mem_gib 0.6 vs baseline 1.1" in out
    assert "latent" not in out  # +0.04 GiB over a zero baseline is inside the 0.05 GiB floor
    assert "2 improvements" in out


def test_memory_near_zero_gets_an_absolute_floor(tmp_path, capsys):
    assert gate(tmp_path, TIMING, changed(TIMING, "latent", extra_peak_mem_gib=0.2)) == 1
    assert "REGRESSION latent sd21-base b4 512px fp16 graph: extra_peak_mem_gib 0.2 > baseline 0 +5%, at least 0.05" in capsys.readouterr().out


def test_missing_row_or_figure_fails_unless_subset(tmp_path, capsys):
    assert gate(tmp_path, COST + TIMING, COST) == 1
    assert "MISSING midu sd21-base b4 512px fp16 graph: in the baseline, not in the current results" in capsys.readouterr().out
    assert gate(tmp_path, COST + TIMING, COST, "--subset") == 0
    assert "3 baseline rows not recomputed" in capsys.readouterr().out
    no_mem = [{k: v for k, v in r.items() if k != "extra_peak_mem_gib"} for r in TIMING]
    assert gate(tmp_path, TIMING, no_mem) == 1
    assert "MISSING midu sd21-base b4 512px fp16 graph: extra_peak_mem_gib (baseline 1.1) absent" in capsys.readouterr().out


def test_jsonl_rows_and_oom_status(tmp_path, capsys):
    base = tmp_path / "base.jsonl"
    base.write_text("".join(json.dumps({**r, "status": "ok", "provenance": {"gpu_name": "H100"}}) + "\n" for r in TIMING))
    cur = tmp_path / "cur.jsonl"
    rows = [{**r, "status": "ok"} for r in TIMING[:2]] + [{**TIMING[2], "status": "oom", "step_ms_ratio": None}]
    cur.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["gate", "--baseline", str(base), "--current", str(cur)]) == 1
    assert "REGRESSION latent sd21-base b4 512px fp16 graph: status oom (baseline ok)" in capsys.readouterr().out


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nowhere", "results not found"),
    (lambda d: (d / "x.csv").write_bytes(b"\xff\xfe\x00garbage") and d / "x.csv", "not a text CSV file"),
    (lambda d: (d / "x.txt").write_text("a,b\n") and d / "x.txt", "expected a .csv, .jsonl or pytest-benchmark .json results file"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no result rows"),
])
def test_unreadable_input_is_one_clear_line(tmp_path, capsys, make, message):
    good = write_csv(tmp_path / "good.csv", COST)
    assert main(["gate", "--baseline", str(make(tmp_path)), "--current", str(good)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def benchmark_json(path: Path, rows: list[dict], seconds: float) -> Path:
    """A pytest-benchmark output file whose cases carry `rows` as extra_info, every median `seconds`."""
    cases = [{"name": f"test_guided_step[{r['backend']}-{r['batch']}]", "extra_info": {**r, "breakdown_ms": {"unet fwd": 1.0}},
              "stats": {"median": seconds, "mean": seconds}} for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine_info": {"node": "ci"}, "commit_info": {"id": "abc"}, "benchmarks": cases}))
    return path


def test_pytest_benchmark_json_is_gated_on_ratios_never_absolute_times(tmp_path, capsys):
    timing = [{k: v for k, v in r.items() if k not in ("step_ms", "mode")} for r in TIMING]
    base = benchmark_json(tmp_path / "base" / "0001_h100.json", timing, 0.025)
    (tmp_path / "base" / "meta.json").write_text(json.dumps({"command": "not rows"}))  # other JSON in a folder: skipped
    slower_machine = benchmark_json(tmp_path / "cur.json", timing, 0.25)
    assert main(["gate", "--baseline", str(base.parent), "--current", str(slower_machine)]) == 0
    assert "gate PASS: 3 rows, 6 figures compared" in capsys.readouterr().out
    worse = benchmark_json(tmp_path / "worse.json", changed(timing, "midu", step_ms_ratio=1.52), 0.025)
    assert main(["gate", "--baseline", str(base), "--current", str(worse)]) == 1
    assert "REGRESSION midu sd21-base b4 512px fp16: step_ms_ratio 1.52 > baseline 1.39 +5%" in capsys.readouterr().out
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"rows": []}))
    assert main(["gate", "--baseline", str(other), "--current", str(worse)]) == 2
    assert "not pytest-benchmark output" in capsys.readouterr().err


def test_disagreeing_duplicate_rows_are_refused():
    with pytest.raises(ValueError, match="two rows for midu tiny b1 32px fp16 fused disagree on total_flops"):
        compare(COST + changed(COST, "midu", total_flops=1), COST)


@pytest.mark.slow
def test_ci_recomputed_cost_model_matches_the_committed_one(tmp_path, capsys):
    """CI runs the cost-model gate: sd21-base at 512 px, batch 1, every backend, recomputed on meta."""
    committed = [r for r in read_results(COMMITTED) if (r["model"], r["batch"], r["height"], r["dtype"], r["attention"])
                 == ("sd21-base", 1, 512, "fp16", "fused")]
    assert committed, "results/costmodel lacks sd21-base 512 px batch 1: regenerate it with the command in costmodel.json"
    out = tmp_path / "ci"
    assert main(["costmodel", "--models", "sd21-base", "--batches", "1", "--sizes", "512", "--out", str(out)]) == 0
    capsys.readouterr()
    code = main(["gate", "--baseline", str(COMMITTED), "--current", str(out), "--subset"])
    report = capsys.readouterr().out
    assert code == 0, report
    # every committed backend compared (a backend added since shows as NEW until the results are regenerated)
    assert f"gate PASS: {len(committed)} rows, {3 * len(committed)} figures compared" in report
